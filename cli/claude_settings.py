"""Claude Code's settings files, changed without clobbering anything. Does file I/O.

ccb normally passes its launch block with `--settings <temp file>` (see `supervisor.py`), which beats
user, project and local settings without touching them. This module covers the cases where a file has to
change after all:

- `apply_env` / `restore`: put a few `env` keys (and a few top-level keys such as `modelPicker`) into
  `~/.claude/settings.json` and take them out again. Only those keys are touched; hooks, plugins,
  permissions, statusLine and anything unknown survive.
  Before ccb's first change the file is copied to `settings.json.ccb-backup`; every write is atomic; the
  keys ccb owns, with their pre-ccb values, live in `state_dir()/claude-settings.json` so that a restore is
  exact even after several switches. Peers lost users' hooks and plugins by rewriting the whole file.
- `ensure_onboarding`: `hasCompletedOnboarding: true` in `~/.claude.json`, every other key kept.
- `settings_layers` / `effective_env`: read-only view of what Claude Code will see, for `doctor`.

`merge_env`, `merge_top` and `effective_env` are pure; everything else reads or writes files.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from ccb.cli import paths
from ccb.cli.errors import CcbError
from ccb.cli.fileio import ensure_dir, read_json, sweep_stale_temps, write_json_atomic
from ccb.cli.paths import claude_global_config_file, claude_settings_file

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
# key -> the value it had before ccb first set it; None means the key was absent. (A pre-ccb JSON `null`
# therefore comes back as "absent": Claude Code only accepts strings there, so nothing real is lost.)
OwnedRecord: TypeAlias = dict[str, JsonValue]
# Top-level settings key -> its pre-ccb value wrapped as {"value": v}, or None when it was absent (a JSON
# `null` the user wrote there is a value of its own and comes back exactly).
OwnedTopRecord: TypeAlias = dict[str, "dict[str, JsonValue] | None"]
# Top-level keys ccb may own; everything else at the top of the file is never touched.
TOP_KEYS = frozenset({"modelPicker"})

BACKUP_SUFFIX = ".ccb-backup"
STATE_VERSION = 2  # 2: entries may carry `owned_top` (older ccb would not restore those keys)
# New files may end up holding a token (settings `env`) or account data (`~/.claude.json`).
_PRIVATE_MODE = 0o600


@dataclass(frozen=True)
class ApplyResult:
    path: Path
    changed: tuple[str, ...]
    backup: Path | None  # the backup made by this call; None when one already existed or none was needed


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    restored: tuple[str, ...]
    nothing_to_restore: bool
    kept: tuple[str, ...] = ()  # keys the user changed after ccb wrote them: their edit stays


@dataclass(frozen=True)
class SettingsLayer:
    source: str  # "user", "project", "local", "managed" (or "flag" when a caller adds the --settings block)
    path: Path
    exists: bool
    data: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class EnvValue:
    value: str
    source: str  # "process" or a layer's source
    # Lower-precedence (source, value) pairs that lost, lowest first.
    overridden: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- pure


def merge_env(
    existing: Mapping[str, Any],
    ours: Mapping[str, str],
    previously_owned: Mapping[str, JsonValue],
    *,
    drop_empty_env: bool = False,
) -> tuple[dict[str, Any], OwnedRecord]:
    """Return `existing` with ccb's env keys set to `ours`, and the new ownership record.

    Keys ccb owned before but no longer sets go back to their pre-ccb value (or disappear). A key ccb
    already owns keeps its original pre-ccb value in the record, so any number of switches still restore
    the file as it was before ccb. `drop_empty_env` removes an `env` object left empty, for callers
    that know ccb created it. Nothing else in `existing` is looked at; the input is not modified.
    """
    new = copy.deepcopy(dict(existing))
    env_before = new.get("env")
    # `"env": null` is refused too: turning it into {} and back could not restore it exactly.
    if "env" in new and not isinstance(env_before, dict):
        raise CcbError(
            f'"env" in Claude Code\'s settings is a JSON {_json_kind(env_before)}, not an object; '
            "ccb left the file untouched: fix it, then run the command again"
        )
    env: dict[str, Any] = env_before if isinstance(env_before, dict) else {}

    record: OwnedRecord = {}
    for key, previous in previously_owned.items():
        if key in ours:
            continue
        if previous is None:
            env.pop(key, None)
        else:
            env[key] = copy.deepcopy(previous)
    for key, value in ours.items():
        record[key] = copy.deepcopy(previously_owned[key] if key in previously_owned else env.get(key))
        env[key] = value

    if env_before is None and env:
        new["env"] = env
    elif env_before is not None and not env and drop_empty_env:
        del new["env"]
    return new, record


def merge_top(
    existing: Mapping[str, Any],
    ours: Mapping[str, JsonValue],
    previously_owned: Mapping[str, dict[str, JsonValue] | None],
) -> tuple[dict[str, Any], OwnedTopRecord]:
    """Return `existing` with ccb's top-level keys set to `ours`, and the new ownership record.

    Like `merge_env` for top-level keys (only those in `TOP_KEYS`): keys owned before but no longer in
    `ours` get their pre-ccb value back (or disappear), and a key keeps its first pre-ccb value over any
    number of switches. The input is not modified.
    """
    unknown = set(ours) - TOP_KEYS
    if unknown:
        raise ValueError(f"not a top-level key ccb may own: {sorted(unknown)}")
    new = copy.deepcopy(dict(existing))
    record: OwnedTopRecord = {}
    for key, previous in previously_owned.items():
        if key in ours:
            continue
        if previous is None:
            new.pop(key, None)
        else:
            new[key] = copy.deepcopy(previous.get("value"))
    for key, value in ours.items():
        if key in previously_owned:
            record[key] = copy.deepcopy(previously_owned[key])
        else:
            record[key] = {"value": copy.deepcopy(existing[key])} if key in existing else None
        new[key] = copy.deepcopy(value)
    return new, record


def effective_env(layers: list[SettingsLayer], process_env: Mapping[str, str]) -> dict[str, EnvValue]:
    """What each env variable will be inside Claude Code, and where it comes from.

    `layers` go low → high precedence. Every loaded settings layer's `env` beats the inherited process
    environment (an exported `ANTHROPIC_MODEL` loses to one in `settings.json`); among layers the higher wins.
    """
    candidates: dict[str, list[tuple[str, str]]] = {k: [("process", v)] for k, v in process_env.items()}
    for layer in layers:
        env = layer.data.get("env") if layer.data else None
        if not isinstance(env, dict):
            continue
        for key, value in env.items():
            candidates.setdefault(key, []).append((layer.source, _as_env_string(value)))
    return {
        key: EnvValue(value=pairs[-1][1], source=pairs[-1][0], overridden=pairs[:-1])
        for key, pairs in candidates.items()
    }


def _as_env_string(value: object) -> str:
    # Claude Code turns env values into strings the JavaScript way; json.dumps matches that for
    # numbers, booleans and null, which is all a hand-edited file realistically holds.
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


# ------------------------------------------------------------------------------ ownership record


@contextmanager
def _locked() -> Iterator[None]:
    """Serialise read-modify-write cycles of ccb processes (Claude Code itself does not take this lock)."""
    lock = paths.settings_lock_file()
    ensure_dir(lock.parent)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, _PRIVATE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _state_key(settings_path: Path) -> str:
    # Records are per settings file, so profiles with different CLAUDE_CONFIG_DIRs do not mix.
    return os.path.abspath(settings_path.expanduser())


def _read_state() -> dict[str, Any]:
    data = read_json(paths.settings_record_file(), default=None)
    if data is None:
        return {"version": STATE_VERSION, "files": {}}
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise CcbError(f"{paths.settings_record_file()} is not a ccb ownership record; move it away and try again")
    version = data.get("version")
    if not isinstance(version, int) or version > STATE_VERSION:
        # A newer ccb may record ownership differently; guessing could restore the wrong values.
        raise CcbError(f"{paths.settings_record_file()} was written by a newer ccb (format {version!r}); upgrade ccb")
    return data


def _write_state(state: dict[str, Any]) -> None:
    if state["files"]:
        write_json_atomic(paths.settings_record_file(), {**state, "version": STATE_VERSION}, mode=_PRIVATE_MODE)
    else:
        paths.settings_record_file().unlink(missing_ok=True)


def _entry(state: dict[str, Any], settings_path: Path) -> dict[str, Any] | None:
    entry = state["files"].get(_state_key(settings_path))
    return entry if isinstance(entry, dict) and isinstance(entry.get("owned"), dict) else None


def owned_keys(*, settings_path: Path | None = None) -> OwnedRecord:
    """The env keys ccb currently owns in a settings file, with their pre-ccb values (None = absent)."""
    entry = _entry(_read_state(), settings_path or claude_settings_file())
    return dict(entry["owned"]) if entry else {}


def owned_top_keys(*, settings_path: Path | None = None) -> OwnedTopRecord:
    """The top-level keys ccb currently owns in a settings file, with their pre-ccb values."""
    return _owned_top(_entry(_read_state(), settings_path or claude_settings_file()))


def switched_profile(*, settings_path: Path | None = None) -> str | None:
    """The ccb profile whose keys ccb wrote into a settings file (`ccb profile switch`), when recorded."""
    entry = _entry(_read_state(), settings_path or claude_settings_file())
    name = entry.get("profile") if entry else None
    return name if isinstance(name, str) else None


def _owned_top(entry: dict[str, Any] | None) -> OwnedTopRecord:
    top = entry.get("owned_top") if entry else None
    return dict(top) if isinstance(top, dict) else {}


# ------------------------------------------------------------------------------------ file access


def _read_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object file, `{}` when absent or empty; CcbError (and nothing written) otherwise."""
    try:
        data = read_json(path, default={})
    except UnicodeDecodeError as exc:
        raise CcbError(f"{path} is not UTF-8 text; ccb left it untouched: fix or move it") from exc
    if not isinstance(data, dict):
        raise CcbError(
            f"{path} holds a JSON {_json_kind(data)}, but {what} must be a JSON object; "
            "ccb left it untouched: fix or move it, then run the command again"
        )
    return data


