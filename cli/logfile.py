"""The bridge's rotating log file under the platformdirs log dir. Does file I/O.

What is logged: one line per request (method, path, status, time) and per answer (model, token counts).
Never keys, tokens or bodies; bodies only with `--log-bodies` (for debugging a dialect).
"""

from __future__ import annotations

from pathlib import Path

from ccb.cli import paths


def bridge_log() -> Path:
    return paths.log_dir() / "bridge.log"


def setup_bridge_log(*, log_bodies: bool = False, echo: bool = False) -> Path:
    """Send the `ccb.bridge` logger to the rotating file (and to stderr when `echo`)."""
    from ccb.cli.fileio import ensure_dir
    from ccb.proxy.logsetup import setup

    ensure_dir(paths.log_dir())  # 0700, closed again if an older ccb or a loose umask left it open
    return setup(bridge_log(), log_bodies=log_bodies, echo=echo)
