"""Keep freed memory in the process for the next batch (glibc's malloc only).

A batch allocates arrays of megabytes (a 256 x 256 basin map: about 15 MB in all). glibc
serves such sizes from fresh pages of the kernel each time, and hands freed memory back at
once: every batch then pays a page fault per 4 KiB it touches, about 2.4 ms for 4 MB on this
machine, 13 of a basin map's 68 ms (measured). Raising malloc's thresholds keeps freed
memory for reuse: the process holds at most `keep_mb` more than it uses.

Called by `main.py` for the window and the commands; a notebook that imports sim keeps its
own malloc settings unless it calls this.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_MAX = 32 << 20  # glibc's largest allowed mmap threshold on 64-bit systems


def retain_freed_memory(keep_mb: int = 256) -> bool:
    """Serve allocations up to 32 MB from the heap and keep up to `keep_mb` MB of freed heap
    for reuse. True when set (glibc on Linux), False elsewhere (nothing changes)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    keep = min(max(int(keep_mb), 0), 2047) << 20  # (mallopt takes a C int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, keep))
