"""The feed-forward networks: any input size, [0, 1] out, descriptions as data."""

import pytest
import torch

from painterly.errors import InputError
from painterly.transform import ARCHITECTURES, NetSpec, build

from .conftest import rand_image


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("size", [(1, 1), (1, 37), (31, 7), (48, 64), (50, 3)])
def test_any_size_in_the_same_size_out_in_range(name, size):
    torch.manual_seed(0)
    net = build(name).eval()
    out = net(rand_image(*size))
    assert out.shape == (1, 3, *size) and 0 <= out.min() and out.max() <= 1


def test_a_batch_is_stylised_image_by_image():
    torch.manual_seed(0)
    net = build("rt").eval()
    a, b = rand_image(40, 56, 1), rand_image(40, 56, 2)
    both = net(torch.cat([a, b]))
    assert torch.allclose(both[1:], net(b), atol=1e-5)  # instance norm: no leak between items


def test_descriptions_round_trip_and_bad_ones_are_refused():
    spec = ARCHITECTURES["rt"]
    assert NetSpec.from_dict(spec.to_dict()) == spec
    assert build(spec).spec == spec
    with pytest.raises(InputError, match="unknown network"):
        NetSpec.from_dict({"outer": 16, "depth": 3})
    with pytest.raises(InputError, match="inner=0"):
        NetSpec.from_dict({**spec.to_dict(), "inner": 0})
    with pytest.raises(InputError, match="inner=4096"):  # a file cannot ask for GBs
        NetSpec.from_dict({**spec.to_dict(), "inner": 4096})
    with pytest.raises(InputError, match="architecture 'xl'"):
        build("xl")


def test_the_real_time_network_is_small():
    rt = sum(p.numel() for p in build("rt").parameters())
    hq = sum(p.numel() for p in build("hq").parameters())
    assert rt < 100_000 < hq < 2_000_000  # 0.25 MB and 6 MB as float32 files


def test_with_the_skip_a_network_that_adds_nothing_returns_the_photo():
    net = build("rt").eval()
    last = net.decode[-1][1]  # the final convolution (after its padding)
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    photo = rand_image(30, 44, 5).clamp(0.01, 0.99)
    assert torch.allclose(net(photo), photo, atol=1e-5)
    assert ARCHITECTURES["rt"].skip and ARCHITECTURES["hq"].skip
