"""Every filesystem location ccb uses, in one place. The only platformdirs caller.

`CCB_HOME` moves all of ccb's own files (config, state, logs) under one folder, for tests and
portable set-ups. Claude Code's files follow Claude Code's rules: `CLAUDE_CONFIG_DIR`, else `~/.claude`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs

APP = "ccb"


def _home_override() -> Path | None:
    value = os.environ.get("CCB_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    base = _home_override()
    return base / "config" if base else Path(platformdirs.user_config_dir(APP))


def state_dir() -> Path:
    base = _home_override()
    return base / "state" if base else Path(platformdirs.user_state_dir(APP))


def log_dir() -> Path:
    base = _home_override()
    return base / "logs" if base else Path(platformdirs.user_log_dir(APP))


def data_dir() -> Path:
    base = _home_override()
    return base / "data" if base else Path(platformdirs.user_data_dir(APP))


def claude_install_dir() -> Path:
    """Where `ccb launch --yes` installs Claude Code with npm (`npm install --prefix`), and looks for it."""
    return data_dir() / "claude-code"


def profiles_file() -> Path:
    return config_dir() / "profiles.json"


def claude_config_dir() -> Path:
    """Claude Code's user folder (`~/.claude`, or `CLAUDE_CONFIG_DIR`)."""
    value = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(value).expanduser() if value else Path.home() / ".claude"


def claude_settings_file() -> Path:
    return claude_config_dir() / "settings.json"


def claude_global_config_file() -> Path:
    """`~/.claude.json`; with `CLAUDE_CONFIG_DIR` it lives inside that folder."""
    value = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(value).expanduser() / ".claude.json" if value else Path.home() / ".claude.json"


def own_dirs() -> tuple[Path, ...]:
    """The folders that belong to ccb alone (kept 0700: they hold keys, tokens and logs)."""
    base = _home_override()
    return tuple(d for d in (base, config_dir(), state_dir(), log_dir()) if d is not None)


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parent as 0700 whatever the umask; one of ccb's own folders that is
    open to others (an older ccb, a loose umask) is closed again. Returns `path`."""
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current.parent != current:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
    for folder in own_dirs():
        if folder == path or folder in path.parents:
            try:
                info = folder.lstat()
                if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o077 and info.st_uid == os.geteuid():
                    folder.chmod(0o700)
            except OSError:
                pass
    return path
