"""Pure loss functions of tensors: no state, no devices, no I/O.

Normalisation (so that one set of weights works at every image size and for every
weight source):

* ``gram`` divides by the number of positions ``H * W``: a Gram matrix is then an average
  of feature outer products, the same for a picture and for its enlargement.
* ``content_loss`` and ``style_loss`` are *relative* squared errors,
  ``||x - t||^2 / ||t||^2``: dimensionless, 1.0 for an all-zero guess, independent of
  the number of channels, of the layer's activation scale (Caffe's 0-255 input gives
  activations ~100x those of torchvision's) and of the image size. This departs from
  Gatys et al., whose ``1 / (4 N^2 M^2)`` factor leaves layers orders of magnitude apart
  and made their weights specific to one size and one network.
* ``tv_loss`` is the mean squared difference of neighbouring pixels, in [0, 1] units.
"""

from __future__ import annotations

import torch

EPS = 1e-12  # keeps a relative error finite when the target is all zeros


def wide(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, or as it is when already wider (float64 gradient checks)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def gram(features: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Channel correlations averaged over positions: ``(N, C, H, W) -> (N, C, C)``.

    With ``weights`` ``(N|1, 1, H, W)`` (>= 0), a *guided* Gram matrix (Gatys et al. 2017):
    the weighted average over positions, so only a region's texture counts.

    The product runs in the features' dtype: bfloat16 features (from an autocast pass)
    multiply at bfloat16 speed, accumulating in float32 inside the kernel, which keeps the
    rounding of the result (2^-9 relative) far below any style distance worth resolving
    (docs/benchmarks.md). The result is float32 (float64 for float64 features).
    """
    if features.dim() != 4:
        raise ValueError(f"gram expects (N, C, H, W) features, got shape {tuple(features.shape)}")
    n, c, h, w = features.shape
    if _channels_last(features):  # the same (N, C, H*W) matrix, as a view: no copy
        flat = features.permute(0, 2, 3, 1).reshape(n, h * w, c).transpose(1, 2)
    else:
        flat = features.reshape(n, c, h * w)
    if weights is None:
        return wide(torch.bmm(flat, flat.transpose(1, 2))) / (h * w)
    wflat = _position_weights(weights, n, h, w)
    product = wide(torch.bmm(flat * wflat.to(flat.dtype), flat.transpose(1, 2)))
    return product / wide(wflat).sum(2, keepdim=True).clamp_min(EPS)


def _channels_last(x: torch.Tensor) -> bool:
    """Stored channels last (as the training pass keeps its features; the layout oneDNN
    convolves fastest on a CPU), where flattening the positions in ``(N, C, H, W)`` order
    would copy the whole map."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _position_weights(weights: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    if weights.dim() != 4 or weights.shape[1] != 1 or tuple(weights.shape[-2:]) != (h, w):
        raise ValueError(f"weights of shape {tuple(weights.shape)} do not fit {h}x{w} features")
    return weights.expand(n, 1, h, w).reshape(n, 1, h * w)


def relative_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||x - t||^2 / ||t||^2`` per batch item, averaged over the batch: ``(N, ...) -> ()``.
    Computed in float32 at least, whatever the inputs' dtype."""
    if x.shape != target.shape:
        raise ValueError(f"shape mismatch: {tuple(x.shape)} vs target {tuple(target.shape)}")
    if x.dim() < 2:
        raise ValueError(f"expected a batch (N, ...), got shape {tuple(x.shape)}")
    dims = tuple(range(1, x.dim()))
    x, target = wide(x), wide(target)
    err = (x - target).pow(2).sum(dims)
    return (err / target.pow(2).sum(dims).clamp_min(EPS)).mean()


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared error of feature maps: ``(N, C, H, W) x2 -> ()``."""
    return relative_error(features, target)


def style_loss(
    features: torch.Tensor, target_gram: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Relative squared error of (guided) Gram matrices: ``(N, C, H, W), (N|1, C, C) -> ()``."""
    g = gram(features, weights)
    return relative_error(g, target_gram.expand_as(g))


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels: ``(N, C, H, W) -> ()``."""
    if image.dim() != 4:
        raise ValueError(f"tv_loss expects (N, C, H, W), got shape {tuple(image.shape)}")
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


def mean_cov(
    features: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and covariance over positions: ``(N, C, H, W) -> (N, C), (N, C, C)``;
    with ``weights`` ``(N|1, 1, H, W)``, weighted over positions (a region's statistics).

    The mean is summed in float32 at least; the covariance is the Gram matrix of the
    features less their mean, in the features' dtype as :func:`gram` computes it. Centring
    first keeps bfloat16's rounding relative to the centred values (no cancellation); the
    centring takes the mean as a constant, which leaves the covariance's gradient as it is,
    because centred features sum to zero over the positions."""
    if features.dim() != 4:
        raise ValueError(f"mean_cov expects (N, C, H, W) features, got {tuple(features.shape)}")
    n, c, h, w = features.shape
    if weights is None:
        mean = features.mean((2, 3), dtype=torch.promote_types(features.dtype, torch.float32))
    else:
        position = wide(_position_weights(weights, n, h, w)).view(n, 1, h, w)
        mean = (wide(features) * position).sum((2, 3)) / position.sum((2, 3)).clamp_min(EPS)
    centered = features - mean.detach().to(features.dtype)[:, :, None, None]
    return mean, gram(centered, weights)


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of symmetric positive semi-definite matrices ``(..., C, C)``."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.transpose(-1, -2)


def wasserstein2_loss(
    features: torch.Tensor,
    target_mean: torch.Tensor,
    target_cov_sqrt: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`wasserstein2` of the features' mean and covariance (:func:`mean_cov`; with
    ``weights``, a region's) against the target: ``(N, C, H, W) -> ()``."""
    return wasserstein2(*mean_cov(features, weights), target_mean, target_cov_sqrt)


def wasserstein2(
    mean: torch.Tensor,
    cov: torch.Tensor,
    target_mean: torch.Tensor,
    target_cov_sqrt: torch.Tensor,
) -> torch.Tensor:
    """Relative squared Wasserstein-2 distance between the Gaussians ``N(mean, cov)``
    ``(N, C), (N, C, C)`` and the target, given as its mean ``(N|1, C)`` and covariance
    square root ``(N|1, C, C)``: averaged over the batch, ``()``.

    ``W2^2 = |m - m_t|^2 + tr S + tr S_t - 2 tr (S_t^1/2 S S_t^1/2)^1/2``, divided by
    ``|m_t|^2 + tr S_t`` (the distance from a point mass at zero), so 1.0 for all-zero
    features, like the other losses here. The last trace is a sum of square roots of
    eigenvalues (eigvalsh: its gradient is well defined even for repeated eigenvalues).
    """
    target_mean = target_mean.to(mean.dtype).expand_as(mean)
    root = target_cov_sqrt.to(cov.dtype).expand_as(cov)
    product = root @ cov @ root
    product = (product + product.transpose(-1, -2)) / 2  # symmetric up to rounding
    cross = torch.linalg.eigvalsh(product).clamp_min(EPS).sqrt().sum(-1)
    trace = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)
    target_trace = root.pow(2).sum((-2, -1))  # tr(R R) for the symmetric root R
    w2 = (mean - target_mean).pow(2).sum(-1) + trace + target_trace - 2 * cross
    scale = target_mean.pow(2).sum(-1) + target_trace
    return (w2.clamp_min(0) / scale.clamp_min(EPS)).mean()
