"""The bridge's rotating log file under the platformdirs log dir. Does file I/O.

What is logged: one line per request (method, path, status, time) and per answer (model, token counts).
Never keys, tokens or bodies; bodies only with `--log-bodies` (for debugging a dialect).
"""

from __future__ import annotations

from pathlib import Path

from ccb.cli import paths


def setup_bridge_log(*, log_bodies: bool = False, echo: bool = False) -> Path:
    """Send the `ccb.bridge` logger to the rotating file (and to stderr when `echo`)."""
    from ccb.cli.fileio import ensure_dir
    from ccb.proxy.logsetup import setup

    path = paths.bridge_log_file()
    ensure_dir(path.parent)  # 0700, closed again if an older ccb or a loose umask left it open
    return setup(path, log_bodies=log_bodies, echo=echo)
