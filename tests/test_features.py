import pytest
import torch

from painterly import weights
from painterly.arch import LAYERS, channels, downsampling
from painterly.features import VGGFeatures
from painterly.settings import InputError

from .conftest import rand_image


def test_named_layers_and_shapes(caffe):
    layers = ("relu1_1", "pool2", "conv3_4", "relu4_2", "relu5_1")
    feats = VGGFeatures(caffe, layers)(rand_image(64, 96))
    assert tuple(feats) == layers
    for name, f in feats.items():
        stride = downsampling(name)
        assert f.shape == (1, channels(name), 64 // stride, 96 // stride), name


def test_truncated_after_deepest_layer(caffe):
    ext = VGGFeatures(caffe, ["relu2_1", "relu1_1"])
    assert ext.names[-1] == "relu2_1"
    assert "conv2_2" not in ext.net
    assert len(VGGFeatures(caffe, ["pool5"]).names) == len(LAYERS)


def test_frozen(extractor):
    assert not extractor.training
    assert all(not p.requires_grad for p in extractor.parameters())


def test_gradient_reaches_the_image(extractor):
    image = rand_image().requires_grad_(True)
    extractor(image)["relu4_2"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_caffe_preprocessing_is_bgr_0_255_minus_mean(caffe):
    ext = VGGFeatures(caffe, ["relu1_1"])
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    expected = torch.tensor([0.0 - 103.939, 127.5 - 116.779, 255.0 - 123.68]).view(1, 3, 1, 1)
    assert torch.allclose(ext.preprocess(rgb), expected, atol=1e-4)


def test_torchvision_preprocessing_is_imagenet_normalisation(caffe):
    tv = weights.Weights("tv", "-", weights.PREPROCESSING["torchvision"], caffe.state_dict)
    ext = VGGFeatures(tv, ["relu1_1"])
    rgb = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    assert torch.allclose(ext.preprocess(rgb), torch.zeros(1, 3, 1, 1), atol=1e-6)


def test_pooling_choice(caffe):
    image = rand_image(32, 32)
    a = VGGFeatures(caffe, ["relu2_1"], pooling="avg")(image)["relu2_1"]
    m = VGGFeatures(caffe, ["relu2_1"], pooling="max")(image)["relu2_1"]
    assert a.shape == m.shape and not torch.allclose(a, m)


def test_bad_requests(caffe):
    with pytest.raises(InputError, match="relu9_9"):
        VGGFeatures(caffe, ["relu9_9"])
    with pytest.raises(InputError, match="pooling"):
        VGGFeatures(caffe, ["relu1_1"], pooling="median")
    partial = weights.Weights(
        "p",
        "partial.pth",
        caffe.preprocessing,
        {k: v for k, v in caffe.state_dict.items() if k.startswith("conv1")},
    )
    with pytest.raises(InputError, match="conv2_1"):
        VGGFeatures(partial, ["relu2_1"])
    with pytest.raises(ValueError):
        VGGFeatures(caffe, ["relu1_1"])(torch.rand(1, 4, 8, 8))


def test_fewer_layers_per_call_stop_at_the_deepest_of_them(extractor):
    image = rand_image(32, 32)
    ran = []
    hooks = [
        extractor.net[name].register_forward_hook(lambda *_, name=name: ran.append(name))
        for name in extractor.names
    ]
    try:
        some = extractor(image, layers=["relu2_1", "relu1_1"])
    finally:
        for hook in hooks:
            hook.remove()
    assert set(some) == {"relu1_1", "relu2_1"} and ran[-1] == "relu2_1"
    assert torch.equal(some["relu2_1"], extractor(image)["relu2_1"])
    with pytest.raises(ValueError, match="relu1_2"):
        extractor(image, layers=["relu1_2"])
