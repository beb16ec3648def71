"""The VGG19 layer table: pure data, importable without torch.

Names follow the convention of the style-transfer literature (``conv1_1``,
``relu1_1``, ``pool1`` ... ``relu5_4``, ``pool5``); settings validate layer
names against :data:`LAYERS` and the CLI prints it, so neither needs torch.
"""

from __future__ import annotations

# (block, number of convolutions, output channels) for VGG19 "E".
BLOCKS: tuple[tuple[int, int, int], ...] = (
    (1, 2, 64),
    (2, 2, 128),
    (3, 4, 256),
    (4, 4, 512),
    (5, 4, 512),
)


def _layer_table() -> tuple[tuple[str, str, int], ...]:
    """Return ``(name, kind, channels)`` for every layer, in network order."""
    rows: list[tuple[str, str, int]] = []
    for block, convs, channels in BLOCKS:
        for i in range(1, convs + 1):
            rows.append((f"conv{block}_{i}", "conv", channels))
            rows.append((f"relu{block}_{i}", "relu", channels))
        rows.append((f"pool{block}", "pool", channels))
    return tuple(rows)


LAYER_TABLE: tuple[tuple[str, str, int], ...] = _layer_table()
LAYERS: tuple[str, ...] = tuple(name for name, _, _ in LAYER_TABLE)
CONV_LAYERS: tuple[str, ...] = tuple(name for name, kind, _ in LAYER_TABLE if kind == "conv")
LAYER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LAYERS)}


def channels(layer: str) -> int:
    """Number of feature channels a layer outputs."""
    return LAYER_TABLE[LAYER_INDEX[layer]][2]


def downsampling(layer: str) -> int:
    """Spatial stride of a layer's output relative to the input image."""
    return 2 ** sum(1 for name in LAYERS[: LAYER_INDEX[layer] + 1] if name.startswith("pool"))
