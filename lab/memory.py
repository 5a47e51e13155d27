"""Keeping the server's memory down: the allocator's settings, and freed memory handed back.

- ``configure_allocator``: glibc raises its mmap threshold every time a large block is freed (up
  to 32 MB), so after the first few tensors are freed, tensors of a few MB come from the heap and
  stay in the process once freed. A fixed threshold gives every tensor above it its own mapping,
  returned to the OS when the tensor goes: fine-tuning's peak then no longer stacks on what
  earlier work left in the heap.
- ``release``: after a large job (a training run), return what the heap still keeps.

Equal tensors of the cached models are not shared: their weights are memory-mapped from the
safetensors files and only the rows in use (most of the vocabulary's embeddings are never read)
become resident, while comparing tensors would read them all in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import platform
from functools import lru_cache

M_MMAP_THRESHOLD = -3  # mallopt parameter numbers, from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 1 << 20


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def configure_allocator(mmap_threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (a no-op elsewhere). True when it was set."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)))


def release() -> None:
    """Collect garbage and hand the heap's free memory back to the OS (glibc only)."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
