import pytest
import torch

from painterly import losses


def test_gram_hand_computed():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, H*W=2
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / 2.0
    assert torch.allclose(losses.gram(f)[0], expected)


def test_gram_is_size_free_for_tiled_features():
    f = torch.rand(1, 4, 3, 5)
    tiled = f.repeat(1, 1, 2, 2)
    assert torch.allclose(losses.gram(f), losses.gram(tiled), atol=1e-6)


def test_gram_same_in_either_layout_with_its_gradient():
    f = torch.rand(2, 5, 3, 4, dtype=torch.float64, requires_grad=True)
    last = f.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    assert not last.is_contiguous()  # the channels-last path is the one taken
    a, b = losses.gram(f), losses.gram(last)
    assert torch.allclose(a, b, rtol=0, atol=1e-12)
    weights = torch.rand(5, 5, dtype=torch.float64)
    (a * weights).sum().backward()
    (b * weights).sum().backward()
    assert torch.allclose(f.grad, last.grad, rtol=0, atol=1e-12)


def test_relative_error_hand_computed_and_zero():
    t = torch.tensor([[3.0, 4.0]])
    assert losses.relative_error(t, t).item() == 0.0
    assert losses.relative_error(torch.zeros(1, 2), t).item() == pytest.approx(1.0)
    x = torch.tensor([[3.0, 6.0]])  # ||(0, 2)||^2 / ||(3, 4)||^2 = 4 / 25
    assert losses.relative_error(x, t).item() == pytest.approx(4 / 25)


def test_content_loss_is_scale_free():
    x, t = torch.rand(1, 8, 4, 4), torch.rand(1, 8, 4, 4)
    assert losses.content_loss(100 * x, 100 * t).item() == pytest.approx(
        losses.content_loss(x, t).item(), rel=1e-5
    )


def test_style_loss_zero_for_own_gram_and_hand_value():
    f = torch.rand(1, 3, 4, 4)
    assert losses.style_loss(f, losses.gram(f)).item() == pytest.approx(0.0, abs=1e-12)
    # Doubling features quadruples the Gram: relative error (4 - 1)^2 = 9.
    assert losses.style_loss(2 * f, losses.gram(f)).item() == pytest.approx(9.0, rel=1e-5)


def test_tv_constant_is_zero_and_hand_value():
    assert losses.tv_loss(torch.full((1, 3, 5, 5), 0.3)).item() == 0.0
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 2, 4)  # dx = 1 everywhere, dy = 0
    assert losses.tv_loss(ramp).item() == pytest.approx(1.0)


def test_batch_consistency():
    x, t = torch.rand(2, 4, 3, 3), torch.rand(2, 4, 3, 3)
    per_item = [losses.content_loss(x[i : i + 1], t[i : i + 1]) for i in range(2)]
    assert losses.content_loss(x, t).item() == pytest.approx(sum(per_item).item() / 2, rel=1e-6)
    g = losses.gram(x)
    assert torch.allclose(g[1], losses.gram(x[1:])[0])


@pytest.mark.parametrize(
    "call",
    [
        lambda: losses.gram(torch.rand(3, 4, 4)),
        lambda: losses.content_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5)),
        lambda: losses.tv_loss(torch.rand(3, 4)),
        lambda: losses.relative_error(torch.rand(3), torch.rand(3)),
    ],
)
def test_bad_shapes_raise(call):
    with pytest.raises(ValueError):
        call()


def test_gradcheck_float64():
    x = torch.rand(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    g = losses.gram(torch.rand(1, 3, 4, 5, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda a: losses.content_loss(a, t), (x,))
    assert torch.autograd.gradcheck(lambda a: losses.style_loss(a, g), (x,))
    assert torch.autograd.gradcheck(losses.tv_loss, (x,))
    assert torch.autograd.gradcheck(losses.gram, (x,))


def test_mean_cov_hand_computed():
    f = torch.tensor([[1.0, 3.0], [2.0, 2.0]]).view(1, 2, 1, 2)
    mean, cov = losses.mean_cov(f)
    assert torch.allclose(mean, torch.tensor([[2.0, 2.0]]))
    assert torch.allclose(cov, torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]))


