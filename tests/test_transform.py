"""The feed-forward networks: any input size, [0, 1] out, descriptions as data."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from painterly.errors import InputError
from painterly.transform import ARCHITECTURES, BORDER, HALF, NetSpec, build, frame

from .conftest import rand_image

NOISY = dataclasses.replace(ARCHITECTURES["rt"], noise=8)  # rt with noise (train --noise 8)


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
    for squeeze in (0, 1.5, "wide", True, float("nan"), [0.8], None):
        with pytest.raises(InputError, match="skip_range"):
            NetSpec.from_dict({**spec.to_dict(), "skip_range": squeeze})
    for mode in ("bicubic", ["bilinear"], {}, None):
        with pytest.raises(InputError, match="upsample="):
            NetSpec.from_dict({**spec.to_dict(), "upsample": mode})
    for head in (-1, 4096, 2.5, True, "8", None):
        with pytest.raises(InputError, match="head="):
            NetSpec.from_dict({**spec.to_dict(), "head": head})
    for reads in ("image", None, 3, ["logits"]):
        with pytest.raises(InputError, match="head_input="):
            NetSpec.from_dict({**spec.to_dict(), "head_input": reads})
    for flag in ("bridge", "strided", "half_out"):
        with pytest.raises(InputError, match="true or false"):
            NetSpec.from_dict({**spec.to_dict(), flag: "yes"})
    for pad in ("circular", None, 1):
        with pytest.raises(InputError, match="padding="):
            NetSpec.from_dict({**spec.to_dict(), "padding": pad})


def test_a_description_without_skip_range_is_the_unsqueezed_skip_of_earlier_files():
    old = {"outer": 16, "inner": 64, "blocks": 5, "separable": True, "skip": True}
    assert NetSpec.from_dict(old).skip_range == 1.0
    assert NetSpec.from_dict(old).upsample == "nearest"
    assert NetSpec.from_dict(old).bridge is False
    assert NetSpec.from_dict(old).head == 0  # files before the head: none
    headed = {**ARCHITECTURES["rt"].to_dict(), "head": 8}
    del headed["head_input"]  # the morning of 2026-12-05: the head read the photo too
    assert NetSpec.from_dict(headed).head_input == "photo"
    assert build(NetSpec.from_dict(headed)).head[0][1].in_channels == 6
    second = {**old, "skip_range": 0.8, "upsample": "bilinear", "bridge": True}
    spec = NetSpec.from_dict(second)  # the bundled models of 2026-12-02
    assert (spec.strided, spec.half_out, spec.padding) == (False, False, "reflect")
    net = build(spec)
    assert isinstance(net.encode[0], torch.nn.PixelUnshuffle)
    assert isinstance(net.decode[-2], torch.nn.Upsample)


def test_the_real_time_network_makes_no_wide_full_size_maps():
    spec = ARCHITECTURES["rt"]
    assert spec.strided and spec.half_out and spec.padding == "zeros" and spec.head == 8
    net = build(spec).eval()
    sizes: list[tuple[int, ...]] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape)))
        for m in net.modules()
        if next(m.children(), None) is None and not isinstance(m, torch.nn.Identity)
    ]
    with torch.no_grad():
        net.core(rand_image(64, 96))
    for hook in hooks:
        hook.remove()
    full = [shape[1] for shape in sizes if shape[-2:] == (64, 96)]
    assert full == [3, 8, 8, 3]  # the doubled logits; the head's 8 maps, ReLU'd; its change
    assert not any(isinstance(m, torch.nn.PixelUnshuffle) for m in net.modules())
    reflected = [m for m in net.modules() if isinstance(m, torch.nn.ReflectionPad2d)]
    assert len(reflected) == 2  # the image, into the first convolution; the logits, out


def test_the_bridge_adds_the_encoders_half_size_maps_to_the_decoders():
    spec = ARCHITECTURES["rt"]
    assert spec.bridge and spec.upsample == "bilinear"
    torch.manual_seed(0)
    net = build(spec).eval()
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        net.encode[net.half_encoded - 1].register_forward_hook(
            lambda m, i, o: seen.update(encoder=o)
        ),
        net.decode[HALF - 1].register_forward_hook(lambda m, i, o: seen.update(decoder=o)),
        net.decode[HALF].register_forward_pre_hook(lambda m, i: seen.update(joined=i[0])),
    ]
    net.core(rand_image(32, 48, 1))
    for hook in hooks:
        hook.remove()
    assert seen["joined"].shape == (1, spec.outer, 16, 24)
    assert torch.allclose(seen["joined"], seen["encoder"] + seen["decoder"])
    assert all(
        m.mode == "bilinear" for m in net.decode.modules() if isinstance(m, torch.nn.Upsample)
    )


def test_an_earlier_description_builds_the_earlier_network():
    old = {"outer": 16, "inner": 64, "blocks": 5, "separable": True, "skip": True}
    net = build(NetSpec.from_dict(old)).eval()
    assert all(m.mode == "nearest" for m in net.modules() if isinstance(m, torch.nn.Upsample))
    last = net.decode[-1][1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    photo = rand_image(20, 28, 3).clamp(0.01, 0.99)
    assert torch.allclose(net(photo), photo, atol=1e-5)  # unsqueezed skip, no bridge


def _headless_twin(net: torch.nn.Module) -> torch.nn.Module:
    """rt without its head, with ``net``'s other weights."""
    headless = build(dataclasses.replace(ARCHITECTURES["rt"], head=0)).eval()
    headless.load_state_dict({k: v for k, v in net.state_dict().items() if "head" not in k})
    return headless


