"""`python -P -m ccb.cli.bridge_boot serve`: what ccb's login service runs at each login. Does file, process
and network I/O.

After a reboot or logout Claude Code's settings still point at the background bridge's fixed port, and
nothing holds it. This entry takes the port back first thing: it binds the port recorded in ccb's state
file (only while ccb's own ANTHROPIC_BASE_URL still points there and no bridge of the user's runs), then
becomes the keeper (`ccb.proxy.keeper`, by exec: the service's process is the keeper, which starts the
bridge on the socket already held). When the bridge cannot be configured (its profile is gone, its key
variable is not set in the login session) the port stays held and every request gets an Anthropic-shaped
503 saying why. When another user holds the port already, ccb's keys come out of the settings (as
`ccb serve --stop` does), so plain `claude` sends that user nothing. Messages go to the background
bridge's private log (`paths.bridge_daemon_log_file()`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from dataclasses import asdict, replace

import psutil

from ccb.cli import bridge_daemon, paths
from ccb.cli.bridge_daemon import DaemonState
from ccb.cli.errors import CcbError
from ccb.cli.fileio import write_json_atomic
from ccb.proxy.config import BridgeConfig
from ccb.proxy.privatefiles import open_private
from ccb.proxy.translate.errors import error_body

ANSWER_WAIT_S = 1.0  # how long one held connection may take to send its request before the 503


def _say(line: str) -> None:
    sys.stderr.write(f"ccb login service: {line}\n")
    sys.stderr.flush()


def _log_to_file() -> None:
    """stdout and stderr into the background bridge's log: private, rotated, never the manager's journal
    (which other tools may show) nor a file launchd would create with its own mode."""
    log = paths.bridge_daemon_log_file()
    bridge_daemon._rotate(log)
    fd = open_private(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(512)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _taken(state: DaemonState, exc: OSError) -> int:
    from ccb.cli.bridge_identity import describe_uid, listener_uid

    holder = listener_uid(state.port)
    if holder is None or holder == os.getuid():
        _say(f"error: cannot listen on {state.host}:{state.port}: {exc.strerror or exc}; trying again")
        return 1  # the manager restarts the service: a port of the user's own may be freed soon
    from ccb.cli import login_service
    from ccb.cli.claude_settings import restore

    restored = restore()
    login_service.remove()
    _say(
        f"error: {state.host}:{state.port}, where plain `claude`'s settings pointed, is held by another user, "
        f"{describe_uid(holder)}. ccb took its keys out of {restored.path}, so plain `claude` sends that user "
        f"nothing; `ccb profile switch {state.profile}` moves the bridge and the settings to a free port"
    )
    return 0  # nothing a restart would change


def _hold(sock: socket.socket, state: DaemonState, why: str) -> int:
    """Keep the port, answering each request with an Anthropic 503 that says why, until stopped."""
    message = (
        f"ccb's background bridge for '{state.profile}' could not start at login: {why}. Run `ccb profile "
        f"switch {state.profile}` (or `ccb restore`)"
    )
    body = json.dumps(error_body("api_error", message)).encode()
    answer = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + body
    )

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _say(f"holding {state.host}:{state.port} without a bridge: {why}")
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.settimeout(ANSWER_WAIT_S)
            try:
                conn.recv(65536)
                conn.sendall(answer)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
            except OSError:
                pass


def _configure(state: DaemonState) -> tuple[BridgeConfig, dict[str, str]]:
    """The bridge's configuration, as `ccb serve --profile NAME` builds it, with the recorded token."""
    from ccb.cli.commands.serve import _profile_config
    from ccb.cli.profile_store import get_profile

    config, exports = _profile_config(state.profile, state.token, None, False)
    profile = get_profile(state.profile)
    if config.upstream_key is None and profile.api_key_env:
        raise CcbError(
            f"its key variable ${profile.api_key_env} is not set in the login session (add it with "
            "`systemctl --user set-environment`, or store the key with `ccb profile add`)"
        )
    return config, exports


def _become_keeper(state: DaemonState, sock: socket.socket, config: BridgeConfig, exports: dict[str, str]) -> None:
    from ccb.cli.childproc import python_module_argv, safe_cwd
    from ccb.proxy.entry import SPEC_VAR, spec, spec_fd

    text = spec(
        config.to_dict(),
        state.host,
        state.port,
        show_token=False,
        log=paths.bridge_log_file(),
        exports=exports,
        echo=False,
        background=state.profile,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CCB_AUTH_TOKEN", "CCB_UPSTREAM_KEY", SPEC_VAR)}
    env[SPEC_VAR] = str(spec_fd(json.dumps({**json.loads(text), "listen_fd": sock.fileno()})))
    os.chdir(safe_cwd())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, python_module_argv("ccb.proxy.keeper", "serve"), env)


def main(argv: list[str]) -> int:
    if argv[:1] != ["serve"]:
        _say("error: ccb's login service runs this entry; to start the bridge run `ccb serve --profile NAME --detach`")
        return 2
    _log_to_file()
    with bridge_daemon._start_lock():  # not at the same time as a `ccb profile switch` or `--detach` start
        state = bridge_daemon.read_state()
        if state is None or bridge_daemon.settings_port() != state.port:
            _say("Claude Code's settings do not point at ccb's background bridge: nothing to hold")
            return 0
        if bridge_daemon.is_alive(state):
            _say(f"the background bridge already runs (pid {state.pid}) on {state.url}")
            return 0
        try:
            sock = _listen(state.host, state.port)
        except OSError as exc:
            return _taken(state, exc)
        # From here this process is the bridge's keeper: `ccb serve --stop` and a new switch stop it.
        state = replace(state, pid=os.getpid(), create_time=psutil.Process().create_time())
        write_json_atomic(paths.bridge_state_file(), asdict(state), mode=0o600)
    _say(f"holding {state.host}:{state.port} for the background bridge of '{state.profile}'")
    try:
        config, exports = _configure(state)
    except CcbError as exc:
        return _hold(sock, state, str(exc))
    _become_keeper(state, sock, config, exports)
    return 1  # not reached: execve replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
