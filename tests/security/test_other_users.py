"""Another local user can neither receive the user's prompts or bridge token by taking the background
bridge's port, nor make ccb kill or trip over a process that is not its bridge (audit D1-D3, D5, D6).

The other user is `nobody` (uid 65534), started with `setpriv`; the tests skip, saying why, where the
machine cannot switch users (not root, or no setpriv).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ccb.cli import bridge_daemon, paths
from ccb.cli.app import app
from tests.fakes.openai_engine import FakeEngine
from tests.support.cli import ccb
from tests.support.servers import serving_in_thread

NOBODY = 65534
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="a second local user needs root and setpriv to start its processes",
)

# A listener that pretends to be the bridge ({"status": "ok"} on /health) and writes down everything it gets.
SQUATTER = textwrap.dedent("""
    import http.server, sys
    log = open(sys.argv[2], "a", buffering=1)
    class H(http.server.BaseHTTPRequestHandler):
        def _any(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            log.write(self.requestline + " " + repr(dict(self.headers)) + " " + body.decode("latin-1") + "\\n")
            data = b'{"status": "ok", "upstream": "x", "model": "m"}'
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
        do_GET = do_POST = do_HEAD = _any
        def log_message(self, *a): pass
    server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
    print("ready", flush=True)
    server.serve_forever()
""")


def as_nobody(*argv: str, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv], **kwargs)  # type: ignore[call-overload]


@pytest.fixture
def squat() -> Iterator[tuple[object, Path]]:
    """squat(port): nobody listens on `port`; yields the function and the file its listener writes to."""
    folder = Path(tempfile.mkdtemp(prefix="ccb-test-nobody-"))  # pytest's own folders are closed to nobody
    os.chown(folder, NOBODY, NOBODY)
    log = folder / "seen.log"
    started: list[subprocess.Popen[bytes]] = []

    def start(port: int) -> None:
        proc = as_nobody("/usr/bin/python3", "-c", SQUATTER, str(port), str(log), stdout=subprocess.PIPE)
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"

    yield start, log
    for proc in started:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    shutil.rmtree(folder)


def seen(log: Path) -> str:
    return log.read_text() if log.exists() else ""


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def test_a_port_taken_by_another_user_never_gets_the_token_or_a_prompt(isolated_home: Path, squat: tuple) -> None:
    start_squatter, log = squat
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        try:
            switched = invoke("profile", "switch", "local", "--json")
            assert switched.exit_code == 0, switched.output
            settings_file = isolated_home / ".claude" / "settings.json"
            env = json.loads(settings_file.read_text())["env"]
            token, port = env["ANTHROPIC_AUTH_TOKEN"], int(env["ANTHROPIC_BASE_URL"].rsplit(":", 1)[1])
            # The bridge crashes (or the machine reboots): its port is free, settings still point at it.
            state = bridge_daemon.read_state()
            assert state is not None
            os.kill(state.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10  # hang guard only
            while bridge_daemon._port_free("127.0.0.1", port) is False:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            start_squatter(port)

            # ccb's own advice to bring the bridge back refuses to start it anywhere else.
            again = invoke("serve", "--profile", "local", "--detach")
            assert again.exit_code == 1
            refusal = str(again.exception)  # type: ignore[attr-defined]
            assert "another user, nobody" in refusal and "ccb restore" in refusal
            assert json.loads(settings_file.read_text())["env"]["ANTHROPIC_BASE_URL"].endswith(f":{port}")
            # `profile current` and `doctor` name the stranger.
            current = json.loads(invoke("profile", "current", "--json").stdout)["claude"]
            assert current["bridge_alive"] is False and "nobody" in current["foreign_listener"]
            assert "not your bridge" in invoke("profile", "current").stderr
            doctor = json.loads(invoke("doctor", "--json", "--offline").stdout)
            check = next(c for c in doctor["checks"] if c["id"] == "bridge.settings_port")
            assert check["status"] == "fail" and "nobody" in check["finding"]
            # A switch moves the bridge and the settings together to a port the user holds.
            moved = invoke("profile", "switch", "local", "--json")
            assert moved.exit_code == 0, moved.output
            env = json.loads(settings_file.read_text())["env"]
            assert not env["ANTHROPIC_BASE_URL"].endswith(f":{port}")
            status = json.loads(invoke("serve", "--status", "--json").stdout)
            assert status["healthy"] is True
        finally:
            bridge_daemon.stop()
    # ccb asked the squatter /health (a challenge), and never sent it the token or a prompt.
    assert token not in seen(log)
    assert "/v1/messages" not in seen(log)


def test_stop_never_kills_a_process_that_is_not_the_bridge(isolated_home: Path) -> None:
    # The recorded pid now belongs to an unrelated `… serve` of this user (a recycled pid).
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ollama", "serve"])
    try:
        bridge_daemon.write_json_atomic(
            paths.bridge_state_file(),
            {
                "pid": stranger.pid,
                "host": "127.0.0.1",
                "port": 9,
                "url": "http://127.0.0.1:9",
                "profile": "local",
                "token": "tok",
                "log": "x",
            },
            mode=0o600,
        )
        stopped = invoke("serve", "--stop")
        assert stopped.exit_code == 0, stopped.output
        time.sleep(0.2)  # a SIGTERM would have landed by now; this is no timing assertion on ccb
        assert stranger.poll() is None
        assert not paths.bridge_state_file().exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_state_file_naming_another_users_process_does_not_leave_ccb_stuck(isolated_home: Path) -> None:
    other = as_nobody("/usr/bin/python3", "-c", "import time; time.sleep(60)", "ccb.cli", "serve")
    try:
        bridge_daemon.write_json_atomic(
            paths.bridge_state_file(),
            {
                "pid": other.pid,
                "host": "127.0.0.1",
                "port": 9,
                "url": "http://127.0.0.1:9",
                "profile": "local",
                "token": "tok",
                "log": "x",
            },
            mode=0o600,
        )
        status = json.loads(invoke("serve", "--status", "--json").stdout)
        assert status["running"] is False
        stopped = invoke("serve", "--stop")
        assert stopped.exit_code == 0, stopped.output
        assert other.poll() is None and not paths.bridge_state_file().exists()
    finally:
        other.kill()
        other.wait()


def test_two_detached_starts_at_once_both_succeed_with_one_bridge(isolated_home: Path) -> None:
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        results: list[bridge_daemon.DaemonState | Exception] = []

        def one() -> None:
            try:
                results.append(bridge_daemon.start("local"))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                results.append(exc)

        try:
            threads = [threading.Thread(target=one) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert all(isinstance(r, bridge_daemon.DaemonState) for r in results), results
            assert {r.pid for r in results} == {bridge_daemon.read_state().pid}  # type: ignore[union-attr]
            state = bridge_daemon.read_state()
            assert state is not None
            resp = httpx.get(state.url + "/v1/models", headers={"x-api-key": state.token}, trust_env=False)
            assert resp.status_code == 200
        finally:
            bridge_daemon.stop()


# Tries to bind the port for a while; prints "taken" (and exits 1) the moment it manages to.
BINDER = textwrap.dedent("""
    import socket, sys, time
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
        except OSError:
            s.close(); time.sleep(0.01); continue
        print("taken", flush=True); sys.exit(1)
    print("never free", flush=True)
""")


def test_the_port_stays_held_while_a_crashed_bridge_restarts(isolated_home: Path) -> None:
    import psutil

    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        try:
            assert invoke("profile", "switch", "local").exit_code == 0
            state = bridge_daemon.read_state()
            assert state is not None
            (bridge,) = psutil.Process(state.pid).children()  # the keeper holds the port, its child serves
            binder = as_nobody("/usr/bin/python3", "-c", BINDER, str(state.port), "3", stdout=subprocess.PIPE)
            bridge.kill()  # a crash
            out, _ = binder.communicate(timeout=60)
            assert out.strip() == b"never free"
            deadline = time.monotonic() + 30  # hang guard only
            while not bridge_daemon.healthy(state.url, timeout=1.0, token=state.token):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            (again,) = psutil.Process(state.pid).children()
            assert again.pid != bridge.pid
            resp = httpx.post(
                state.url + "/v1/messages",
                headers={"x-api-key": state.token},
                trust_env=False,
                json={"model": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
                timeout=30,
            )
            assert resp.status_code == 200
        finally:
            bridge_daemon.stop()
    assert not psutil.pid_exists(state.pid) or psutil.Process(state.pid).status() == psutil.STATUS_ZOMBIE
    assert not psutil.pid_exists(again.pid) or psutil.Process(again.pid).status() == psutil.STATUS_ZOMBIE