def _write_target(path: Path) -> Path:
    # A symlinked settings file (dotfile managers) must stay a symlink: replace the file it points to.
    return path.resolve() if path.is_symlink() else path


def _write_keeping_mode(path: Path, data: dict[str, Any], *, private: bool = False) -> None:
    """Replace the file (the target of a symlink) atomically. `private`: it holds a key or token, so it is
    written 0600 (0400 stays 0400) from its first byte; otherwise an existing file keeps its mode."""
    target = _write_target(path)
    if target != path and not target.parent.is_dir():
        raise CcbError(
            f"{path} is a symlink to {target}, whose folder does not exist; ccb left it untouched: "
            "fix the link (or remove it), then run the command again"
        )
    mode: int | None = _PRIVATE_MODE
    if target.exists():
        info = target.stat()
        _check_ours(path, info)
        mode = (info.st_mode & 0o777 & _PRIVATE_MODE) if private else None
    write_json_atomic(target, data, mode=mode)


def _check_ours(path: Path, info: os.stat_result) -> None:
    """A file frozen read-only, or another user's, is left alone (renaming over it would override both)."""
    if info.st_uid != os.geteuid():
        raise CcbError(
            f"{path} belongs to another user (uid {info.st_uid}); ccb left it untouched: "
            f"run ccb as its owner, or give the file back to yourself (chown)"
        )
    if not info.st_mode & 0o200:
        raise CcbError(
            f"{path} is read-only (mode {stat.S_IMODE(info.st_mode):04o}); ccb left it untouched: "
            f"make it writable (chmod u+w {path}) if ccb may change it"
        )


