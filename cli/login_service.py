"""The per-user login service that keeps the background bridge's port after a reboot or logout. Does file
and process I/O (`systemctl --user`, `launchctl`).

While Claude Code's settings point at the bridge's fixed port, that port must be held by the user: the
keeper (`ccb.proxy.keeper`) holds it while the bridge runs, and this service starts the keeper again at
each login (`python -P -m ccb.cli.bridge_boot serve`, see there). On Linux it is a systemd user unit in
`~/.config/systemd/user/`, enabled with `systemctl --user`; on macOS a launchd agent in
`~/Library/LaunchAgents/`, which launchd loads at every login. Neither needs root. `ccb profile switch`
installs it when it points the settings at the bridge, `ccb restore` (and `ccb serve --stop`) remove it,
and `ccb doctor` reports it. The unit holds no key and no token (they stay in ccb's 0600 state file).
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from ccb.cli import paths
from ccb.cli.childproc import python_module_argv, safe_cwd

UNIT = "ccb-bridge.service"
LABEL = "dev.ccb.bridge"
ENTRY = "ccb.cli.bridge_boot"
# What decides where ccb and Claude Code keep their files: the service must see the same ones as the switch.
PATH_VARS = (
    "CCB_HOME",
    "CLAUDE_CONFIG_DIR",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
)
SYSTEMCTL_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Service:
    """What the login service looks like here: its file, the manager, and whether the manager will run it."""

    kind: str  # "systemd", "launchd" or "none"
    path: Path | None
    installed: bool  # the file is in place
    enabled: bool  # the manager will start it at the next login
    problem: str | None = None  # why it will not (the manager is missing or refused)


def kind() -> str:
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform.startswith("linux"):
        return "systemd"
    return "none"


def service_file() -> Path | None:
    return paths.login_service_file(kind())


def command() -> list[str]:
    """What the service runs: this interpreter, isolated from the current directory (`-P`), on ccb's entry."""
    return python_module_argv(ENTRY, "serve")


def service_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    source = os.environ if environ is None else environ
    return {name: source[name] for name in PATH_VARS if source.get(name)}


