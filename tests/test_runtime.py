import pytest
import torch

from painterly import optimize, runtime
from painterly.settings import InputError, Settings


def test_auto_device_takes_cuda_then_mps_then_the_cpu(monkeypatch):
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    monkeypatch.setattr(runtime, "mps_available", lambda: False)
    assert runtime.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(InputError, match="device=cuda: no CUDA"):
        runtime.resolve_device("cuda")
    with pytest.raises(InputError, match="device=mps: Apple"):
        runtime.resolve_device("mps")
    with pytest.raises(InputError, match="device='tpu'"):
        runtime.resolve_device("tpu")
    monkeypatch.setattr(runtime, "mps_available", lambda: True)
    assert runtime.resolve_device("auto").type == "mps"
    monkeypatch.setattr(runtime, "cuda_available", lambda: True)
    assert runtime.resolve_device("auto").type == "cuda"


def test_seed_resolution_and_generator():
    assert runtime.resolve_seed(7) == 7
    assert 0 <= runtime.resolve_seed(None) < 2**31
    a = torch.rand(3, generator=runtime.generator(1))
    assert torch.equal(a, torch.rand(3, generator=runtime.generator(1)))


def test_memory_estimate_grows_with_size_and_history():
    s = Settings()
    small, large = runtime.estimate_bytes(144, 192, s), runtime.estimate_bytes(384, 512, s)
    assert runtime.BASE_BYTES < small < large
    adam = runtime.estimate_bytes(384, 512, s.replace(optimizer="adam"))
    assert adam < large  # no L-BFGS history
    assert runtime.estimate_bytes(384, 512, s, half=True) < large  # bf16 activations


def test_the_memory_check_counts_bf16_activations_only_when_they_are_used(monkeypatch):
    s = Settings(precision="bf16")
    need = runtime.estimate_bytes(1536, 2048, s, half=True)
    monkeypatch.setattr(runtime, "available_bytes", lambda device: int(need / runtime.HEADROOM) + 1)
    runtime.check_memory(1536, 2048, s, torch.device("cpu"))  # fits with bf16 activations
    whole = s.replace(precision="fp32", tile=0)
    with pytest.raises(InputError, match=r"needs about .* whole \(--tile off\)"):
        runtime.check_memory(1536, 2048, whole, torch.device("cpu"))


def test_the_estimate_counts_each_optimisers_own_state():
    lbfgs, adam = optimize.OPTIMIZERS["lbfgs"], optimize.OPTIMIZERS["adam"]
    opt = lbfgs.make([torch.zeros(1, requires_grad=True)], 1.0)
    assert opt.defaults["history_size"] == lbfgs.history == 50
    assert lbfgs.state_images == 2 * lbfgs.history + 2 and adam.state_images == 2
    s = Settings()
    gap = runtime.estimate_bytes(96, 128, s) - runtime.estimate_bytes(
        96, 128, s.replace(optimizer="adam")
    )
    assert gap == 4 * 3 * 96 * 128 * (lbfgs.state_images - adam.state_images)


def test_too_large_a_run_names_the_largest_size_that_fits(monkeypatch):
    monkeypatch.setattr(runtime, "available_bytes", lambda device: 2 * 2**30)
    s = Settings()
    runtime.check_memory(384, 512, s, torch.device("cpu"))  # fits in 2 GiB
    with pytest.raises(InputError, match=r"about .* even in tiles but 1.8 GiB .*--size \d+ is"):
        runtime.check_memory(3000, 4000, s, torch.device("cpu"))
    monkeypatch.setattr(runtime, "available_bytes", lambda device: 2**20)
    with pytest.raises(InputError, match="no size fits"):
        runtime.check_memory(384, 512, s, torch.device("cpu"))


def test_largest_size_suggested_really_fits(monkeypatch):
    monkeypatch.setattr(runtime, "available_bytes", lambda device: 3 * 2**30)
    s = Settings()
    with pytest.raises(InputError) as exc:
        runtime.check_memory(3000, 4000, s, torch.device("cpu"))
    side = int(str(exc.value).split("--size ")[1].split()[0])
    runtime.check_memory(round(3000 * side / 4000), side, s, torch.device("cpu"))


def test_precision_resolution(monkeypatch):
    cpu = torch.device("cpu")
    assert runtime.resolve_precision("fp32", cpu) is None
    assert runtime.resolve_precision("bf16", cpu) == torch.bfloat16  # forced: works, maybe slowly
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: True)
    assert runtime.resolve_precision("auto", cpu) == torch.bfloat16
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: False)
    assert runtime.resolve_precision("auto", cpu) is None  # emulated bf16 is slower: fall back
    with pytest.raises(InputError, match="bf16: not available on mps"):
        runtime.resolve_precision("bf16", torch.device("mps"))
    assert runtime.resolve_precision("auto", torch.device("mps")) is None


def test_a_scale_that_does_not_fit_whole_is_planned_in_tiles(monkeypatch):
    monkeypatch.setattr(runtime, "available_bytes", lambda device: 64 * 2**30)
    cpu = torch.device("cpu")
    small = runtime.plan_memory(288, 512, Settings(), cpu)
    assert small.tile is None and small.history is None
    # 4K under 6 GiB: too big whole (tens of GiB), so tiles, and a shorter L-BFGS history.
    s = Settings(max_memory=6.0)
    assert runtime.estimate_bytes(2160, 3840, s) > 6 * 2**30
    plan = runtime.plan_memory(2160, 3840, s, cpu)
    assert plan.tile is not None and plan.tile % 16 == 0 and plan.tile >= runtime.MIN_GOOD_TILE
    assert plan.history is not None and plan.history < 50
    assert plan.need <= 6 * 2**30
    half = runtime.resolve_precision(s.precision, cpu) is not None  # bf16 where the CPU has it
    assert plan.need == runtime.tiled_bytes(2160, 3840, plan.tile, plan.history, s, True, half)
    # More memory buys a longer history first; Adam keeps no history.
    roomy = runtime.plan_memory(2160, 3840, Settings(max_memory=20.0), cpu)
    assert roomy.history is not None and roomy.history > plan.history
    adam = runtime.plan_memory(2160, 3840, s.replace(optimizer="adam"), cpu)
    assert adam.tile is not None and adam.history is None
    # --tile PX tiles whatever the memory; a tile as large as the image is the whole image.
    assert runtime.plan_memory(288, 512, Settings(tile=100), cpu).tile == 96
    assert runtime.plan_memory(288, 512, Settings(tile=512), cpu).tile is None
    # --tile off never tiles, and says how large a size fits whole.
    with pytest.raises(InputError, match=r"whole \(--tile off\).*--size \d+ is the largest"):
        runtime.plan_memory(2160, 3840, s.replace(tile=0), cpu)
