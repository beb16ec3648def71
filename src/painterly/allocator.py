"""The C allocator under torch's CPU tensors: keep freed memory for reuse (no torch import)."""

from __future__ import annotations

import functools
import os

# glibc's mallopt parameters (malloc.h); the heap's top kept when freed; glibc's defaults in
# their steady state (blocks over 32 MiB mapped on their own, a freed top over 64 MiB trimmed).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
KEEP_FREED = 1 << 30
GLIBC_MMAP_THRESHOLD, GLIBC_TRIM_THRESHOLD, GLIBC_MMAP_MAX = 32 << 20, 64 << 20, 65536
_state = {"kept": False}
_OWN_ALLOCATOR = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX")


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep the memory that torch frees, for the next tensor of that size.

    By default glibc serves every block over 32 MiB with its own ``mmap`` and returns it to
    the system when freed, so each evaluation of the objective maps, faults in and zeroes its
    activations afresh: a third of the wall time at 1024 px went to the kernel. Serving them
    from the heap and keeping 1 GiB of its freed top made a 512 px stylisation about 16%
    faster, for about 15% more peak memory (docs/benchmarks.md). Called by the command line's
    stylisation (one picture, on the main thread), not on import: a library user's process
    is theirs. Returns whether it took effect; it
    does not where the allocator is not glibc's, where ``MALLOC_*`` variables or a preloaded
    allocator already decide, or with ``PAINTERLY_MALLOC=system``.
    """
    if os.environ.get("PAINTERLY_MALLOC") == "system" or "LD_PRELOAD" in os.environ:
        return False
    if any(name in os.environ for name in _OWN_ALLOCATOR):
        return False
    libc = _glibc()
    if libc is None:
        return False
    kept = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED))
    _state["kept"] = kept
    return kept


def give_back_freed_memory() -> bool:
    """Undo :func:`keep_freed_memory` (if it took effect) for a run planned to a memory budget
    (tiles): a kept heap fragments, and a 4K run under ``--max-memory 6`` kept enough to
    reach the budget's edge (5.96 GiB) early in its finest scale. Large blocks
    are mapped on their own again, as glibc does, and the heap's free memory goes back to
    the system. Returns whether there was anything to undo."""
    libc = _glibc() if _state["kept"] else None
    if libc is None:
        return False
    libc.mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
    libc.mallopt(M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD)
    libc.mallopt(M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD)
    libc.malloc_trim(0)
    _state["kept"] = False
    return True


@functools.cache
def _glibc():
    """glibc's C library, or None elsewhere (looked up once: libc_ver reads the binary)."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


__all__ = ["give_back_freed_memory", "keep_freed_memory"]
