"""After a reboot or logout the background bridge's port is taken back at login by a per-user service, before
plain `claude` can send anything to whoever else might listen there (audit D6).

The service's file and its lifecycle (`ccb profile switch` writes it, `ccb restore` removes it, `ccb doctor`
reports it) are checked everywhere; its command is run exactly as the unit names it, as systemd would at
login. Whether systemd itself starts it needs a running `systemd --user` (skipped, saying why, where the
machine has none; the tests' own `systemctl --user` calls never reach a real user manager, see conftest).
"""

from __future__ import annotations

import json
import os
import plistlib
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import psutil
import pytest
from typer.testing import CliRunner

from ccb.cli import bridge_daemon, login_service, paths
from ccb.cli.app import app
from tests.fakes.openai_engine import FakeEngine
from tests.security.test_other_users import seen, squat
from tests.support.cli import ccb
from tests.support.servers import serving_in_thread

__all__ = ["squat"]  # the fixture: another local user listening on a port

# Looked at before any test moves XDG_RUNTIME_DIR: does this machine run a systemd user manager?
_REAL_ENV = dict(os.environ)
_PROBE = subprocess.run(
    ["systemctl", "--user", "show-environment"], capture_output=True, text=True, check=False, env=_REAL_ENV
)
SYSTEMD_USER = _PROBE.returncode == 0
BOOTED = os.path.isdir("/run/systemd/system")  # systemd is init: a user manager starts at each login
WHY_NOT = (_PROBE.stderr or _PROBE.stdout).strip().splitlines()[:1] or ["systemctl --user failed"]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the systemd unit is Linux's service")


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def switched(isolated_home: Path) -> Iterator[bridge_daemon.DaemonState]:
    """Profile 'local' (an OpenAI-only engine) switched to: settings point at a background bridge."""
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        done = invoke("profile", "switch", "local")
        assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
        state = bridge_daemon.read_state()
        assert state is not None
        try:
            yield state
        finally:
            bridge_daemon.stop()


def unit_file(home: Path) -> Path:
    return home / ".config" / "systemd" / "user" / "ccb-bridge.service"


