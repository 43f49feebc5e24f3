"""Every filesystem location ccb uses, in one place: its folders and every file name. The only platformdirs caller.

`CCB_HOME` moves all of ccb's own files (config, state, logs) under one folder, for tests and
portable set-ups. Claude Code's files follow Claude Code's rules: `CLAUDE_CONFIG_DIR`, else `~/.claude`.
Only `private_dir` touches the disk; everything else computes a path.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import platformdirs

from ccb.proxy.privatefiles import make_dirs

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


# -- ccb's own files ---------------------------------------------------------------------------------------------


def profiles_file() -> Path:
    return config_dir() / "profiles.json"


def bridge_state_file() -> Path:
    """The detached bridge's record (pid, port, token, profile): 0600."""
    return state_dir() / "bridge.json"


def bridge_lock_file() -> Path:
    """Held while a detached bridge starts, so two `ccb profile switch` runs cannot start two."""
    return state_dir() / "bridge.lock"


def settings_record_file() -> Path:
    """ccb's record of the Claude Code settings keys it owns, with their pre-ccb values (may hold secrets: 0600)."""
    return state_dir() / "claude-settings.json"


def settings_lock_file() -> Path:
    """Serialises ccb's read-modify-write cycles of Claude Code's settings."""
    return state_dir() / "claude-settings.lock"


def active_record_file() -> Path:
    """Which profile was active before the first `ccb profile switch`, for `ccb restore`."""
    return state_dir() / "active-before-switch.json"


def launch_dir() -> Path:
    """The `--settings` files of running `ccb launch` sessions (`LAUNCH_SETTINGS_PREFIX<pid>-….json`)."""
    return state_dir() / "launch"


LAUNCH_SETTINGS_PREFIX = "ccb-settings-"


def bridge_log_file() -> Path:
    """The bridge's rotating log (`ccb logs`)."""
    return log_dir() / "bridge.log"


def bridge_daemon_log_file() -> Path:
    """What the detached bridge's process writes to stdout and stderr."""
    return log_dir() / "bridge-daemon.log"


def embedded_log_file() -> Path:
    """The embedded engine's (llama.cpp server's) output."""
    return log_dir() / "embedded-engine.log"


def error_log_file() -> Path:
    """The traceback of the last unexpected error."""
    return log_dir() / "ccb-error.log"


# -- Claude Code's files ------------------------------------------------------------------------------------------


def claude_config_dir() -> Path:
    """Claude Code's user folder (`~/.claude`, or `CLAUDE_CONFIG_DIR`)."""
    value = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(value).expanduser() if value else Path.home() / ".claude"


def claude_settings_file() -> Path:
    return claude_config_dir() / "settings.json"


def project_settings_file(cwd: Path) -> Path:
    return cwd / ".claude" / "settings.json"


def local_settings_file(cwd: Path) -> Path:
    return cwd / ".claude" / "settings.local.json"


def managed_settings_file() -> Path:
    """The system-wide policy file for this OS (highest precedence, usually absent)."""
    if sys.platform == "darwin":
        return Path("/Library/Application Support/ClaudeCode/managed-settings.json")
    if sys.platform.startswith("win"):
        return Path(r"C:\Program Files\ClaudeCode\managed-settings.json")
    return Path("/etc/claude-code/managed-settings.json")


def claude_global_config_file() -> Path:
    """`~/.claude.json`; with `CLAUDE_CONFIG_DIR` it lives inside that folder."""
    value = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(value).expanduser() / ".claude.json" if value else Path.home() / ".claude.json"


# -- the login service --------------------------------------------------------------------------------------------


def login_service_file(kind: str) -> Path | None:
    """Where the per-user login service goes (`ccb.cli.login_service`): systemd's user unit folder (it
    follows `XDG_CONFIG_HOME`, as systemd does), launchd's LaunchAgents; None for other systems."""
    if kind == "systemd":
        base = os.environ.get("XDG_CONFIG_HOME", "")
        root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
        return root / "systemd" / "user" / "ccb-bridge.service"
    if kind == "launchd":
        return Path.home() / "Library" / "LaunchAgents" / "dev.ccb.bridge.plist"
    return None


def login_service_notice_file() -> Path:
    """Present once `ccb profile switch` has said that the login service cannot run here (it says so once)."""
    return state_dir() / "login-service-notice"


# -- folders ----------------------------------------------------------------------------------------------------


def own_dirs() -> tuple[Path, ...]:
    """The folders that belong to ccb alone (kept 0700: they hold keys, tokens and logs)."""
    base = _home_override()
    return tuple(d for d in (base, config_dir(), state_dir(), log_dir()) if d is not None)


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parent as 0700 whatever the umask; one of ccb's own folders that is
    open to others (an older ccb, a loose umask) is closed again. Returns `path`."""
    make_dirs(path)
    for folder in own_dirs():
        if folder == path or folder in path.parents:
            try:
                info = folder.lstat()
                if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o077 and info.st_uid == os.geteuid():
                    folder.chmod(0o700)
            except OSError:
                pass
    return path
