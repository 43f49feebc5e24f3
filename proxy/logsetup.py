"""Point the `ccb.bridge` logger at a rotating file (and stderr). Does file I/O.

What is logged: one line per request (method, path, status, time) and per engine error. Never keys or
tokens; request bodies only with `log_bodies`.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 3


def setup(path: Path, *, log_bodies: bool = False, echo: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("ccb.bridge")
    logger.setLevel(logging.DEBUG if log_bodies else logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                        encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(file_handler)
    path.chmod(0o600)  # bodies, when asked for, may hold private code
    if echo:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        stream.setLevel(logging.INFO)
        logger.addHandler(stream)
    return path
