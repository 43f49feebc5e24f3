"""Every filesystem location ccb uses, in one place. The only platformdirs caller.

`CCB_HOME` moves all of ccb's own files (config, state, logs) under one folder, for tests and
portable set-ups. Claude Code's files follow Claude Code's rules: `CLAUDE_CONFIG_DIR`, else `~/.claude`.
"""

from __future__ import annotations

import os
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