def _backup_once(path: Path) -> Path | None:
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    if backup.exists() or not path.exists():
        return None
    _check_ours(path, _write_target(path).stat())
    sweep_stale_temps(path.parent, f".{backup.name}.")
    tmp = backup.with_name(f".{backup.name}.{os.getpid()}.tmp")
    try:
        # Created 0600 before the first byte: the settings may already hold the user's own key.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, _PRIVATE_MODE)
        with os.fdopen(fd, "wb") as out, open(_write_target(path), "rb") as src:
            shutil.copyfileobj(src, out)
        os.replace(tmp, backup)
    finally:
        tmp.unlink(missing_ok=True)
    return backup


def _env_of(settings: Mapping[str, Any]) -> dict[str, Any]:
    env = settings.get("env")
    return env if isinstance(env, dict) else {}


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    return _changed(_env_of(before), _env_of(after)) + _changed(
        {k: v for k, v in before.items() if k in TOP_KEYS}, {k: v for k, v in after.items() if k in TOP_KEYS}
    )


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    keys = list(old) + [k for k in new if k not in old]
    return tuple(k for k in keys if (k in old) != (k in new) or old.get(k) != new.get(k))


# --------------------------------------------------------------------------------------- public I/O


def apply_env(
    ours: Mapping[str, str],
    *,
    top: Mapping[str, JsonValue] | None = None,
    settings_path: Path | None = None,
    profile: str | None = None,
) -> ApplyResult:
    """Make `ours` the env keys (and `top` the top-level keys, see `TOP_KEYS`) ccb owns in Claude Code's
    user settings; everything else is kept. `profile`: the ccb profile they are for (`switched_profile`).

    Refuses (CcbError, nothing written) when the file is not a JSON object. Keys a previous `apply_env`
    set but this call no longer sets go back to their pre-ccb values.
    """
    path = settings_path or claude_settings_file()
    with _locked():
        existing = _read_object(path, "Claude Code's settings")
        state = _read_state()
        entry = _entry(state, path)
        previously: OwnedRecord = dict(entry["owned"]) if entry else {}
        previously_top = _owned_top(entry)
        # Remember whether ccb made the `env` object, so restore can remove it again (and only then).
        created_env = bool(entry.get("created_env")) if entry else "env" not in existing
        with_env, record = merge_env(existing, ours, previously, drop_empty_env=created_env)
        new, record_top = merge_top(with_env, top or {}, previously_top)

        changed = _changed_keys(existing, new)
        backup = _backup_once(path) if new != existing else None
        old_state = copy.deepcopy(state)
        key = _state_key(path)

        # The values ccb wrote, per key: restore leaves a key whose value is none of them (the user's edit).
        before = entry.get("wrote") if entry else None
        if not isinstance(before, dict):
            before = {}
        wrote_final = {k: [v] for k, v in ours.items()}
        wrote_either = {k: list(before.get(k, [])) + ([ours[k]] if k in ours else []) for k in set(before) | set(ours)}

        def entry_for(owned: OwnedRecord, owned_top: OwnedTopRecord, wrote: dict[str, list[Any]]) -> dict[str, Any]:
            found: dict[str, Any] = {
                "settings_path": str(path),
                "owned": owned,
                "created_env": created_env,
                "wrote": wrote,
            }
            if owned_top:
                found["owned_top"] = owned_top
            if profile is not None:
                found["profile"] = profile
            return found

        # Until the settings file is replaced, either version of it may be on disk: first record every key
        # either version holds (keys owned before keep their pre-ccb values), so a crash at any point leaves
        # nothing in the file that ccb cannot take back; the exact record follows the settings write.
        interim: OwnedRecord = {**record, **previously}
        interim_top: OwnedTopRecord = {**record_top, **previously_top}
        if interim or interim_top:
            state["files"][key] = entry_for(interim, interim_top, wrote_either)
        if state != old_state:
            _write_state(state)
        if new != existing:
            try:
                _write_keeping_mode(path, new, private=True)
            except BaseException:
                _write_state(old_state)
                raise
        final = copy.deepcopy(state)
        if record or record_top:
            final["files"][key] = entry_for(record, record_top, wrote_final)
        else:
            final["files"].pop(key, None)
        if final != state:
            _write_state(final)
    return ApplyResult(path=path, changed=changed, backup=backup)


