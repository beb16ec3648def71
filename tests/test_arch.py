from painterly.arch import CONV_LAYERS, LAYER_INDEX, LAYERS, channels, downsampling


def test_layer_names_follow_vgg19():
    assert len(CONV_LAYERS) == 16
    assert len(LAYERS) == 16 * 2 + 5
    assert LAYERS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYERS[-3:] == ("conv5_4", "relu5_4", "pool5")
    assert all(LAYERS[i] == name for name, i in LAYER_INDEX.items())


def test_channels_and_stride():
    assert channels("relu1_1") == 64
    assert channels("relu3_4") == 256
    assert channels("relu5_1") == 512
    assert downsampling("relu1_1") == 1
    assert downsampling("pool1") == 2
    assert downsampling("relu4_2") == 8
    assert downsampling("relu5_1") == 16