def unit_fields(text: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            fields.setdefault(key, []).append(value)
    return fields


def reboot(state: bridge_daemon.DaemonState) -> None:
    """What a reboot leaves: no keeper, no bridge, the port free, the settings and state file unchanged."""
    os.kill(state.pid, signal.SIGKILL)  # the bridge, its child, follows (the kernel's parent-death signal)
    wait_until(lambda: bridge_daemon._port_free("127.0.0.1", state.port))


def run_as_the_unit_would(home: Path) -> subprocess.Popen[bytes]:
    """The unit's ExecStart, in its WorkingDirectory, with only its Environment (plus the HOME systemd sets)."""
    fields = unit_fields(unit_file(home).read_text())
    argv = shlex.split(fields["ExecStart"][0])
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    env.update(dict(shlex.split(value)[0].split("=", 1) for value in fields.get("Environment", [])))
    return subprocess.Popen(
        argv,
        cwd=fields["WorkingDirectory"][0],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_until(check: object, guard: float = 30.0) -> None:
    deadline = time.monotonic() + guard  # hang guard only
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.1)


@linux_only
def test_switch_writes_the_unit_and_restore_removes_it(
    isolated_home: Path, switched: bridge_daemon.DaemonState
) -> None:
    path = unit_file(isolated_home)
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o644 and info.st_uid == os.getuid()  # no secret in it: see below
    text = path.read_text()
    assert switched.token not in text
    fields = unit_fields(text)
    argv = shlex.split(fields["ExecStart"][0])
    # This interpreter, isolated from the current directory (-P), on ccb's login entry.
    assert argv == [sys.executable, "-P", "-m", "ccb.cli.bridge_boot", "serve"]
    assert Path(argv[0]).is_absolute() and Path(argv[0]).exists()
    workdir = Path(fields["WorkingDirectory"][0])
    assert workdir.is_absolute() and stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert f"CCB_HOME={os.environ['CCB_HOME']}" in shlex.split(fields["Environment"][0])
    assert fields["WantedBy"] == ["default.target"] and fields["Restart"] == ["on-failure"]
    assert fields["UMask"] == ["0077"]

    report = json.loads(invoke("profile", "switch", "local", "--json").stdout)["login_service"]  # type: ignore[attr-defined]
    assert report["file"] == str(path) and report["kind"] == "systemd"
    assert report["enabled"] is BOOTED
    links = isolated_home / ".config" / "systemd" / "user" / "default.target.wants"
    assert (links / "ccb-bridge.service").resolve() == path  # enabled: started with the user's manager
    doctor = json.loads(invoke("doctor", "--json", "--offline").stdout)  # type: ignore[attr-defined]
    check = next(c for c in doctor["checks"] if c["id"] == "bridge.login_service")
    assert check["status"] == ("ok" if BOOTED else "warn")
    assert str(switched.port) in check["finding"]

    restored = json.loads(invoke("restore", "--json").stdout)  # type: ignore[attr-defined]
    assert restored["login_service_removed"] == str(path)
    assert not path.exists() and not (links / "ccb-bridge.service").is_symlink()
    doctor = json.loads(invoke("doctor", "--json", "--offline").stdout)  # type: ignore[attr-defined]
    assert not [c for c in doctor["checks"] if c["id"] == "bridge.login_service"]


@linux_only
def test_serve_stop_removes_the_unit_with_the_settings(
    isolated_home: Path, switched: bridge_daemon.DaemonState
) -> None:
    assert unit_file(isolated_home).exists()
    stopped = json.loads(invoke("serve", "--stop", "--json").stdout)  # type: ignore[attr-defined]
    assert stopped["settings_restored"] is True
    assert not unit_file(isolated_home).exists()


@linux_only
def test_a_switch_to_a_direct_route_removes_the_unit(isolated_home: Path, switched: bridge_daemon.DaemonState) -> None:
    ccb("profile", "add", "cloud", "--preset", "kimi", "--api-key", "sk-test-0123456789abcdef")
    assert unit_file(isolated_home).exists()
    done = invoke("profile", "switch", "cloud", "--json")
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    assert json.loads(done.stdout)["login_service"] is None  # type: ignore[attr-defined]
    assert not unit_file(isolated_home).exists()


@linux_only
@pytest.mark.skipif(BOOTED, reason="systemd runs here: the service starts at login, nothing to explain")
def test_without_systemd_user_the_switch_says_so_once_with_what_protects_the_user(isolated_home: Path) -> None:
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        try:
            first = invoke("profile", "switch", "local")
            assert first.exit_code == 0, first.output  # type: ignore[attr-defined]
            said = " ".join(first.stderr.split())  # type: ignore[attr-defined]
            assert "ccb's login service cannot run here: systemd is not this machine's init" in said
            assert "after a reboot or logout nothing holds 127.0.0.1:" in said  # the risk
            assert "the bridge's keeper holds the port for as long as the bridge runs" in said  # what protects
            assert "`ccb serve --profile local --detach`" in said and "`ccb restore` before you log out" in said
            assert "written and enabled anyway" in said  # and that it would start where systemd runs
            again = invoke("profile", "switch", "local")
            assert again.exit_code == 0 and "login service" not in again.stderr  # type: ignore[attr-defined]
            doctor = json.loads(invoke("doctor", "--json", "--offline").stdout)  # type: ignore[attr-defined]
            check = next(c for c in doctor["checks"] if c["id"] == "bridge.login_service")
            assert check["status"] == "warn" and "systemd is not this machine's init" in check["finding"]
            assert "ccb serve --profile local --detach" in check["fix"]
        finally:
            bridge_daemon.stop()


@linux_only
def test_at_login_the_unit_takes_the_port_back_and_becomes_the_keeper(
    isolated_home: Path, switched: bridge_daemon.DaemonState
) -> None:
    reboot(switched)
    login = run_as_the_unit_would(isolated_home)
    try:
        wait_until(lambda: bridge_daemon.healthy(switched.url, timeout=1.0, token=switched.token))
        state = bridge_daemon.read_state()
        assert state is not None and state.pid == login.pid and state.token == switched.token
        assert psutil.Process(login.pid).cmdline()[-3:] == ["-m", "ccb.proxy.keeper", "serve"]  # exec'd in place
        (bridge,) = psutil.Process(login.pid).children()  # the keeper holds the port, its child serves
        resp = anthropic.Anthropic(base_url=switched.url, api_key=switched.token, max_retries=0).messages.create(
            model="qwen3", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
        assert resp.content
        status = json.loads(invoke("serve", "--status", "--json").stdout)  # type: ignore[attr-defined]
        assert status["running"] is True and status["healthy"] is True
        said = paths.bridge_daemon_log_file().read_text()
        assert "ccb login service: holding 127.0.0.1:" in said and "background bridge for 'local'" in said
    finally:
        stopped = invoke("serve", "--stop")
        assert stopped.exit_code == 0  # type: ignore[attr-defined]
        assert login.wait(30) == 0  # a clean stop: the manager does not start it again
    assert not psutil.pid_exists(bridge.pid) or psutil.Process(bridge.pid).status() == psutil.STATUS_ZOMBIE


@linux_only
def test_at_login_with_the_bridge_already_running_the_unit_does_nothing(
    isolated_home: Path, switched: bridge_daemon.DaemonState
) -> None:
    login = run_as_the_unit_would(isolated_home)
    assert login.wait(30) == 0
    assert bridge_daemon.read_state() == switched


@linux_only
def test_at_login_a_bridge_that_cannot_start_keeps_the_port_and_says_why(
    isolated_home: Path, switched: bridge_daemon.DaemonState
) -> None:
    reboot(switched)
    ccb("profile", "remove", "local")
    login = run_as_the_unit_would(isolated_home)
    try:

        def held() -> bool:
            state = bridge_daemon.read_state()
            return (
                state is not None and state.pid == login.pid and not bridge_daemon._port_free("127.0.0.1", state.port)
            )

        wait_until(held)
        with socket.socket() as other:  # nobody else can take it
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError):
                other.bind(("127.0.0.1", switched.port))
        client = anthropic.Anthropic(base_url=switched.url, api_key=switched.token, max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as refused:
            client.messages.create(model="qwen3", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        assert refused.value.status_code == 503
        assert "could not start at login" in refused.value.message and "local" in refused.value.message
        assert "ccb profile switch local" in refused.value.message
    finally:
        stopped = invoke("serve", "--stop")
        assert stopped.exit_code == 0  # type: ignore[attr-defined]
        assert login.wait(30) == 0


def test_the_unit_quotes_what_systemd_would_expand() -> None:
    text = login_service.unit_text(
        ["/opt/my env/bin/python3", "-P", "-m", "ccb.cli.bridge_boot", "serve"],
        Path("/home/a b/.ccb/state"),
        {"CCB_HOME": '/home/a b/100%$HOME"x'},
        8765,
    )
    fields = unit_fields(text)
    assert fields["ExecStart"] == ['"/opt/my env/bin/python3" "-P" "-m" "ccb.cli.bridge_boot" "serve"']
    assert fields["WorkingDirectory"] == ["/home/a b/.ccb/state"]  # systemd takes this one whole, unquoted
    assert fields["Environment"] == ['"CCB_HOME=/home/a b/100%%$HOME\\"x"']  # no $ expansion there


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze checks unit files; none here")
def test_systemd_accepts_the_unit_even_for_awkward_paths(tmp_path: Path) -> None:
    workdir = tmp_path / "state dir 100%$HOME"
    workdir.mkdir()
    unit = tmp_path / "ccb-bridge.service"
    unit.write_text(login_service.unit_text(login_service.command(), workdir, {"CCB_HOME": str(workdir)}, 8765))
    checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


def test_the_launchd_agent_runs_the_same_command_at_every_login() -> None:
    argv = [sys.executable, "-P", "-m", "ccb.cli.bridge_boot", "serve"]
    agent = plistlib.loads(login_service.plist_text(argv, Path("/Users/a/.ccb/state"), {"CCB_HOME": "/Users/a/.ccb"}))
    assert agent["Label"] == login_service.LABEL and agent["ProgramArguments"] == argv
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["WorkingDirectory"] == "/Users/a/.ccb/state" and agent["Umask"] == 0o077
    assert agent["EnvironmentVariables"] == {"CCB_HOME": "/Users/a/.ccb"}
    assert "StandardErrorPath" not in agent  # the entry writes to ccb's private log itself


@linux_only
@pytest.mark.skipif(not SYSTEMD_USER, reason=f"no systemd user manager here ({WHY_NOT[0]})")
def test_systemd_starts_the_unit(isolated_home: Path, switched: bridge_daemon.DaemonState, tmp_path: Path) -> None:
    # The real user manager runs a copy under a name of its own, so the user's own ccb-bridge.service is never touched.
    name = f"ccb-bridge-test-{os.getpid()}.service"
    text = unit_file(isolated_home).read_text().replace("[Service]", f"[Service]\nEnvironment=HOME={isolated_home}")
    (tmp_path / name).write_text(text)
    systemctl = ["systemctl", "--user"]
    reboot(switched)
    subprocess.run([*systemctl, "link", str(tmp_path / name)], check=True, env=_REAL_ENV)
    try:
        subprocess.run([*systemctl, "start", name], check=True, env=_REAL_ENV)
        wait_until(lambda: bridge_daemon.healthy(switched.url, timeout=1.0, token=switched.token))
    finally:
        subprocess.run([*systemctl, "stop", name], check=False, env=_REAL_ENV)
        subprocess.run([*systemctl, "disable", name], check=False, env=_REAL_ENV)


@linux_only
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="a second local user needs root and setpriv to start its processes",
)
def test_at_login_a_port_another_user_took_gets_no_prompt_and_the_settings_let_go(
    isolated_home: Path, switched: bridge_daemon.DaemonState, squat: tuple[Any, Path]
) -> None:
    start_squatter, log = squat
    settings_file = isolated_home / ".claude" / "settings.json"
    reboot(switched)
    start_squatter(switched.port)  # another user was faster after the reboot
    login = run_as_the_unit_would(isolated_home)
    assert login.wait(60) == 0  # nothing a restart would change: the manager leaves it
    env = json.loads(settings_file.read_text()).get("env", {})
    assert "ANTHROPIC_BASE_URL" not in env and "ANTHROPIC_AUTH_TOKEN" not in env  # plain `claude` sends nothing there
    said = paths.bridge_daemon_log_file().read_text()
    assert "held by another user, nobody" in said and "ccb profile switch local" in said
    assert not unit_file(isolated_home).exists()
    assert switched.token not in seen(log)
