"""Atomic, permission-aware JSON file helpers. Does file I/O, nothing else."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ccb.cli.errors import CcbError


def read_json(path: Path, *, default: Any = None) -> Any:
    """Read a JSON file; `default` when it does not exist; a clear error when it is not valid JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    if not text.strip():
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CcbError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "ccb left it untouched: fix or move it, then run the command again"
        ) from exc


def write_json_atomic(path: Path, data: Any, *, mode: int | None = None) -> None:
    """Write JSON through a temporary file in the same folder and rename it into place.

    A reader (or a crash) sees the old file or the new one, never a partial one. `mode` sets the
    permissions before any byte is written; otherwise an existing file keeps its mode.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
