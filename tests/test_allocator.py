"""The command line keeps freed memory for reuse instead of faulting it in again."""

from __future__ import annotations

import platform
import resource

import pytest
import torch

from painterly import allocator

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)


def faults(step) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc
def test_freed_activations_are_reused_without_faulting_them_in_again(monkeypatch):
    for name in ("PAINTERLY_MALLOC", "LD_PRELOAD", *allocator._OWN_ALLOCATOR):
        monkeypatch.delenv(name, raising=False)
    assert allocator.keep_freed_memory()
    conv = torch.nn.Conv2d(3, 64, 3, padding=1)
    image = torch.rand(1, 3, 512, 512)

    def step() -> None:
        with torch.no_grad():
            float(torch.relu(conv(image)).sum())  # two 64 MiB maps, freed at once

    step()
    pages = 64 * 2**20 // resource.getpagesize()
    # glibc's default maps each map afresh and faults in all its pages every time: about
    # 5 x 3 x pages here. Kept, the heap serves them again.
    assert sum(faults(step) for _ in range(5)) < 3 * pages


@pytest.mark.parametrize(
    "env", [{"PAINTERLY_MALLOC": "system"}, {"MALLOC_ARENA_MAX": "2"}, {"LD_PRELOAD": "x.so"}]
)
def test_the_users_own_allocator_settings_are_left_alone(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert not allocator.keep_freed_memory()


@glibc
def test_a_run_in_tiles_gives_the_kept_memory_back(monkeypatch):
    """A memory budget needs glibc's own mapping of large blocks (no fragmenting kept heap)."""
    for name in ("PAINTERLY_MALLOC", "LD_PRELOAD", *allocator._OWN_ALLOCATOR):
        monkeypatch.delenv(name, raising=False)
    assert allocator.keep_freed_memory()
    assert allocator.give_back_freed_memory()
    assert not allocator.give_back_freed_memory()  # nothing left to undo
    numel = 64 * 2**20 // 4
    pages = 64 * 2**20 // resource.getpagesize()

    def fill() -> None:
        torch.empty(numel).fill_(1.0)

    fill()
    # Mapped on its own and unmapped when freed, as glibc does by default: every use faults.
    assert faults(fill) > pages // 2


@pytest.mark.parametrize(
    ("argv", "kept"),
    [
        (["resume", "missing.ckpt"], True),  # a resumed stylisation: one picture, main thread
        # threads: their arenas need mmap for large blocks
        (["batch", "missing.jpg", "--style", "missing.jpg", "-o", "out"], False),
    ],
)
def test_only_the_single_picture_commands_keep_freed_memory(monkeypatch, tmp_path, argv, kept):
    from painterly import cli

    calls: list[bool] = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(True) or True)
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2  # the missing file is refused; the allocator was set before
    assert bool(calls) is kept
