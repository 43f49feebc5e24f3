"""`python -m ccb.proxy.keeper serve`: the background bridge's keeper. Does process and network I/O.

A background bridge's port must never be free while Claude Code's settings point at it: any local user
could bind it and receive every prompt and the bridge token. The keeper binds the port once (at login,
ccb's login service binds it first thing and hands it over: `ccb.cli.bridge_boot`) and holds
the listening socket for the bridge's whole life; the bridge itself runs as its child (the lean
`python -m ccb.proxy serve`, handed the socket), and when it dies of anything but a stop, the keeper
starts it again on the same socket. Connections that arrive meanwhile wait in the socket's queue.
SIGTERM or SIGINT stop the bridge and then the keeper. It gets its configuration the way the bridge does
(`CCB_BRIDGE_SPEC_FD`), keeps it in memory only, and hands each child a fresh private copy.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from ccb.proxy.entry import SPEC_VAR, read_spec, say, spec_fd

RESTARTS = 5  # crashes within RESTART_WINDOW before the keeper gives up (a bridge that cannot start)
RESTART_WINDOW = 60.0
RESTART_DELAY = 0.5


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def _child(data: dict[str, Any], sock: socket.socket, *, restarted: bool) -> subprocess.Popen[bytes]:
    fd = spec_fd(json.dumps({**data, "listen_fd": sock.fileno(), "restarted": restarted}))
    env = {k: v for k, v in os.environ.items() if k != SPEC_VAR}
    env[SPEC_VAR] = str(fd)
    try:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "ccb.proxy", "serve"],
            env=env,
            pass_fds=(sock.fileno(), fd),
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_keeper,  # noqa: PLW1509 (the keeper starts no threads)
        )
    finally:
        os.close(fd)


def _die_with_keeper() -> None:
    """In the child: the kernel sends SIGTERM when the keeper dies (Linux), so no bridge outlives it."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG


def main(argv: list[str]) -> int:
    raw = read_spec()
    if argv[:1] != ["serve"] or raw is None:
        say("error: this entry is started by `ccb serve --detach`; run that instead")
        return 2
    data = json.loads(raw)
    try:
        # At login the service's entry binds the port first thing and hands it over (`ccb.cli.bridge_boot`).
        held = data.pop("listen_fd", None)
        sock = socket.socket(fileno=int(held)) if held is not None else _listen(data["host"], int(data["port"]))
    except OSError as exc:
        say(f"error: cannot listen on {data['host']}:{data['port']}: {exc.strerror or exc}")
        return 1
    stopping = False
    proc: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    crashes: list[float] = []
    while not stopping:
        proc = _child(data, sock, restarted=bool(crashes))
        code = proc.wait()
        if stopping:
            break
        now = time.monotonic()
        crashes = [t for t in crashes if now - t < RESTART_WINDOW] + [now]
        say(f"the bridge exited (code {code}); keeping its port and starting it again")
        if len(crashes) > RESTARTS:
            say(f"error: the bridge exited {len(crashes)} times within {RESTART_WINDOW:.0f} s; giving up")
            return 1
        time.sleep(RESTART_DELAY)
    if proc is not None and proc.poll() is None:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
