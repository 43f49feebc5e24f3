"""A bridge that outlives the command that started it (`ccb serve --profile NAME --detach`). Does I/O.

Plain `claude` (after `ccb profile switch` to an OpenAI-only profile) needs a bridge that keeps running.
Its state lives in `state_dir()/bridge.json` (mode 0600: it holds the bridge token). A restart keeps the
port and token, so settings that point at the bridge stay valid. The recorded pid is the keeper
(`ccb.proxy.keeper`), which holds the port and restarts the bridge on it if the bridge dies.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

from ccb.cli import paths
from ccb.cli.bridge_identity import answers_as_ours, describe_uid, listener_uid, process_is_ours
from ccb.cli.childproc import python_module_argv, safe_cwd
from ccb.cli.errors import CcbError
from ccb.cli.fileio import ensure_dir, write_json_atomic
from ccb.proxy.privatefiles import open_private

PREFERRED_PORT = 8765
DETACHED_VAR = "CCB_BRIDGE_DETACHED"
DAEMON_LOG_MAX = 1024 * 1024
START_TIMEOUT_S = 20.0
# The detached child is meant to outlive its Popen handle; keeping the handle avoids a "still running" warning
# when it would otherwise be garbage-collected mid-command.
_DETACHED: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True)
class DaemonState:
    pid: int
    host: str
    port: int
    url: str
    profile: str
    token: str
    log: str
    create_time: float = 0.0  # the process's start time: a recycled pid has another one


def load_state() -> tuple[DaemonState | None, str | None]:
    """(state, None); (None, problem) for an unreadable or malformed file; (None, None) when there is none."""
    path = paths.bridge_state_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path} is unreadable ({type(exc).__name__})"
    if not isinstance(data, dict):
        return None, f"{path} is not a JSON object"
    try:
        state = DaemonState(
            **{k: data[k] for k in DaemonState.__dataclass_fields__ if k != "create_time"},
            create_time=float(data.get("create_time") or 0.0),
        )
    except (KeyError, TypeError, ValueError):
        return None, f"{path} lacks some of the fields ccb writes"
    if not (isinstance(state.pid, int) and isinstance(state.port, int) and isinstance(state.url, str)):
        return None, f"{path} lacks a valid pid, port or url"
    return state, None


def read_state() -> DaemonState | None:
    return load_state()[0]


def is_alive(state: DaemonState) -> bool:
    """The recorded pid is still ccb's bridge: this user's process, started when recorded, running ccb's
    own module (a recycled pid of `ollama serve` or another user's process is not)."""
    return process_is_ours(state.pid, state.create_time)


def healthy(url: str, timeout: float = 2.0, *, token: str | None = None) -> bool:
    """A bridge answers at `url`; with `token`, it proved to be the bridge holding that token."""
    if token:
        return answers_as_ours(url, token, timeout)
    try:
        resp = httpx.get(url.rstrip("/") + "/health", timeout=timeout, trust_env=False, follow_redirects=False)
        return resp.status_code == 200 and resp.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _pick_port(host: str, wanted: int | None, previous: DaemonState | None) -> int:
    if wanted:
        return wanted
    for port in ([previous.port] if previous else []) + [PREFERRED_PORT]:
        if _port_free(host, port):
            return port
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start(
    profile: str,
    *,
    port: int | None = None,
    token: str | None = None,
    follow_settings: bool = True,
    replace: bool = True,
) -> DaemonState:
    """Start (or keep) the detached bridge for `profile`; returns once it answers /health.

    Serialised by a lock (two starts at once leave one bridge and two successes). When Claude Code's
    settings point at a bridge port, the bridge starts on that port or not at all: starting it elsewhere
    would leave plain `claude` sending prompts and the token to whatever holds the old port.
    `follow_settings=False` is for `ccb profile switch`, which rewrites the settings right after.
    `replace=False` refuses (CcbError, nothing stopped) when the running bridge serves another profile.
    """
    with _start_lock():
        return _start(profile, port, token, follow_settings, replace)


def other_profile_running(profile: str) -> DaemonState | None:
    """The running background bridge when it serves a profile other than `profile`."""
    state = read_state()
    return state if state is not None and state.profile != profile and is_alive(state) else None


def _refuse_replacing(previous: DaemonState, profile: str) -> CcbError:
    old = previous.profile
    if settings_port() == previous.port:
        return CcbError(
            f"the background bridge for '{old}' runs on {previous.url}, and plain `claude` is switched to it: "
            f"serving '{profile}' there would move plain `claude` to '{profile}' unseen. To switch plain "
            f"`claude` to '{profile}': `ccb profile switch {profile}`; to serve '{profile}' in its place anyway: "
            "add --replace; to stop it: `ccb serve --stop`"
        )
    return CcbError(
        f"a background bridge for '{old}' already runs on {previous.url} (pid {previous.pid}), and ccb runs one "
        f"at a time: add --replace to serve '{profile}' in its place, or stop it first with `ccb serve --stop`"
    )


@contextmanager
def _start_lock() -> Iterator[None]:
    lock = paths.bridge_lock_file()
    ensure_dir(lock.parent)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def settings_port() -> int | None:
    """The loopback port ccb's own ANTHROPIC_BASE_URL in Claude Code's settings points at, if any."""
    from urllib.parse import urlsplit

    from ccb.cli.claude_settings import owned_keys
    from ccb.cli.fileio import read_json
    from ccb.proxy.net import is_loopback

    try:
        if "ANTHROPIC_BASE_URL" not in owned_keys():
            return None
        data = read_json(paths.claude_settings_file(), default={})
        url = data.get("env", {}).get("ANTHROPIC_BASE_URL") if isinstance(data, dict) else None
        if isinstance(url, str) and is_loopback(url):
            return urlsplit(url).port
    except (CcbError, OSError, ValueError, AttributeError):
        return None
    return None


def _start(profile: str, port: int | None, token: str | None, follow_settings: bool, replace: bool) -> DaemonState:
    previous = read_state()
    if previous is not None and is_alive(previous):
        if (
            previous.profile == profile
            and (port is None or port == previous.port)
            and healthy(previous.url, token=previous.token)
        ):
            return previous
        if previous.profile != profile and not replace:
            raise _refuse_replacing(previous, profile)
        stop()
    host = "127.0.0.1"
    pinned = settings_port() if follow_settings else None
    if port is None and pinned:
        port = pinned
    port = _pick_port(host, port, previous)
    if not _port_free(host, port):
        holder = listener_uid(port)
        who = (
            ""
            if holder is None
            else (
                " by another user, " + describe_uid(holder) if holder != os.getuid() else " by another program of yours"
            )
        )
        if port == pinned:
            raise CcbError(
                f"port {port} on {host}, where plain `claude`'s settings point, is taken{who}; ccb will "
                "not start the bridge on another port while the settings send prompts and the token "
                "there. Run `ccb restore` now, then free the port (or `ccb profile switch` again, "
                "which picks a free one)"
            )
        raise CcbError(f"port {port} on {host} is taken{who or ' by another program'}; pass --port N to pick another")
    token = token or (previous.token if previous else None) or _new_token()
    log = paths.bridge_daemon_log_file()
    _rotate(log)
    # The token goes in the environment, not on the command line, where `ps` would show it. DETACHED_VAR
    # sends the bridge's own messages to its rotating log instead of this file (the child's stderr).
    env = {**os.environ, "CCB_AUTH_TOKEN": token, DETACHED_VAR: "1"}
    with open(open_private(log, os.O_WRONLY | os.O_APPEND), "ab") as out:
        proc = subprocess.Popen(
            python_module_argv("ccb.cli", "serve", "--profile", profile, "--host", host, "--port", str(port)),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
            close_fds=True,
            cwd=safe_cwd(),
        )
    _DETACHED.append(proc)
    url = f"http://{host}:{port}"
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        created = 0.0
    state = DaemonState(proc.pid, host, port, url, profile, token, str(log), created)
    write_json_atomic(paths.bridge_state_file(), asdict(state), mode=0o600)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            paths.bridge_state_file().unlink(missing_ok=True)
            raise CcbError(f"the background bridge exited at start (code {proc.returncode}): {_tail(log)} — see {log}")
        if healthy(url, timeout=1.0, token=token):
            return state
        time.sleep(0.1)
    proc.terminate()
    paths.bridge_state_file().unlink(missing_ok=True)
    raise CcbError(f"the background bridge did not answer on {url} within {START_TIMEOUT_S:.0f} s; see {log}")


def stop() -> DaemonState | None:
    """Stop the detached bridge; returns what was running (None if nothing was)."""
    state = read_state()
    if state is None:
        return None
    if is_alive(state):  # never a process that is not ccb's bridge: a stale pid is just forgotten
        try:
            os.kill(state.pid, signal.SIGTERM)
            psutil.Process(state.pid).wait(10)
        except psutil.TimeoutExpired:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(state.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            pass
    paths.bridge_state_file().unlink(missing_ok=True)
    return state


def _rotate(log: Path) -> None:
    """Keep the detached bridge's stderr file small: past DAEMON_LOG_MAX it moves to `.1` (one generation)."""
    ensure_dir(log.parent)
    try:
        if log.lstat().st_size > DAEMON_LOG_MAX:
            os.replace(log, log.with_name(log.name + ".1"))
    except FileNotFoundError:
        pass


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _new_token() -> str:
    import secrets

    return "ccb-" + secrets.token_urlsafe(24)


def status_dict() -> dict[str, object]:
    state = read_state()
    if state is None:
        return {"running": False}
    alive = is_alive(state)
    return {
        "running": alive,
        "healthy": alive and healthy(state.url, token=state.token),
        "pid": state.pid,
        "url": state.url,
        "port": state.port,
        "profile": state.profile,
        "log": state.log,
    }
