"""Point the `ccb.bridge` logger at a rotating file (and stderr). Does file I/O.

What is logged: one line per request (method, path, status, time) and per engine error. Never keys or
tokens; request bodies only with `log_bodies`.

Every log file is created 0600 (bodies, when asked for, may hold private code), rotated files included,
and never opened through a symlink: a link in a log's place is replaced by a fresh file, so a link planted
in the log folder cannot make ccb overwrite or chmod another file. asyncio's own error messages (a burst
of "out of file descriptors" when the bridge is flooded with connections) are rate-limited.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import stat
import time
from pathlib import Path

from ccb.proxy.privatefiles import make_dirs, open_private

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 3


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose every file (the first, and each one after a rollover) is 0600 from its
    first byte and is never a symlink's target.

    It also costs less per line: the standard one formats every record twice (once to size it) and looks the
    file up by name twice, then seeks and tells; this one formats once and asks the open file its size."""

    _formatted: tuple[logging.LogRecord, str] | None = None

    def _open(self) -> io.TextIOWrapper:
        fd = open_private(self.baseFilename, os.O_WRONLY | os.O_APPEND)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)

    def format(self, record: logging.LogRecord) -> str:
        last = self._formatted
        if last is not None and last[0] is record:
            return last[1]
        text = super().format(record)
        self._formatted = (record, text)
        return text

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if self.stream is None:
            self.stream = self._open()
        if self.maxBytes <= 0:
            return False
        info = os.fstat(self.stream.fileno())
        # Only a regular file is rotated (as the standard handler does since Python 3.11: never /dev/null).
        # Its size counts every process's lines: each line is flushed as it is written.
        return stat.S_ISREG(info.st_mode) and info.st_size + len(self.format(record)) + 1 >= self.maxBytes


class RateLimit(logging.Filter):
    """At most `burst` records with the same message per `window` seconds; then one note and silence."""

    def __init__(self, burst: int = 5, window: float = 60.0) -> None:
        super().__init__()
        self.burst, self.window = burst, window
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)[:200]
        now = time.monotonic()
        start, count = self._seen.get(key, (now, 0))
        if now - start > self.window:
            start, count = now, 0
        count += 1
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = (start, count)
        if count == self.burst + 1:
            record.msg = f"{record.msg} (repeated; more of these are dropped for {self.window:g} s)"
            record.exc_info = record.exc_text = None
            return True
        return count <= self.burst


def make_private_tree(path: Path) -> None:
    """The log's folder (and missing parents) 0700 whatever the umask; older rotated files closed to 0600."""
    make_dirs(path.parent)
    for index in range(1, BACKUPS + 1):
        old = Path(f"{path}.{index}")
        try:
            info = old.lstat()
            if not old.is_symlink() and info.st_mode & 0o077 and info.st_uid == os.geteuid():
                old.chmod(0o600)
        except OSError:
            continue


def setup(path: Path, *, log_bodies: bool = False, echo: bool = False) -> Path:
    make_private_tree(path)
    logger = logging.getLogger("ccb.bridge")
    logger.setLevel(logging.DEBUG if log_bodies else logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    file_handler = PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(file_handler)
    if echo:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        stream.setLevel(logging.INFO)
        logger.addHandler(stream)
    aio = logging.getLogger("asyncio")
    if not any(isinstance(f, RateLimit) for f in aio.filters):
        aio.addFilter(RateLimit())
    for handler in list(aio.handlers):
        if isinstance(handler, PrivateRotatingFileHandler):
            aio.removeHandler(handler)
            handler.close()
    aio.propagate = True
    if not echo:  # a background bridge: its stderr is a plain file, so asyncio's messages go to the rotating log
        aio.propagate = False
        aio.addHandler(file_handler)
    return path