def _systemd_word(word: str, *, command: bool) -> str:
    """One quoted word of `ExecStart=` (command) or `Environment=`: specifiers (%) taken literally, and on a
    command line variables ($) too; backslashes and quotes escaped."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if command:
        escaped = escaped.replace("$", "$$")
    return f'"{escaped}"'


def unit_text(argv: list[str], workdir: Path, env: dict[str, str], port: int) -> str:
    lines = [
        "# Written by ccb (`ccb profile switch`); `ccb restore` removes it.",
        "[Unit]",
        f"Description=ccb: hold 127.0.0.1:{port}, where Claude Code's settings point, for your background bridge",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_systemd_word(word, command=True) for word in argv),
        "WorkingDirectory=" + str(workdir).replace("%", "%%"),  # a path, taken whole: no quotes
        *("Environment=" + _systemd_word(f"{name}={value}", command=False) for name, value in sorted(env.items())),
        "UMask=0077",
        "Restart=on-failure",
        "RestartSec=2",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def plist_text(argv: list[str], workdir: Path, env: dict[str, str]) -> bytes:
    """The launchd agent. No StandardErrorPath: the entry writes to ccb's private log itself."""
    agent: dict[str, object] = {
        "Label": LABEL,
        "ProgramArguments": argv,
        "WorkingDirectory": str(workdir),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # again after a crash, not after a clean stop
        "Umask": 0o077,
    }
    if env:
        agent["EnvironmentVariables"] = env
    return plistlib.dumps(agent)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Into place through a temporary file, never through a symlink someone left at `path`."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with suppress(FileNotFoundError):
        os.unlink(tmp)  # what a killed earlier run of this pid left
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _systemctl(*args: str) -> str | None:
    """None when `systemctl --user ARGS` succeeded, else its first line of complaint."""
    try:
        done = subprocess.run(
            ["systemctl", "--user", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            cwd=safe_cwd(),
        )
    except FileNotFoundError:
        return "there is no systemctl on this system"
    except subprocess.TimeoutExpired:
        return f"systemctl --user did not answer within {SYSTEMCTL_TIMEOUT_S:.0f} s"
    if done.returncode == 0:
        return None
    said = (done.stderr or done.stdout).strip().splitlines()
    return said[0] if said else f"systemctl --user {' '.join(args)} exited with {done.returncode}"


def install(port: int) -> Service:
    """Write the service for a bridge on `port` and have the manager start it at every login."""
    where = service_file()
    which = kind()
    if where is None:
        return Service(which, None, False, False, f"ccb has no login service for {sys.platform}")
    argv, workdir, env = command(), safe_cwd(), service_env()
    if which == "launchd":
        _write(where, plist_text(argv, workdir, env), 0o644)
        return Service(which, where, True, True)  # launchd loads every agent in LaunchAgents at login
    _write(where, unit_text(argv, workdir, env, port).encode(), 0o644)
    # `enable` only links the unit into default.target.wants: it works with no manager reachable right now
    # (under `su`, over some ssh set-ups), and the manager reads it at the next login.
    problem = _systemctl("enable", UNIT)
    if problem is None:
        _systemctl("daemon-reload")  # a manager running now rereads it; none reachable is fine
        problem = _not_booted()
    return Service(which, where, True, problem is None, problem)


def _not_booted() -> str | None:
    """Why no systemd user manager will ever start at login here, or None when one will."""
    if os.path.isdir("/run/systemd/system"):
        return None
    return "systemd is not this machine's init (no /run/systemd/system; a container?): no user manager runs at login"


def remove() -> Service | None:
    """Disable and delete the service; the one removed, or None when there was none."""
    where = service_file()
    if where is None or not os.path.lexists(where):
        return None
    which = kind()
    problem = None
    if which == "systemd":
        problem = _systemctl("disable", UNIT)
    elif which == "launchd":
        try:
            subprocess.run(
                ["launchctl", "bootout", f"gui/{os.getuid()}/{LABEL}"],
                check=False,
                capture_output=True,
                timeout=SYSTEMCTL_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            pass  # not loaded, or no launchctl: deleting the file is what matters
    where.unlink()
    if which == "systemd":
        _systemctl("daemon-reload")
    return Service(which, where, False, False, problem)


def status() -> Service:
    """Installed? Enabled? (Asks `systemctl --user is-enabled`; a missing manager is the problem.)"""
    where = service_file()
    which = kind()
    if where is None:
        return Service(which, None, False, False, f"ccb has no login service for {sys.platform}")
    installed = where.is_file()
    if which != "systemd":
        return Service(which, where, installed, installed)
    if not installed:
        return Service(which, where, False, False)
    problem = _systemctl("is-enabled", UNIT)  # reads the unit links: needs no running manager
    if problem is not None and " " not in problem:  # "disabled", "masked"
        problem = f"{UNIT} is {problem}"
    problem = problem or _not_booted()
    return Service(which, where, True, problem is None, problem)


def unavailable_note(port: int, problem: str, profile: str) -> str:
    """Said once, when the switch could not get the service enabled: the risk, what protects the user
    instead, and what they can do."""
    return (
        f"ccb's login service cannot run here: {problem}. So after a reboot or logout "
        f"nothing holds 127.0.0.1:{port} until the bridge is started again, and another local user who "
        "listens there first would receive plain `claude`'s prompts and token. What protects you instead: "
        "the bridge's keeper holds the port for as long as the bridge runs; `ccb serve --profile "
        f"{profile} --detach` starts it on that port or refuses, naming whoever holds it; `ccb profile "
        "current` and `ccb doctor` name any other user listening there. What you can do: after each login "
        f"run `ccb serve --profile {profile} --detach` before plain `claude` (e.g. from your shell's "
        "profile), or `ccb restore` before you log out; `ccb launch NAME` needs no fixed port. The unit is "
        f"written and enabled anyway ({service_file()}), for a system where systemd starts at login."
    )


def _notice_marker() -> Path:
    return paths.login_service_notice_file()


def after_switch(port: int | None, profile: str) -> tuple[Service | None, str | None]:
    """For `ccb profile switch`: settings now point at a bridge on `port` (install), or at no bridge
    (None: remove what an earlier switch installed). Returns the service and, the first time only, the note
    saying that it could not be enabled."""
    if port is None:
        remove()
        return None, None
    service = install(port)
    if service.enabled:
        _notice_marker().unlink(missing_ok=True)
        return service, None
    if _notice_marker().exists():
        return service, None
    from ccb.cli.fileio import ensure_dir

    ensure_dir(_notice_marker().parent)
    _notice_marker().touch(mode=0o600)
    return service, unavailable_note(port, service.problem or "not available", profile)
