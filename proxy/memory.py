"""Give memory back to the system once a burst of large requests is over. Linux (glibc) only; elsewhere a no-op.

A 630 KB request makes the bridge hold its body, the parsed request and the engine's body at once; 32 of them
in flight take ~80 MB more than an idle bridge. CPython frees those objects at once, but glibc keeps the freed
heap for reuse, so the process would stay at its peak for the rest of its life. `Trimmer` calls
`malloc_trim(0)` once the bridge has been idle for a moment after a large request: nothing is paid while
requests keep coming, and an idle bridge goes back to about its start-up size.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import sys
from collections.abc import Callable

LARGE = 256 * 1024  # a request body from this size on leaves enough behind to be worth trimming
QUIET = 0.5  # seconds without any request before trimming


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl and other libcs have no malloc_trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


class Trimmer:
    """Counts requests in flight; after a large one, trims once all are done and QUIET seconds have passed."""

    __slots__ = ("_busy", "_pending", "_timer", "trims")

    def __init__(self) -> None:
        self._busy = 0
        self._pending = False
        self._timer: asyncio.TimerHandle | None = None
        self.trims = 0

    def started(self) -> None:
        self._busy += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def finished(self, body_size: int | None) -> None:
        self._busy -= 1
        if body_size is not None and body_size >= LARGE:
            self._pending = True
        if self._pending and not self._busy and _TRIM is not None:
            self._timer = asyncio.get_running_loop().call_later(QUIET, self._trim)

    def _trim(self) -> None:
        self._timer = None
        if self._busy or not self._pending or _TRIM is None:
            return
        self._pending = False
        _TRIM(0)
        self.trims += 1
