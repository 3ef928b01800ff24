"""Keeping a long streaming run's C heap from holding memory it has freed.

CPython hands every block over 512 bytes (dict tables, list arrays, NumPy buffers) to the C
allocator. glibc's ``malloc`` serves large blocks with ``mmap`` and gives them back on ``free``,
but it raises that threshold each time such a block is freed (up to 32 MB), so the tables of
a gigawatt run's 400,000-entry dicts and each chunk's column lists soon come from the heap, which
gives memory back only from its top. Over eight simulated days the heap's free space rose from
40 to 96 MB (``mallinfo2``) and resident memory with it, in steps, while the objects stayed
flat (docs/benchmarks.md "The C heap and the table of live jobs").

:class:`HeapTrimmer` does two things, both process-wide (the process running a streaming twin
is a simulation's): it fixes the mmap threshold (``mallopt(M_MMAP_THRESHOLD)``; this also
turns the raising off for good, glibc cannot read the setting back), so large blocks go back to
the system when freed; and, called between chunks, ``malloc_trim(0)`` releases the free pages
left inside the heap (what Dask workers call for the same reason). Where the C library has
neither (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Final

#: glibc's ``M_MMAP_THRESHOLD`` parameter of ``mallopt`` (malloc.h).
_M_MMAP_THRESHOLD: Final = -3
#: Blocks from this size on are mmapped (glibc's own starting value is 128 KiB).
MMAP_THRESHOLD_BYTES: Final = 256 * 1024


class HeapTrimmer:
    """Fixes glibc's mmap threshold when made; each call trims the heap (see the module)."""

    def __init__(self, mmap_threshold: int | None = MMAP_THRESHOLD_BYTES) -> None:
        self._trim: Callable[[int], int] | None = None
        #: calls that reached ``malloc_trim``
        self.trims = 0
        #: whether the mmap threshold was fixed
        self.threshold_fixed = False
        try:
            libc = ctypes.CDLL(None)
            trim, mallopt = libc.malloc_trim, libc.mallopt
        except (OSError, AttributeError):
            return
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        self._trim = trim
        if mmap_threshold is not None:
            self.threshold_fixed = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold))

    @property
    def available(self) -> bool:
        """Whether this C library can trim (glibc)."""
        return self._trim is not None

    def __call__(self) -> bool:
        """Release the heap's free pages; True when some memory went back to the system."""
        if self._trim is None:
            return False
        self.trims += 1
        return bool(self._trim(0))
