"""What the bridge's process entries share: the spec, handed over in a private file, and their lines on stderr.

`ccb serve` (and `ccb.proxy.keeper` for each bridge it starts) writes the bridge's configuration, keys included,
to an unlinked 0600 file and passes its descriptor number in CCB_BRIDGE_SPEC_FD; `python -m ccb.proxy serve` and
the keeper read it once with `read_spec`. Does file I/O.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

SPEC_VAR = "CCB_BRIDGE_SPEC_FD"


def spec_fd(text: str) -> int:
    """An inheritable descriptor of an unlinked 0600 file holding `text`, for the exec'd bridge to read."""
    import tempfile

    with tempfile.TemporaryFile() as fh:
        fh.write(text.encode("utf-8"))
        fh.flush()
        fd = os.dup(fh.fileno())
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd


def read_spec() -> str | None:
    """The spec `spec_fd` handed over, read once (the variable is removed and the descriptor closed); None when
    this process was not started with one."""
    raw = os.environ.pop(SPEC_VAR, None)
    if raw is None or not raw.isdigit():
        return None
    fd = int(raw)
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read().decode("utf-8")
    except OSError:
        return None


def spec(
    config_dict: dict[str, Any],
    host: str,
    port: int,
    *,
    show_token: bool,
    log: Path,
    exports: dict[str, str] | None = None,
    echo: bool = True,
    workers: int = 1,
    background: str | None = None,
) -> str:
    """`exports`: further variables for the lines Claude Code's users paste (models, window, output limit).
    `echo`: log lines on stderr too (not for a background bridge, whose stderr is a plain file).
    `workers`: bridge processes sharing the port (`ccb.proxy.workers`).
    `background`: the profile a background bridge (`ccb serve --detach`, run by `ccb.proxy.keeper`) serves."""
    return json.dumps(
        {
            "config": config_dict,
            "host": host,
            "port": port,
            "show_token": show_token,
            "log": str(log),
            "exports": exports or {},
            "echo": echo,
            "workers": workers,
            "background": background,
        }
    )


def say(line: str) -> None:
    """One line for the person who started the bridge, on stderr at once."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
