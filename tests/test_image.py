import pytest
import torch

from painterly import image


def test_fit_size_and_resize():
    assert image.fit_size(768, 1024, 512) == (384, 512)
    assert image.fit_size(1000, 10, 100) == (100, 1)
    out = image.resize_long_side(torch.rand(1, 3, 30, 40), 20)
    assert out.shape == (1, 3, 15, 20) and 0 <= out.min() and out.max() <= 1


def test_yiq_roundtrip_and_luminance_of_gray():
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    assert torch.allclose(image.yiq_to_rgb(image.rgb_to_yiq(x)), x, atol=1e-6)
    g = torch.full((1, 3, 2, 2), 0.4)
    yiq = image.rgb_to_yiq(g)
    assert torch.allclose(yiq[:, 0], torch.full((1, 2, 2), 0.4), atol=1e-6)
    assert yiq[:, 1:].abs().max() < 1e-6  # gray has no colour


def test_match_luminance_takes_content_mean_and_std():
    style, content = torch.rand(1, 3, 8, 8) * 0.3, torch.rand(1, 3, 6, 9) * 0.5 + 0.4
    lum = image.match_luminance(style, content)
    target = image.luminance(content)
    assert lum.mean().item() == pytest.approx(target.mean().item(), abs=1e-5)
    assert lum.std().item() == pytest.approx(target.std().item(), rel=1e-4)


def test_with_content_colour_keeps_the_photos_chroma():
    content = torch.rand(1, 3, 6, 6) * 0.5 + 0.25
    out = image.with_content_colour(image.luminance(content), content)
    assert torch.allclose(out, content, atol=1e-5)
    bright = image.with_content_colour(image.luminance(content) + 0.1, content)
    assert torch.allclose(
        image.rgb_to_yiq(bright)[:, 1:], image.rgb_to_yiq(content)[:, 1:], atol=1e-4
    )


def test_colour_statistics_match_the_content():
    gen = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 32, 32, generator=gen) * torch.tensor([0.3, 0.2, 0.5]).view(1, 3, 1, 1)
    content = torch.rand(1, 3, 24, 40, generator=gen) * 0.4 + torch.tensor([0.5, 0.2, 0.1]).view(
        1, 3, 1, 1
    )
    out = image.match_colour_statistics(style, content)
    assert out.shape == style.shape
    flat_o, flat_c = out.reshape(3, -1).double(), content.reshape(3, -1).double()
    assert torch.allclose(flat_o.mean(1), flat_c.mean(1), atol=1e-3)
    assert torch.allclose(torch.cov(flat_o), torch.cov(flat_c), atol=2e-3)


def test_colour_moments_in_chunks_equal_the_whole_images():
    picture = torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(3))
    mean, cov = image.colour_moments(picture, chunk=100)  # 20 chunks, the last one short
    flat = picture.double().reshape(3, -1)
    assert torch.allclose(mean, flat.mean(1, keepdim=True), atol=1e-12)
    assert torch.allclose(cov, torch.cov(flat), atol=1e-12)


def test_matching_colour_statistics_gives_the_targets_moments():
    gen = torch.Generator().manual_seed(4)
    source = torch.rand(1, 3, 40, 50, generator=gen) ** 2  # no clamping in the map to target
    target = torch.rand(1, 3, 30, 20, generator=gen) * 0.4 + 0.3
    target[:, 1] = 0.5 * target[:, 0] + 0.2  # correlated channels
    out = image.match_colour_statistics(source, target)
    assert out.dtype == source.dtype and out.shape == source.shape
    (m_out, c_out), (m_t, c_t) = image.colour_moments(out), image.colour_moments(target)
    assert torch.allclose(m_out, m_t, atol=0.01) and torch.allclose(c_out, c_t, atol=0.005)


def test_recolour_gives_the_moments_asked_for():
    gen = torch.Generator().manual_seed(5)
    picture = torch.rand(1, 3, 30, 40, generator=gen) * 0.5 + 0.25
    target = torch.rand(1, 3, 20, 20, generator=gen) * 0.3 + 0.2
    target[:, 2] = 0.7 * target[:, 1] + 0.1  # correlated channels
    mean, cov = image.colour_moments(target)
    out = image.recolour(picture, mean, cov)
    assert out.dtype == picture.dtype and out.shape == picture.shape
    m_out, c_out = image.colour_moments(out)
    assert torch.allclose(m_out, mean, atol=0.01) and torch.allclose(c_out, cov, atol=0.005)
    flat = image.recolour(torch.full((1, 3, 1, 9), 0.5), mean, cov)  # no spread: the mean
    assert torch.allclose(flat.double(), mean.view(1, 3, 1, 1).expand_as(flat), atol=1e-6)
