"""`ccb logs [-f]`: show or follow the bridge's log (cli/logfile.py says what is in it)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ccb.cli import render
from ccb.cli.paths import bridge_log_file


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
    path = bridge_log_file()
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
