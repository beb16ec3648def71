"""Feed-forward image-transformation networks (Johnson et al. 2016, with Ulyanov et al.'s
instance normalisation): trained once per painting, they stylise a photo in one pass.

Where we depart from Johnson et al.: their network does its first and last convolutions at
full resolution (9x9, 32 channels), which is most of its cost on a CPU. Ours works at a
quarter of the resolution inside: space-to-depth (pixel unshuffle) in twice, residual blocks
at 1/4 size, and upsampling followed by a convolution out (upsample then convolve: no
checkerboard artefacts). Padding is by reflection inside the network (or by zeros inside
the third design's, which is cheaper); an input of any size is padded (by replication) to a
multiple of the stride and cropped back. A network that pads with zeros inside can tell
where the image ends, and paints a frame there: at inference (not in training, where the
crops are the whole input) such a network's image is framed by ``BORDER`` pixels of its own
reflection, and the frame is cropped away. A network is described by a :class:`NetSpec`,
stored as data in its model file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from painterly import tiles
from painterly.errors import InputError

STRIDE = 4  # the network's total downsampling
MIN_SIDE = 2 * STRIDE  # the 1/4-size maps must be at least 2 px for reflection padding
UPSAMPLING = ("nearest", "bilinear")
PADDING = ("reflect", "zeros")  # "zeros": inside; the image and the logits still reflect
MAX_CHANNELS, MAX_BLOCKS = 256, 16  # a model file cannot ask for more (at most ~20 M weights)
HALF = 4  # decode[:HALF] ends at half size, where the bridge joins the encoder's maps
SKIP_EPS = 1e-3  # pure black and white pass the skip as finite logits
BORDER = 24  # px of reflection around an image at inference, for zero-padded networks
MAX_NOISE = 16  # noise channels a model file may ask for
NOISE_PERIOD = 128  # the stored noise field repeats every 128 cells of the 1/4 grid (512 px)
NOISE_CELLS = (1, 1, 2, 2, 4, 4, 8, 8)  # each noise channel's cell, in 1/4-grid cells
NOISE_SEED = 20261204  # the stored field's seed: every model of a design has the same
HEAD = 8  # channels of rt's full-size head
HEAD_INPUTS = ("photo", "logits")  # what a head reads (NetSpec.head_input)


@dataclass(frozen=True)
class NetSpec:
    """The shape of a network: ``outer`` channels at 1/2 size, ``inner`` channels and
    ``blocks`` residual blocks at 1/4 size; ``separable`` blocks use depthwise 3x3 plus
    pointwise 1x1 convolutions instead of full 3x3 ones; ``skip`` adds the input (as
    logits) to the output's logits, so the network learns a change to the photo;
    ``skip_range`` squeezes the photo into ``0.5 +- skip_range / 2`` first (1: not at all),
    so that its whites and blacks enter as moderate logits the network can still repaint;
    ``upsample`` is how the decoder doubles its maps before each convolution (``UPSAMPLING``);
    ``bridge`` adds the encoder's half-size maps to the decoder's (a U-Net's skip), so the
    strokes can follow the photo's own fine structure; ``strided`` encoders go down by
    strided convolutions (4x4 then 2x2, stride 2) instead of pixel unshuffles; ``half_out``
    decoders make the last convolution (to the three logits) at half size and double the
    logits bilinearly, instead of doubling the maps and convolving at full size: the change
    is painted at half size, the photo's own detail comes through the skip at full size;
    ``padding`` is how the convolutions inside pad (``PADDING``; the first, which reads the
    image, and the last, which writes the logits, reflect in either case). The last three
    are the cheaper form of the network: no layout copies, no padding layers inside, no
    full-size maps but three-channel ones (docs/fast.md, *Speed*). ``noise`` channels of
    smooth random noise at several scales (:func:`noise_field`) are added, through a
    learnt 1x1 convolution, to the maps at 1/4 size: a flat sky otherwise gives the
    network nothing to paint a structure on, and it paints the same stroke everywhere
    (Ulyanov et al. 2016's noise inputs; docs/fast.md, *Noise*). Fresh noise each training
    step; at inference a stored field, the same for every image at each position. ``head``
    channels (0: none) make a small stage at full size after the last doubling: two 3x3
    convolutions through ``head`` channels and a ReLU add a change to the logits. Without
    it nothing the network paints is finer than its half-size maps, however it is trained
    (docs/fast.md, *A full-size head*). ``head_input`` is what the head reads
    (``HEAD_INPUTS``): ``"photo"``, the photo and the doubled logits (six channels, before
    the skip; the models of the morning of 2026-12-05); ``"logits"``, the final logits
    alone (three channels, the photo's skip already added: it holds the photo too, and the
    head's first convolution costs half as much)."""

    outer: int
    inner: int
    blocks: int
    separable: bool
    skip: bool = False
    skip_range: float = 1.0
    upsample: str = "nearest"
    bridge: bool = False
    strided: bool = False
    half_out: bool = False
    padding: str = "reflect"
    noise: int = 0
    head: int = 0
    head_input: str = "photo"

    @property
    def border(self) -> int:
        """Pixels of reflection to frame an image with at inference: zero padding inside
        tells the network where the image ends, and it paints a frame there."""
        return BORDER if self.padding == "zeros" else 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NetSpec:
        try:
            spec = cls(**values)
        except TypeError as exc:
            raise InputError(f"unknown network description {values!r}") from exc
        for name, low, high in (
            ("outer", 1, MAX_CHANNELS),
            ("inner", 1, MAX_CHANNELS),
            ("blocks", 1, MAX_BLOCKS),
            ("noise", 0, MAX_NOISE),
            ("head", 0, MAX_CHANNELS),
        ):
            value = getattr(spec, name)
            whole = isinstance(value, int) and not isinstance(value, bool)
            if not (whole and low <= value <= high):
                raise InputError(f"network {name}={value!r}: expected a whole number {low}..{high}")
        flags = (spec.separable, spec.skip, spec.bridge, spec.strided, spec.half_out)
        if not all(isinstance(v, bool) for v in flags):
            raise InputError(
                f"network {values!r}: separable, skip, bridge, strided and half_out are "
                "true or false"
            )
        if spec.padding not in PADDING:
            raise InputError(
                f"network padding={spec.padding!r}: expected one of {', '.join(PADDING)}"
            )
        if spec.head_input not in HEAD_INPUTS:
            raise InputError(
                f"network head_input={spec.head_input!r}: expected one of {', '.join(HEAD_INPUTS)}"
            )
        if spec.upsample not in UPSAMPLING:
            raise InputError(
                f"network upsample={spec.upsample!r}: expected one of {', '.join(UPSAMPLING)}"
            )
        squeeze = spec.skip_range
        number = isinstance(squeeze, (int, float)) and not isinstance(squeeze, bool)
        if not (number and 0 < squeeze <= 1):
            raise InputError(f"network skip_range={squeeze!r}: expected a number in (0, 1]")
        return spec


# The widths we train. 'rt' is the real-time one (docs/fast.md has the measurements);
# 'hq' is a wider, full-convolution network for when quality matters more than speed.
# Both learn a change to the photo (skip): at equal training its structure survives far
# better. The photo enters the skip squeezed to 0.1..0.9, or a white sky could not be
# repainted. The decoder upsamples bilinearly and gets the encoder's half-size maps back
# (bridge): with nearest-neighbour doubling and no bridge the strokes came out as a regular
# weave on the network's 4 px grid (docs/fast.md).
def _design(outer: int, inner: int, separable: bool) -> NetSpec:
    """The current design at one width: squeezed skip, bilinear decoder, bridge."""
    return NetSpec(
        outer=outer,
        inner=inner,
        blocks=5,
        separable=separable,
        skip=True,
        skip_range=0.8,
        upsample="bilinear",
        bridge=True,
    )


ARCHITECTURES: dict[str, NetSpec] = {
    "rt": dataclasses.replace(
        _design(16, 64, True),
        strided=True,
        half_out=True,
        padding="zeros",
        head=HEAD,
        head_input="logits",
    ),
    "hq": _design(32, 128, False),
}


class Norm(nn.InstanceNorm2d):
    """Instance normalisation (affine) whose statistics can come from outside: the whole
    image's, while the network runs on one tile of it (:func:`stylise_tiled`). The same
    parameters and state dict as ``nn.InstanceNorm2d``; plain instance normalisation unless
    ``fixed`` is set."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)
        self.fixed: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed is None:
            return super().forward(x)
        mean, var = self.fixed
        scale = self.weight.view(1, -1, 1, 1) / torch.sqrt(var + self.eps)
        return (x - mean) * scale + self.bias.view(1, -1, 1, 1)


def _norm(channels: int) -> nn.Module:
    return Norm(channels)


def _conv(
    cin: int, cout: int, kernel: int, pad: str, groups: int = 1, stride: int = 1
) -> nn.Sequential:
    """A convolution padded by ``kernel // 2`` on each side (1 for a 4x4 one of stride 2),
    by reflection (a padding layer, then the convolution) or with zeros (inside the
    convolution, which ONNX Runtime fuses; the same two-item layout, so the same weight
    names)."""
    width = 1 if stride == 2 else kernel // 2
    if pad == "zeros":
        conv = nn.Conv2d(cin, cout, kernel, stride, padding=width, groups=groups)
        return nn.Sequential(nn.Identity(), conv)
    return nn.Sequential(
        nn.ReflectionPad2d(width), nn.Conv2d(cin, cout, kernel, stride, groups=groups)
    )


def _mixing(channels: int, separable: bool, pad: str) -> nn.Sequential:
    """A 3x3 convolution, or its depthwise-separable form."""
    if separable:
        return nn.Sequential(
            _conv(channels, channels, 3, pad, groups=channels),
            nn.Conv2d(channels, channels, 1),
        )
    return _conv(channels, channels, 3, pad)


class _Residual(nn.Module):
    def __init__(self, channels: int, separable: bool, pad: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _mixing(channels, separable, pad),
            _norm(channels),
            nn.ReLU(),
            _mixing(channels, separable, pad),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformNet(nn.Module):
    """``(N, 3, H, W)`` RGB in [0, 1] -> the stylised image, same shape, in [0, 1]."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        outer, inner, pad = spec.outer, spec.inner, spec.padding
        if spec.strided:  # the same reach as unshuffling, without the layout copies
            down: list[nn.Module] = [_conv(3, outer, 4, "reflect", stride=2)]
            down_again: list[nn.Module] = [nn.Conv2d(outer, inner, 2, 2)]
        else:
            down = [nn.PixelUnshuffle(2), _conv(12, outer, 3, "reflect")]
            down_again = [nn.PixelUnshuffle(2), nn.Conv2d(4 * outer, inner, 1)]
        self.encode = nn.Sequential(
            *down, _norm(outer), nn.ReLU(), *down_again, _norm(inner), nn.ReLU()
        )
        self.half_encoded = len(down) + 2  # encode[:half_encoded] ends at half size
        self.blocks = nn.Sequential(
            *[_Residual(inner, spec.separable, pad) for _ in range(spec.blocks)]
        )
        if spec.noise:
            self.noise_in = nn.Conv2d(spec.noise, inner, 1)
            field = noise_field(spec.noise, NOISE_PERIOD, NOISE_PERIOD, NOISE_SEED, wrap=True)
            self.register_buffer("noise_field", field)
        if spec.half_out:  # no full-size maps: the three logits are doubled
            double = nn.Upsample(scale_factor=2, mode="bilinear")
            out: list[nn.Module] = [_conv(outer, 3, 3, "reflect"), double]
        else:
            double = nn.Upsample(scale_factor=2, mode=spec.upsample)
            out = [double, _conv(outer, 3, 3, "reflect")]
        self.decode = nn.Sequential(
            nn.Conv2d(inner, outer, 1),
            _norm(outer),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode=spec.upsample),
            _conv(outer, outer, 3, pad),
            _norm(outer),
            nn.ReLU(),
            *out,
        )
        self.head: nn.Sequential | None = None
        if spec.head:
            reads = 6 if spec.head_input == "photo" else 3
            self.head = nn.Sequential(
                _conv(reads, spec.head, 3, pad), nn.ReLU(), _conv(spec.head, 3, 3, pad)
            )
            last = self.head[-1][-1]  # the network starts as it would without the head
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    @property
    def border(self) -> int:
        """The frame this network's image gets at inference (:attr:`NetSpec.border`)."""
        return self.spec.border

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``noise``: the noise at 1/4 size for a network that takes it (training draws it
        afresh each step, :meth:`draw_noise`); None for the stored field."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an (N, 3, H, W) image, got {tuple(image.shape)}")
        x, window = frame(image, 0 if self.training else self.border)
        return self.core(x, noise)[window]

    def core(
        self,
        image: torch.Tensor,
        noise: torch.Tensor | None = None,
        offset: tuple[int, int] = (0, 0),
    ) -> torch.Tensor:
        """The network on an image whose sides are multiples of ``STRIDE`` (at least
        ``MIN_SIDE``): what an exported graph holds (padding and cropping are outside).
        ``offset``: where the image's corner lies on the stored noise field, in cells (a
        tile's place on its image)."""
        if self.spec.bridge:
            split = self.half_encoded
            half = self.encode[:split](image)  # (outer, H/2, W/2)
            quarter = self._noisy(self.encode[split:](half), noise, offset)
            coarse = self.decode[:HALF](self.blocks(quarter))  # back at H/2
            logits = self.decode[HALF:](coarse + half).float()
        else:
            quarter = self._noisy(self.encode(image), noise, offset)
            logits = self.decode(self.blocks(quarter)).float()
        if self.head is not None and self.spec.head_input == "photo":
            logits = logits + self.head(torch.cat([image, logits.to(image.dtype)], 1)).float()
        if self.spec.skip:
            photo = image.float()
            if self.spec.skip_range != 1:
                photo = 0.5 + (photo - 0.5) * self.spec.skip_range
            # torch.logit(photo, eps=SKIP_EPS), written so that it exports as one Clip
            # (torch.logit's clamp exports as four comparisons and selections: a fifteenth
            # of a fast frame in ONNX Runtime)
            photo = photo.clamp(SKIP_EPS, 1 - SKIP_EPS)
            logits = logits + torch.log(photo / (1 - photo))
        if self.head is not None and self.spec.head_input == "logits":
            logits = logits + self.head(logits.to(image.dtype)).float()
        return torch.sigmoid(logits)

    def _noisy(
        self, quarter: torch.Tensor, noise: torch.Tensor | None, offset: tuple[int, int]
    ) -> torch.Tensor:
        """The 1/4-size maps with the noise added (through ``noise_in``), if the network
        takes noise: ``noise``, or the stored field from ``offset`` on, wrapped."""
        if not self.spec.noise:
            return quarter
        if noise is None:
            field: torch.Tensor = self.noise_field  # type: ignore[assignment]
            top, left = offset
            rows = (torch.arange(quarter.shape[-2], device=field.device) + top) % NOISE_PERIOD
            cols = (torch.arange(quarter.shape[-1], device=field.device) + left) % NOISE_PERIOD
            noise = field.index_select(2, rows).index_select(3, cols)
        return quarter + self.noise_in(noise.to(quarter.dtype))

    def draw_noise(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
        """Fresh noise for ``batch`` as :meth:`forward` frames it, drawn from
        ``generator``; None for a network without noise."""
        if not self.spec.noise:
            return None
        border = 0 if self.training else self.border
        _, pad_h, pad_w, _ = frame_plan(*batch.shape[-2:], border)
        height = (batch.shape[-2] + 2 * border + pad_h) // STRIDE
        width = (batch.shape[-1] + 2 * border + pad_w) // STRIDE
        fields = [noise_field(self.spec.noise, height, width, generator) for _ in range(len(batch))]
        return torch.cat(fields).to(batch.device)


def noise_field(
    channels: int,
    height: int,
    width: int,
    seed: int | torch.Generator,
    wrap: bool = False,
) -> torch.Tensor:
    """``(1, channels, height, width)`` noise on the 1/4 grid: channel ``i`` is white noise on
    cells of ``NOISE_CELLS[i % 8]`` grid points, doubled up bilinearly to the grid (strokes
    and blotches from 4 to 32 px), each channel scaled to unit deviation. ``wrap``: the
    field tiles seamlessly (its sides must be multiples of the largest cell)."""
    generator = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
    channels_out = []
    for index in range(channels):
        cell = NOISE_CELLS[index % len(NOISE_CELLS)]
        rows, cols = -(-height // cell), -(-width // cell)
        z = torch.randn(1, 1, rows, cols, generator=generator)
        if cell > 1:
            z = F.pad(z, (1, 1, 1, 1), mode="circular" if wrap else "replicate")
            z = F.interpolate(z, scale_factor=cell, mode="bilinear", align_corners=False)
            z = z[..., cell : cell + height, cell : cell + width] / _spread(cell)
        channels_out.append(z)
    return torch.cat(channels_out, 1)


def _spread(cell: int) -> float:
    """The deviation of white noise of unit deviation doubled up bilinearly by ``cell``,
    averaged over the positions in a cell (a point between grid points is a weighted mean,
    and varies less): dividing by it gives every channel unit deviation."""
    offsets = [(k + 0.5) / cell - 0.5 for k in range(cell)]
    # the variance along one axis; the 2-D variance is its square, so the 2-D deviation is it
    return sum((1 - abs(t)) ** 2 + abs(t) ** 2 for t in offsets) / cell


def receptive_radius(net: TransformNet) -> int:
    """How far (in input pixels) an output pixel sees: the 3x3 convolutions at each
    resolution, the pixel unshuffles' blocks, the upsamplings."""
    radius, jump = 0.0, 1.0
    parts = [*net.encode, *(m for block in net.blocks for m in block.body), *net.decode]
    parts += list(net.head or ())
    leaves = [m for part in parts for m in part.modules() if next(m.children(), None) is None]
    for module in leaves:
        if isinstance(module, nn.PixelUnshuffle):
            radius += (module.downscale_factor - 1) * jump
            jump *= module.downscale_factor
        elif isinstance(module, nn.Conv2d):  # a strided one: its whole kernel, at most
            radius += (module.kernel_size[0] // 2) * jump
            jump *= module.stride[0]
        elif isinstance(module, nn.Upsample):
            if module.mode != "nearest":  # interpolation reads a neighbour at the coarse scale
                radius += jump
            jump /= float(module.scale_factor)  # type: ignore[arg-type]
    return int(radius + 0.999)


class _Reached(Exception):
    """Raised by a hook to stop a pass at the layer it was measuring."""


def stylise_tiled(net: TransformNet, image: torch.Tensor, tile: int) -> torch.Tensor:
    """``net`` on ``image`` (one image) tile by tile, in memory set by ``tile``, equal to the
    untiled result up to float rounding.

    Instance normalisation needs the whole image's statistics (per-tile ones would jump in
    colour from tile to tile). Each normalisation's input depends on the ones before, so
    they are measured in order: one pass over the tiles per normalisation layer, stopped
    there, summing over each tile's core (``tiles.plan``: halos as wide as the receptive
    field, on the 16 px grid); then the last pass with every statistic fixed. That costs
    about half as many whole passes as there are normalisation layers (docs/print.md).
    """
    norms = [m for m in net.modules() if isinstance(m, Norm)]
    margin = -(-receptive_radius(net) // tiles.ALIGN) * tiles.ALIGN
    image, window = frame(image, net.border)  # the frame once, round the whole image
    height, width = image.shape[-2:]
    plan = tiles.plan(height, width, tile, margin)
    out = torch.empty_like(image)
    with torch.no_grad():
        try:
            for norm in norms:
                norm.fixed = _measure(net, norm, image, plan)
            for t in plan:
                y = _unframed(net, image, t)
                out[..., t.y0 : t.y1, t.x0 : t.x1] = y[
                    ..., t.y0 - t.cy0 : t.y1 - t.cy0, t.x0 - t.cx0 : t.x1 - t.cx0
                ]
        finally:
            for norm in norms:
                norm.fixed = None
    return out[window]


def _unframed(net: TransformNet, image: torch.Tensor, t: tiles.Tile) -> torch.Tensor:
    """``net`` on tile ``t`` of an image already framed, padded to the stride only; the
    noise field (if any) from the tile's place on the image (tiles start on the 16 px
    grid, so on the field's)."""
    x, window = frame(t.crop(image), 0)
    return net.core(x, offset=(t.cy0 // STRIDE, t.cx0 // STRIDE))[window]


def _measure(
    net: TransformNet, norm: Norm, image: torch.Tensor, plan: tuple[tiles.Tile, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and variance per channel of ``norm``'s input over the whole (padded) image,
    summed over the tiles' cores; the normalisations before it already fixed."""
    height, width = image.shape[-2:]
    sums: list[torch.Tensor] = []
    count = 0
    current: list[tiles.Tile] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        nonlocal count
        x, t = inputs[0], current[0]
        crop_h, crop_w = t.cy1 - t.cy0, t.cx1 - t.cx0
        jump_h = (crop_h + padding(crop_h, crop_w)[0]) // x.shape[-2]
        jump_w = (crop_w + padding(crop_h, crop_w)[1]) // x.shape[-1]
        top, left = (t.y0 - t.cy0) // jump_h, (t.x0 - t.cx0) // jump_w
        bottom = x.shape[-2] if t.y1 == height else (t.y1 - t.cy0) // jump_h
        right = x.shape[-1] if t.x1 == width else (t.x1 - t.cx0) // jump_w
        core = x[0, :, top:bottom, left:right].double().flatten(1)
        part = torch.stack([core.sum(1), core.pow(2).sum(1)])
        sums.append(part)
        count += core.shape[1]
        raise _Reached

    handle = norm.register_forward_pre_hook(hook)
    try:
        for t in plan:
            current[:] = [t]
            try:
                _unframed(net, image, t)
            except _Reached:
                pass
    finally:
        handle.remove()
    total = torch.stack(sums).sum(0) / count
    mean, var = total[0], (total[1] - total[0].pow(2)).clamp_min(0)
    shape = (1, -1, 1, 1)
    return mean.view(shape).to(image.dtype), var.view(shape).to(image.dtype)


def frame_plan(height: int, width: int, border: int) -> tuple[str, int, int, tuple[slice, ...]]:
    """How :func:`frame` frames a ``height`` x ``width`` image: the border's padding mode
    (``reflect``, or ``replicate`` for an image too small to reflect it), the rows and
    columns then replicated at the bottom and right up to a multiple of the stride, and the
    window of the core's output to keep. One rule for every runtime (torch here, numpy in
    the ONNX runner)."""
    mode = "reflect" if min(height, width) > border else "replicate"
    pad_h, pad_w = padding(height + 2 * border, width + 2 * border)
    rows, cols = slice(border, border + height), slice(border, border + width)
    return mode, pad_h, pad_w, (..., rows, cols)


def frame(image: torch.Tensor, border: int) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """``image`` ready for a network's core, and the window of the core's output to keep:
    ``border`` px of reflection all round (of replication, for an image too small to reflect
    it), then the bottom and right edges replicated up to a multiple of the stride."""
    mode, pad_h, pad_w, window = frame_plan(*image.shape[-2:], border)
    if border:
        image = F.pad(image, (border,) * 4, mode=mode)
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")
    return image, window


def padding(height: int, width: int) -> tuple[int, int]:
    """Rows and columns to add (by replicating the bottom and right edges) to reach a
    multiple of the stride of at least ``MIN_SIDE``; replication works for any size, even a
    1-pixel line."""
    pad_h = max(MIN_SIDE, -(-height // STRIDE) * STRIDE) - height
    pad_w = max(MIN_SIDE, -(-width // STRIDE) * STRIDE) - width
    return pad_h, pad_w


def build(architecture: str | NetSpec) -> TransformNet:
    """A new network by architecture name (see ``ARCHITECTURES``) or description."""
    if isinstance(architecture, NetSpec):
        return TransformNet(architecture)
    if architecture not in ARCHITECTURES:
        raise InputError(
            f"architecture {architecture!r}: expected one of {', '.join(ARCHITECTURES)}"
        )
    return TransformNet(ARCHITECTURES[architecture])


__all__ = ["ARCHITECTURES", "NetSpec", "TransformNet", "build"]
