"""VGG19 feature extractor: named layers, input preprocessing inside, truncated, frozen."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from painterly.arch import LAYER_INDEX, LAYER_TABLE
from painterly.errors import InputError
from painterly.weights import Weights

POOLS: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class VGGFeatures(nn.Module):
    """Maps an RGB image in [0, 1], ``(N, 3, H, W)``, to ``{layer name: (N, C, h, w)}``.

    Only the layers up to the deepest one in ``layers`` are built; the weights' own
    preprocessing (channel order, scale, mean, std) is applied first, as data.
    """

    def __init__(
        self,
        weights: Weights,
        layers: Iterable[str],
        pooling: str = "max",
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        self.layers = tuple(dict.fromkeys(layers))
        if not self.layers:
            raise InputError("no layers requested")
        for name in self.layers:
            if name not in LAYER_INDEX:
                raise InputError(f"unknown layer {name!r} (run 'painterly layers' for the names)")
        if pooling not in POOLS:
            raise InputError(f"pooling={pooling!r}: expected one of {', '.join(POOLS)}")
        self.pooling = pooling
        self.preprocessing = weights.preprocessing
        self.source = weights.source
        prep = weights.preprocessing
        perm = [2, 1, 0] if prep.bgr else [0, 1, 2]
        std = torch.tensor(prep.std).view(1, 3, 1, 1)
        self.register_buffer("perm", torch.tensor(perm), persistent=False)
        self.register_buffer("gain", prep.scale / std, persistent=False)
        self.register_buffer(
            "offset", torch.tensor(prep.mean).view(1, 3, 1, 1) / std, persistent=False
        )
        deepest = max(LAYER_INDEX[name] for name in self.layers)
        self.names = tuple(name for name, _, _ in LAYER_TABLE[: deepest + 1])
        self.net = nn.ModuleDict(
            {
                name: self._make(name, kind, weights, pooling, padding_mode)
                for name, kind, _ in LAYER_TABLE[: deepest + 1]
            }
        )
        self.eval()
        self.requires_grad_(False)

    @staticmethod
    def _make(name: str, kind: str, weights: Weights, pooling: str, padding_mode: str) -> nn.Module:
        if kind == "relu":
            return nn.ReLU()
        if kind == "pool":
            return POOLS[pooling](kernel_size=2, stride=2)
        try:
            weight = weights.state_dict[f"{name}.weight"]
            bias = weights.state_dict[f"{name}.bias"]
        except KeyError:
            raise InputError(
                f"weights {weights.location}: no {name}, which the layers need"
            ) from None
        conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1, padding_mode=padding_mode)
        with torch.no_grad():
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
        return conv

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] -> the network's input space."""
        return image.index_select(1, self.perm) * self.gain - self.offset

    def forward(
        self, image: torch.Tensor, layers: Iterable[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """``(N, 3, H, W)`` in [0, 1] -> ``{layer: (N, C, h, w)}`` for the requested layers;
        ``layers`` (some of those built) asks for fewer, and the pass stops at the deepest."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an (N, 3, H, W) image, got {tuple(image.shape)}")
        wanted = set(self.layers if layers is None else layers)
        if not wanted <= set(self.layers):
            raise ValueError(f"layers {sorted(wanted - set(self.layers))} were not built")
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        for name in self.names:
            x = self.net[name](x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out
