"""Keeps the long-running tailer's RSS flat: pins glibc's mmap threshold.

glibc raises its mmap threshold after a large mmapped block is freed; from then on the
tailer's large buffers (line blocks, the brute-force window's table when it rebuilds
under churn) come from the main heap and fragment it, so RSS creeps up by about 1 MB
per 500,000 lines while Python's own objects stay flat. A fixed threshold (the
``M_MMAP_THRESHOLD`` mallopt, as ``MALLOC_MMAP_THRESHOLD_`` does) turns that adjustment
off: blocks above it are mmapped and returned to the system when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def pin_mmap_threshold(threshold_bytes: int) -> bool:
    """Set glibc's mmap threshold; False where there is no glibc or 0 asks for none."""
    if threshold_bytes <= 0 or not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold_bytes)))
