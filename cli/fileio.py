"""Atomic, permission-aware JSON file helpers. Does file I/O, nothing else."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
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
        return json.loads(
            text, parse_float=_parse_float, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates
        )
    except DuplicateKey as exc:
        raise CcbError(
            f"{path} has the key {exc.key!r} twice in one object; Claude Code would use only the last "
            "one, so ccb left the file untouched: remove one of them, then run the command again"
        ) from exc
    except json.JSONDecodeError as exc:
        raise CcbError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "ccb left it untouched: fix or move it, then run the command again"
        ) from exc
    except ValueError as exc:  # NaN, Infinity: JavaScript's JSON.parse refuses them too
        raise CcbError(
            f"{path} is not valid JSON ({exc}); ccb left it untouched: fix or move it, then run the command again"
        ) from exc


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return result


def write_json_atomic(path: Path, data: Any, *, mode: int | None = None) -> None:
    """Write JSON through a temporary file in the same folder and rename it into place.

    A reader (or a crash) sees the old file or the new one, never a partial one. `mode` sets the
    permissions before any byte is written; otherwise an existing file keeps its mode and a new one is 0600.
    The temporary file carries this process's id, so the next write removes one a kill left behind.
    """
    ensure_dir(path.parent)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o600
    sweep_stale_temps(path.parent, f".{path.name}.")
    text = dumps_json(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class RawNumber(str):
    """A JSON number a double cannot hold (`1e999`, `1e-400`), kept as written so a round trip leaves it unchanged."""


def _parse_float(text: str) -> float | RawNumber:
    value = float(text)
    if not math.isfinite(value) or (value == 0 and any(c in "123456789" for c in re.split("[eE]", text)[0])):
        return RawNumber(text)  # too large (inf) or too small (0.0) for a double: keep it as written
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps_json(data: Any) -> str:
    """JSON text as ccb writes files: numbers read as RawNumber come back as written, lone surrogates as
    \\u escapes (JSON allows them; UTF-8 cannot carry them), and never NaN or Infinity."""
    raws: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, RawNumber):
            raws.append(str(value))
            return f"\x00ccb-raw-{len(raws) - 1}\x00"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if raws:
        text = re.sub(r'"\\u0000ccb-raw-(\d+)\\u0000"', lambda m: raws[int(m.group(1))], text)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_stale_temps(folder: Path, prefix: str, *, suffix: str = ".tmp", unnamed_age_s: float = 600.0) -> None:
    """Remove `prefix…suffix` files a killed ccb left in `folder` (they may hold a key): those whose writer
    (the first number in the name) is gone, and nameless ones older than `unnamed_age_s`."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    now = time.time()
    for name in names:
        if not (name.startswith(prefix) and name.endswith(suffix)) or len(name) <= len(prefix) + len(suffix):
            continue
        middle = name[len(prefix) : -len(suffix)]
        pids = [int(part) for part in re.split(r"[.\-]", middle) if part.isdigit()]
        full = folder / name
        try:
            info = full.lstat()
            if info.st_uid != os.geteuid():
                continue
            stale = not pid_alive(pids[0]) if pids else now - info.st_mtime > unnamed_age_s
            if stale:
                full.unlink()
        except OSError:
            continue


def ensure_dir(folder: Path) -> Path:
    """`folder`, created (with missing parents) 0700 whatever the umask; see paths.private_dir."""
    from ccb.cli.paths import private_dir

    return private_dir(folder)