def restore(*, settings_path: Path | None = None) -> RestoreResult:
    """Put every key ccb owns (env and top-level) back as it was before ccb, then forget the record."""
    path = settings_path or claude_settings_file()
    with _locked():
        state = _read_state()
        entry = _entry(state, path)
        if entry is None:
            return RestoreResult(path=path, restored=(), nothing_to_restore=True)
        owned: OwnedRecord = dict(entry["owned"])
        restored: tuple[str, ...] = ()
        kept: tuple[str, ...] = ()
        # A settings file the user deleted since stays deleted: nothing of ccb's is left in it.
        if path.exists():
            existing = _read_object(path, "Claude Code's settings")
            wrote = entry.get("wrote")
            if isinstance(wrote, dict):
                # A key the user changed (or removed) after ccb wrote it holds their own choice: it stays.
                now = _env_of(existing)
                kept = tuple(k for k in owned if isinstance(wrote.get(k), list) and now.get(k) not in wrote[k])
                owned = {k: v for k, v in owned.items() if k not in kept}
            with_env, _ = merge_env(existing, {}, owned, drop_empty_env=bool(entry.get("created_env")))
            new, _ = merge_top(with_env, {}, _owned_top(entry))
            restored = _changed_keys(existing, new)
            if new != existing:
                _write_keeping_mode(path, new)
        state["files"].pop(_state_key(path), None)
        _write_state(state)
    return RestoreResult(path=path, restored=restored, nothing_to_restore=False, kept=kept)


