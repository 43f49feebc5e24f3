"""The bridge's rotating log under the platformdirs log dir, and `ccb logs [-f]`. Does file I/O.

What is logged: one line per request (method, path, status, time) and per answer (model, token counts).
Never keys, tokens or bodies; bodies only with `--log-bodies` (for debugging a dialect).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ccb.cli import paths, render


def bridge_log() -> Path:
    return paths.log_dir() / "bridge.log"


def setup_bridge_log(*, log_bodies: bool = False, echo: bool = False) -> Path:
    """Send the `ccb.bridge` logger to the rotating file (and to stderr when `echo`)."""
    from ccb.cli.fileio import ensure_dir
    from ccb.proxy.logsetup import setup

    ensure_dir(paths.log_dir())  # 0700, closed again if an older ccb or a loose umask left it open
    return setup(bridge_log(), log_bodies=log_bodies, echo=echo)


def logs(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines as they come.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many of the last lines to show.")] = 50,
    path_only: Annotated[bool, typer.Option("--path", help="Print the log file's path and exit.")] = False,
) -> None:
    """Show the bridge's log (requests, statuses, timings, token counts).

    Examples:

        ccb logs

        ccb logs -f
    """
    path = bridge_log()
    if path_only:
        render.out.print(str(path), markup=False)
        return
    if not path.exists():
        render.info(f"No bridge log yet ({path}): it appears once `ccb serve` or `ccb launch` has run a bridge.")
        return
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh.readlines()[-lines:] if lines > 0 else []:
            render.out.print(line.rstrip("\n"), markup=False, highlight=False)
        if not follow:
            return
        try:
            while True:
                line = fh.readline()
                if line:
                    render.out.print(line.rstrip("\n"), markup=False, highlight=False)
                    continue
                time.sleep(0.25)
                if path.exists() and path.stat().st_size < fh.tell():  # rotated: start on the new file
                    fh.close()
                    fh = path.open("r", encoding="utf-8", errors="replace")
        except KeyboardInterrupt:
            return
