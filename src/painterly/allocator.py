"""The C allocator under torch's CPU tensors: keep freed memory for reuse (no torch import)."""

from __future__ import annotations

import os

# glibc's mallopt parameters (malloc.h) and the heap's top kept when freed.
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
KEEP_FREED = 1 << 30
_OWN_ALLOCATOR = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX")


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep the memory that torch frees, for the next tensor of that size.

    By default glibc serves every block over 32 MiB with its own ``mmap`` and returns it to
    the system when freed, so each evaluation of the objective maps, faults in and zeroes its
    activations afresh: a third of the wall time at 1024 px went to the kernel. Serving them
    from the heap and keeping 1 GiB of its freed top made a 512 px stylisation about 16%
    faster, for about 15% more peak memory (docs/benchmarks.md). Called by the command line,
    not on import: a library user's process is theirs. Returns whether it took effect; it
    does not where the allocator is not glibc's, where ``MALLOC_*`` variables or a preloaded
    allocator already decide, or with ``PAINTERLY_MALLOC=system``.
    """
    if os.environ.get("PAINTERLY_MALLOC") == "system" or "LD_PRELOAD" in os.environ:
        return False
    if any(name in os.environ for name in _OWN_ALLOCATOR):
        return False
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED))


__all__ = ["keep_freed_memory"]