def test_wasserstein2_one_channel_hand_value_and_zero():
    # One channel: W2^2 = (m - m_t)^2 + (sd - sd_t)^2; relative to m_t^2 + var_t.
    f = torch.tensor([1.0, 3.0, 1.0, 3.0]).view(1, 1, 2, 2)  # mean 2, sd 1
    t = torch.tensor([[0.0]]), torch.tensor([[[2.0]]])  # mean 0, sd 2
    expected = ((2 - 0) ** 2 + (1 - 2) ** 2) / (0 + 4)
    assert losses.wasserstein2_loss(f, *t).item() == pytest.approx(expected, rel=1e-5)
    m, c = losses.mean_cov(f)
    assert losses.wasserstein2_loss(f, m, losses.sqrtm_psd(c)).item() == pytest.approx(0, abs=1e-5)
    zero = torch.zeros(1, 1, 2, 2)
    assert losses.wasserstein2_loss(zero, *t).item() == pytest.approx(1.0, rel=1e-5)


def test_wasserstein2_zero_for_own_statistics_many_channels():
    f = torch.rand(1, 6, 5, 5, dtype=torch.float64)
    m, c = losses.mean_cov(f)
    assert losses.wasserstein2_loss(f, m, losses.sqrtm_psd(c)).item() == pytest.approx(0, abs=1e-6)
    assert losses.wasserstein2_loss(2 * f, m, losses.sqrtm_psd(c)).item() > 0.1


def test_wasserstein2_gradcheck_float64():
    x = torch.rand(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    m, c = losses.mean_cov(torch.rand(1, 3, 4, 5, dtype=torch.float64) * 2)
    root = losses.sqrtm_psd(c)
    assert torch.autograd.gradcheck(lambda a: losses.wasserstein2_loss(a, m, root), (x,))


def test_guided_statistics_see_only_their_region():
    f = torch.rand(1, 4, 6, 8, dtype=torch.float64)
    ones = torch.ones(1, 1, 6, 8, dtype=torch.float64)
    assert torch.allclose(losses.gram(f, ones), losses.gram(f))
    left = torch.zeros(1, 1, 6, 8, dtype=torch.float64)
    left[..., :4] = 1
    assert torch.allclose(losses.gram(f, left), losses.gram(f[..., :4]))
    m, c = losses.mean_cov(f, left)
    m_ref, c_ref = losses.mean_cov(f[..., :4].contiguous())
    assert torch.allclose(m, m_ref) and torch.allclose(c, c_ref)
    with pytest.raises(ValueError, match="do not fit"):
        losses.gram(f, torch.ones(1, 1, 3, 3))


def test_bf16_features_give_float32_statistics_close_to_float32_ones():
    torch.manual_seed(0)
    f = torch.rand(1, 16, 24, 24)
    half = f.bfloat16()
    g = losses.gram(half)
    assert g.dtype == torch.float32
    # bf16 products, float32 accumulation: only the inputs' and result's rounding remains.
    assert losses.relative_error(g, losses.gram(half.float())) < 1e-4
    assert losses.relative_error(g, losses.gram(f)) < 1e-4
    mask = torch.rand(1, 1, 24, 24)
    assert losses.gram(half, mask).dtype == torch.float32
    assert losses.relative_error(half, f).dtype == torch.float32
    mean, cov = losses.mean_cov(half)
    assert mean.dtype == cov.dtype == torch.float32
    # Centred before the product: the covariance is as close as the Gram matrix, even for
    # features whose mean is large beside their spread, channels last or not.
    offset = half.float() + 4.0
    for shifted in (
        offset.bfloat16(),
        offset.bfloat16().contiguous(memory_format=torch.channels_last),
    ):
        mean, cov = losses.mean_cov(shifted)
        mean_ref, cov_ref = losses.mean_cov(shifted.double())
        assert losses.relative_error(mean, mean_ref.float()) < 1e-10
        assert losses.relative_error(cov, cov_ref.float()) < 1e-4


def test_mean_cov_gradcheck_float64_with_and_without_weights():
    # The centring takes the mean as a constant; the gradient must still be the whole one.
    x = torch.rand(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(1, 1, 4, 5, dtype=torch.float64)
    for weights in (None, mask):
        assert torch.autograd.gradcheck(lambda a, w=weights: losses.mean_cov(a, w), (x,))