@pytest.mark.parametrize("reads", ["logits", "photo"])
def test_the_head_starts_as_no_head_and_paints_finer_than_half_size_once_trained(reads):
    """A fresh head adds nothing (the network starts as the headless one); without a head
    the change to the photo's logits is a bilinear doubling of half-size logits, whatever
    the weights; a head (once its weights move) paints changes that no doubling makes."""
    torch.manual_seed(0)
    net = build(dataclasses.replace(ARCHITECTURES["rt"], head_input=reads)).eval()
    headless = _headless_twin(net)
    photo = rand_image(40, 56, 3)
    with torch.no_grad():
        assert torch.equal(net.core(photo), headless.core(photo))

    def change(model: torch.nn.Module) -> torch.Tensor:
        squeezed = (0.5 + (photo - 0.5) * 0.8).clamp(1e-3, 1 - 1e-3)
        with torch.no_grad():
            return torch.logit(model.core(photo).double()) - torch.logit(squeezed.double())

    def doubling(n: int) -> torch.Tensor:  # (2n, n): bilinear doubling along one axis
        eye = torch.eye(n, dtype=torch.float64)[None, None]  # rows of an n x n image
        return F.interpolate(eye, size=(n, 2 * n), mode="bilinear")[0, 0].T

    def off_half_grid(delta: torch.Tensor) -> float:  # what no doubled half-size map explains
        rows, cols = doubling(delta.shape[-2] // 2), doubling(delta.shape[-1] // 2)
        fit = torch.linalg.pinv(rows) @ delta @ torch.linalg.pinv(cols).T
        return float((delta - rows @ fit @ cols.T).abs().max())

    assert off_half_grid(change(headless)) < 1e-4
    with torch.no_grad():
        net.head[-1][-1].weight.normal_(0.0, 0.1)
    assert off_half_grid(change(net)) > 1e-2


def test_rts_head_reads_the_final_logits_with_the_photo_in_them():
    torch.manual_seed(0)
    net = build("rt").eval()
    assert ARCHITECTURES["rt"].head_input == "logits"
    headless = _headless_twin(net)
    seen: list[torch.Tensor] = []
    hook = net.head.register_forward_pre_hook(lambda m, i: seen.append(i[0]))
    photo = torch.cat([rand_image(32, 48, 2), rand_image(32, 48, 3)])
    with torch.no_grad():
        net.core(photo)
        expected = torch.logit(headless.core(photo).double())
    hook.remove()
    assert seen[0].shape == (2, 3, 32, 48)  # three channels: no copy of the photo beside them
    assert torch.allclose(seen[0].double(), expected, atol=1e-4)


def test_the_real_time_network_is_small():
    rt = sum(p.numel() for p in build("rt").parameters())
    hq = sum(p.numel() for p in build("hq").parameters())
    assert rt < 100_000 < hq < 2_000_000  # 0.25 MB and 6 MB as float32 files


def test_with_the_skip_a_network_that_adds_nothing_returns_the_photo_squeezed():
    # the photo enters the skip squeezed into 0.5 +- skip_range / 2: a white sky is 2.2
    # logits from grey, not 6.9, and can still be repainted
    spec = ARCHITECTURES["rt"]
    assert spec.skip and ARCHITECTURES["hq"].skip and spec.skip_range == 0.8
    net = build(spec).eval()
    last = [m for m in net.decode.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    photo = rand_image(30, 44, 5)
    photo[..., :4, :] = 1.0
    photo[..., -4:, :] = 0.0
    assert torch.allclose(net(photo), 0.1 + 0.8 * photo, atol=1e-5)
    unsqueezed = build(dataclasses.replace(spec, skip_range=1.0)).eval()
    unsqueezed.load_state_dict(net.state_dict())
    inside = photo.clamp(0.01, 0.99)
    assert torch.allclose(unsqueezed(inside), inside, atol=1e-5)


def _trained_like(name: str) -> torch.nn.Module:
    """A network with instance-norm affine parameters away from their defaults, in eval
    (``rt+noise``: rt with noise channels)."""
    net = build(NOISY if name == "rt+noise" else name).eval()
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return net


@pytest.mark.parametrize("name", ["rt", "hq", "rt+noise"])
def test_in_tiles_with_the_whole_images_statistics_the_result_is_the_untiled_one(name):
    # with noise: each tile reads the noise field from its own place on the image
    from painterly import transform

    net = _trained_like(name).double()  # float64: a halo too narrow shows above rounding
    image = rand_image(150, 213, seed=7).double()
    with torch.no_grad():
        whole = net(image)
    tiled = transform.stylise_tiled(net, image, 64)
    assert float((tiled - whole).abs().max()) < 1e-9
    assert all(m.fixed is None for m in net.modules() if isinstance(m, transform.Norm))


def test_per_tile_statistics_would_jump_so_the_test_can_fail():
    from painterly import tiles, transform

    net = _trained_like("rt")
    image = rand_image(150, 213, seed=7)
    image[..., :, 100:] *= 0.3  # halves that differ: each tile's own statistics differ too
    with torch.no_grad():
        whole = net(image)
        naive = torch.empty_like(image)
        for t in tiles.plan(150, 213, 64, 48):
            y = net(t.crop(image))
            naive[..., t.y0 : t.y1, t.x0 : t.x1] = y[
                ..., t.y0 - t.cy0 : t.y1 - t.cy0, t.x0 - t.cx0 : t.x1 - t.cx0
            ]
    assert float((naive - whole).abs().max()) > 1e-2
    assert transform.receptive_radius(net) == 56  # strided in, logits doubled, the head
    headless = build(dataclasses.replace(ARCHITECTURES["rt"], head=0))
    assert transform.receptive_radius(headless) == 54
    assert transform.receptive_radius(build("hq")) == 54  # unshuffles in, bilinear out
    nearest = build(dataclasses.replace(ARCHITECTURES["hq"], upsample="nearest"))
    assert transform.receptive_radius(nearest) == 48


@pytest.mark.parametrize("name", ["rt", "hq"])
def test_the_receptive_radius_bounds_what_one_pixel_changes_once_statistics_are_fixed(name):
    from painterly import transform

    net = _trained_like(name)
    image = rand_image(160, 160, seed=2)
    norms = [m for m in net.modules() if isinstance(m, transform.Norm)]
    with torch.no_grad():
        stats = []
        hooks = [
            m.register_forward_pre_hook(
                lambda m, i: stats.append((i[0].mean((2, 3), True), i[0].var((2, 3), False, True)))
            )
            for m in norms
        ]
        base = net(image)
        for h in hooks:
            h.remove()
        for m, s in zip(norms, stats, strict=True):
            m.fixed = s
        poked = image.clone()
        poked[..., 80, 80] += 0.5
        change = (net(poked) - base).abs().sum(1)[0]
        changed = change > 1e-4 * float(change.max())  # above float noise
        for m in norms:
            m.fixed = None
    rows = changed.any(1).nonzero().flatten()
    cols = changed.any(0).nonzero().flatten()
    radius = transform.receptive_radius(net)
    reach = max(
        80 - int(rows.min()), int(rows.max()) - 80, 80 - int(cols.min()), int(cols.max()) - 80
    )
    assert radius // 2 <= reach <= radius


def test_a_zero_padded_network_sees_its_image_framed_by_reflection_at_inference_only():
    """Zero padding inside tells the network where the image ends, and the trained models
    paint a frame there; at inference the image is framed by BORDER px of its reflection
    (replication when it is too small to reflect), and the frame is cropped away."""
    torch.manual_seed(0)
    net = build("rt")
    second = dataclasses.replace(
        ARCHITECTURES["rt"], strided=False, half_out=False, padding="reflect"
    )
    assert net.border == BORDER and build(second).border == 0
    image = rand_image(40, 52)
    with torch.no_grad():
        trained = net(image)  # training mode: the crop is the whole input
        assert torch.equal(trained, net.core(image))
        net.eval()
        framed = F.pad(image, (BORDER,) * 4, mode="reflect")  # 88 x 100: no stride padding
        expected = net.core(framed)[..., BORDER : BORDER + 40, BORDER : BORDER + 52]
        assert torch.allclose(net(image), expected, atol=1e-6)
        assert not torch.allclose(net(image), trained, atol=1e-3)
        line = rand_image(1, 7)  # too small to reflect 24 px: replicated
        assert net(line).shape == (1, 3, 1, 7)
    x, window = frame(image, BORDER)
    assert x.shape[-2:] == (88, 100) and x[window].equal(image)


def test_a_noise_network_paints_a_flat_image_with_varied_strokes_one_without_cannot():
    # the reason for the noise: a network sees a flat sky as the same input everywhere and
    # paints the same stroke everywhere; from the noise it can vary them
    flat = torch.full((1, 3, 96, 128), 0.4)
    spreads = {}
    for noise in (0, 8):
        torch.manual_seed(0)
        net = build(dataclasses.replace(ARCHITECTURES["rt"], noise=noise)).eval()
        with torch.no_grad():
            inside = net(flat)[..., 32:-32, 32:-32]  # away from the zero padding's edges
        spreads[noise] = float(inside.std(dim=(-2, -1)).max())
    assert spreads[0] < 1e-6 < 1e-3 < spreads[8]


def test_the_noise_field_is_fixed_unit_seamless_and_fresh_in_training():
    from painterly.transform import NOISE_PERIOD, NOISE_SEED, noise_field

    field = noise_field(8, NOISE_PERIOD, NOISE_PERIOD, NOISE_SEED, wrap=True)
    assert torch.equal(field, noise_field(8, NOISE_PERIOD, NOISE_PERIOD, NOISE_SEED, wrap=True))
    assert torch.allclose(field.std(dim=(0, 2, 3)), torch.ones(8), atol=0.1)
    # seamless: across the wrap, neighbours differ as little as anywhere inside the field;
    # the coarsest channel (8-cell blotches) would jump there if it only tiled
    coarse = field[0, -1]
    inside = float((coarse[1:] - coarse[:-1]).abs().max())
    assert float((coarse[0] - coarse[-1]).abs().max()) <= inside
    plain = noise_field(8, NOISE_PERIOD, NOISE_PERIOD, NOISE_SEED)[0, -1]
    assert float((plain[0] - plain[-1]).abs().max()) > inside  # so the test can fail
    net = build(NOISY)
    assert torch.equal(net.noise_field, field)  # every model with noise paints from it
    gen = torch.Generator().manual_seed(0)
    crops = rand_image(50, 66)  # padded to 52 x 68 by the network: 13 x 17 at 1/4 size
    first, second = net.draw_noise(crops, gen), net.draw_noise(crops, gen)
    assert first.shape == (1, 8, 13, 17) and not torch.equal(first, second)
    net(crops, first)  # the size the network's 1/4 maps have
    assert build("rt").draw_noise(crops, gen) is None  # rt takes none unless asked


def test_noise_in_descriptions_and_files_of_earlier_versions():
    spec = NOISY
    assert ARCHITECTURES["rt"].noise == 0 and NetSpec.from_dict(spec.to_dict()) == spec
    earlier = {k: v for k, v in spec.to_dict().items() if k != "noise"}
    assert NetSpec.from_dict(earlier).noise == 0  # the bundled models of 2026-12-03
    assert "noise_field" not in build(NetSpec.from_dict(earlier)).state_dict()
    for bad in (-1, 17, 2.0, True, "8", None):
        with pytest.raises(InputError, match="noise="):
            NetSpec.from_dict({**spec.to_dict(), "noise": bad})