def ensure_onboarding(*, path: Path | None = None) -> bool:
    """Set `hasCompletedOnboarding: true` in `~/.claude.json`; True when the file changed.

    Claude Code refuses writes that would drop auth and keeps its own backups of this file, so every other
    key (account, projects, MCP servers) is written back untouched.
    """
    target = path or claude_global_config_file()
    with _locked():
        data = _read_object(target, "Claude Code's global config")
        if data.get("hasCompletedOnboarding") is True:
            return False
        data["hasCompletedOnboarding"] = True
        _write_keeping_mode(target, data)
    return True


def _read_layer(source: str, path: Path) -> SettingsLayer:
    try:
        exists = path.is_file()
        data = _read_object(path, "a settings file") if exists else None
    except CcbError as exc:
        return SettingsLayer(source=source, path=path, exists=True, data=None, error=exc.message)
    except OSError as exc:
        return SettingsLayer(source=source, path=path, exists=True, data=None, error=exc.strerror or str(exc))
    return SettingsLayer(source=source, path=path, exists=exists, data=data, error=None)


def settings_layers(cwd: Path, *, managed: Path | None = None) -> list[SettingsLayer]:
    """The settings files Claude Code reads in `cwd`, low → high precedence. Never raises on bad files.

    The `--settings` flag ranks between local and managed; a caller that knows the launch block can insert
    a `SettingsLayer(source="flag", ...)` there. `managed` overrides the policy path (tests).
    """
    return [
        _read_layer("user", claude_settings_file()),
        _read_layer("project", paths.project_settings_file(cwd)),
        _read_layer("local", paths.local_settings_file(cwd)),
        _read_layer("managed", managed or paths.managed_settings_file()),
    ]
