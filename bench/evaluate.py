"""The fixed evaluation every method is scored by: one network, one normalisation.

content distance: relative squared error of relu4_2 features against the content photo;
style distance: mean over relu1_1 ... relu5_1 of the relative squared error of Gram matrices
against the style image (resized so its long side equals the output's). Both use the caffe
VGG19 in float32 and painterly.losses; lower is closer. The output is compared at its own
size, the content and style are resized to match.
"""

from __future__ import annotations

from pathlib import Path

import torch

from painterly import io, losses, weights
from painterly.features import VGGFeatures
from painterly.image import resize, resize_long_side

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


class Evaluator:
    """Scores result images against one content and one style image."""

    def __init__(self, content: Path, style: Path) -> None:
        self.extractor = VGGFeatures(weights.load("caffe"), (CONTENT_LAYER, *STYLE_LAYERS))
        self.content = io.load_image(content)
        self.style = io.load_image(style)

    @torch.no_grad()
    def __call__(self, result: Path, at_size: int | None = None) -> dict[str, float]:
        """Scores of the image at ``result``; ``at_size`` first resizes it to that long side
        (an intermediate, coarser snapshot is judged as the picture it would be at full size)."""
        image = io.load_image(result)
        if at_size is not None and max(image.shape[-2:]) != at_size:
            image = resize_long_side(image, at_size)
        h, w = image.shape[-2:]
        out = self.extractor(image)
        content = self.extractor(resize(self.content, (h, w)))
        style = self.extractor(resize_long_side(self.style, max(h, w)))
        style_d = sum(
            losses.style_loss(out[n], losses.gram(style[n])).item() for n in STYLE_LAYERS
        ) / len(STYLE_LAYERS)
        return {
            "content": losses.content_loss(out[CONTENT_LAYER], content[CONTENT_LAYER]).item(),
            "style": style_d,
        }
