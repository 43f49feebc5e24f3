"""Files and folders only their owner can read: ccb's logs, records and spec files. Does file I/O.

The bridge's log setup and the CLI's stores both use these, so a file ccb writes is 0600 from its first byte
whatever the umask, and a symlink planted in its place can never make ccb write to (or chmod) another file.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """os.open for a file only its owner can read, never through a symlink: a link in its place (someone
    else's trap, or a stale one) is removed and a fresh file created. A file already open to others is
    closed down to 0600."""
    flags |= os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        os.unlink(path)
        fd = os.open(path, flags | os.O_EXCL, 0o600)
    try:
        info = os.fstat(fd)
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


def make_dirs(folder: Path) -> None:
    """Create `folder` and any missing parent as 0700 whatever the umask (folders that exist are left as they
    are: which of them to close is the caller's rule)."""
    missing: list[Path] = []
    current = folder
    while not os.path.lexists(current) and current.parent != current:
        missing.append(current)
        current = current.parent
    for item in reversed(missing):
        try:
            item.mkdir(mode=0o700)
        except FileExistsError:
            pass
