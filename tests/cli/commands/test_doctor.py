"""`ccb doctor` end to end through the Typer app: Claude Code install, settings, env, auth, base URLs, bridge.

Each test reproduces one documented failure in a temporary HOME (see tests/conftest.py) with a fake `claude`
first on PATH. Checks that need a backend live in tests/cli/doctor/test_backend.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ccb.cli import paths
from tests.fakes.doctor_engines import plain_http_app
from tests.support.doctor import (
    SECRET,
    add,
    by_id,
    clean_env,
    doctor,
    doctor_json,
    install_fake_claude,
    onboard,
    statuses,
    user_settings,
)
from tests.support.servers import ServerThread

CHECK_KEYS = {"id", "area", "status", "finding", "fix"}


@pytest.fixture(autouse=True)
def setup(isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clean_env(monkeypatch)
    install_fake_claude(tmp_path / "bin", monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # project settings come from the working directory
    return isolated_home


def test_json_schema_is_stable(isolated_home: Path) -> None:
    onboard(isolated_home)
    report = doctor_json(code=0)
    assert set(report) == {"checks", "summary"}
    assert set(report["summary"]) == {"ok", "warn", "fail", "skip"}
    assert sum(report["summary"].values()) == len(report["checks"])
    for check in report["checks"]:
        assert set(check) == CHECK_KEYS
        assert check["status"] in ("ok", "warn", "fail", "skip")
        assert check["finding"] and "\n" not in check["finding"]
    ids = by_id(report)
    for cid in (
        "claude.found",
        "claude.runnable",
        "claude.version",
        "claude.onboarding",
        "settings.valid.user",
        "settings.valid.project",
        "settings.valid.local",
        "settings.valid.managed",
        "settings.valid.global",
        "env.cloud_provider",
        "auth.both_set",
        "auth.saved_login",
        "baseurl.v1_suffix",
        "baseurl.localhost",
        "baseurl.openai_only",
        "baseurl.proxy",
        "profile.selected",
        "bridge.daemon",
    ):
        assert cid in ids, cid


def test_no_profile_runs_local_checks_and_says_how_to_add_one(isolated_home: Path) -> None:
    onboard(isolated_home)
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "Claude Code" in result.stdout and "Settings files" in result.stdout
    assert "ccb profile add NAME --preset PRESET" in result.stdout
    report = doctor_json()
    assert by_id(report)["profile.selected"]["status"] == "warn"
    assert not any(c["area"] in ("backend", "engine", "smoke") for c in report["checks"])


def test_healthy_claude_install(isolated_home: Path) -> None:
    onboard(isolated_home)
    found = statuses(doctor_json(code=0))
    assert found["claude.found"] == found["claude.runnable"] == found["claude.version"] == "ok"
    assert found["claude.onboarding"] == "ok"
    assert "2.1.197" in by_id(doctor_json())["claude.version"]["finding"]


def test_claude_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    report = doctor_json(code=1)
    check = by_id(report)["claude.found"]
    assert check["status"] == "fail" and "npm install -g @anthropic-ai/claude-code" in check["fix"]
    assert by_id(report)["claude.version"]["status"] == "skip"


def test_claude_installed_but_not_on_path(isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onboard(isolated_home)
    install_fake_claude(isolated_home / ".local" / "bin", monkeypatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    report = by_id(doctor_json(code=0))
    assert report["claude.found"]["status"] == "warn" and "not on PATH" in report["claude.found"]["finding"]
    assert "~/.local/bin" in report["claude.found"]["fix"]
    assert report["claude.version"]["status"] == "ok"


def test_missing_onboarding_warns_with_fix(isolated_home: Path) -> None:
    add("kimi", "kimi", api_key_env="MOONSHOT_API_KEY")
    (isolated_home / ".claude.json").write_text(json.dumps({"numStartups": 3}))
    check = by_id(doctor_json("--offline"))["claude.onboarding"]
    assert check["status"] == "warn" and "hasCompletedOnboarding" in check["finding"]
    assert "ccb profile switch kimi" in check["fix"] and "ccb launch" in check["fix"]


def test_invalid_json_settings_fail(isolated_home: Path) -> None:
    onboard(isolated_home)
    user_settings(isolated_home, '{"env": {"ANTHROPIC_MODEL": "x",}')
    result = doctor()
    assert result.exit_code == 1
    assert "not valid JSON" in result.stdout and "fix:" in result.stdout
    check = by_id(doctor_json())["settings.valid.user"]
    assert check["status"] == "fail" and "settings.json" in check["fix"]


def test_env_conflict_names_both_sources(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onboard(isolated_home)
    user_settings(isolated_home, {"env": {"ANTHROPIC_MODEL": "from-settings", "API_TIMEOUT_MS": "1000"}})
    monkeypatch.setenv("ANTHROPIC_MODEL", "from-shell")
    report = by_id(doctor_json(code=0))
    conflict = report["env.conflict.ANTHROPIC_MODEL"]
    assert conflict["status"] == "warn"
    assert "from-settings" in conflict["finding"] and "from-shell" in conflict["finding"]
    assert "user settings ~/.claude/settings.json" in conflict["finding"]
    assert "shell environment" in conflict["finding"]
    assert "~/.claude/settings.json" in conflict["fix"]
    assert "user settings" in report["env.source.ANTHROPIC_MODEL"]["finding"]
    assert report["env.source.API_TIMEOUT_MS"]["status"] == "ok"
    assert "env.conflict.API_TIMEOUT_MS" not in report  # nothing in the shell to override


def test_project_settings_are_read_from_the_working_directory(isolated_home: Path) -> None:
    onboard(isolated_home)
    user_settings(isolated_home, {"env": {"ANTHROPIC_MODEL": "user-model"}})
    project = Path.cwd() / ".claude"
    project.mkdir()
    (project / "settings.json").write_text(json.dumps({"env": {"ANTHROPIC_MODEL": "project-model"}}))
    (project / "settings.local.json").write_text("[1, 2")
    report = by_id(doctor_json(code=1))
    assert report["settings.valid.project"]["status"] == "ok"
    assert report["settings.valid.local"]["status"] == "fail"
    assert "project settings" in report["env.conflict.ANTHROPIC_MODEL"]["finding"]


def test_url_ending_in_v1_fails(isolated_home: Path) -> None:
    onboard(isolated_home)
    user_settings(isolated_home, {"env": {"ANTHROPIC_BASE_URL": "https://llm.example.com/api/v1"}})
    check = by_id(doctor_json(code=1))["baseurl.v1_suffix"]
    assert check["status"] == "fail" and "/v1/v1/messages" in check["finding"]
    assert "https://llm.example.com/api" in check["fix"]


def test_openai_only_endpoint_as_anthropic_base_url_fails(isolated_home: Path) -> None:
    onboard(isolated_home)
    user_settings(isolated_home, {"env": {"ANTHROPIC_BASE_URL": "https://api.groq.com/openai/v1"}})
    check = by_id(doctor_json(code=1))["baseurl.openai_only"]
    assert check["status"] == "fail" and "Groq" in check["finding"]


def test_openai_profile_url_pasted_into_settings_fails(isolated_home: Path) -> None:
    onboard(isolated_home)
    add("local", "vllm", model="qwen")
    user_settings(isolated_home, {"env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8000/v1"}})
    report = by_id(doctor_json("--offline", code=1))
    assert report["baseurl.openai_only"]["status"] == "fail"
    assert "ccb launch local" in report["baseurl.openai_only"]["fix"]
    assert report["baseurl.v1_suffix"]["status"] == "fail"


def test_localhost_and_proxy_warn(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onboard(isolated_home)
    user_settings(isolated_home, {"env": {"ANTHROPIC_BASE_URL": "http://localhost:4000"}})
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "corp.internal")
    report = by_id(doctor_json())
    assert report["baseurl.localhost"]["status"] == "warn"
    assert "127.0.0.1:4000" in report["baseurl.localhost"]["fix"]
    proxy = report["baseurl.proxy"]
    assert proxy["status"] == "warn" and "127.0.0.1" in proxy["finding"] and "NO_PROXY" in proxy["fix"]
    assert "pw@" not in proxy["finding"]  # proxy credentials are redacted
    monkeypatch.setenv("NO_PROXY", "corp.internal,127.0.0.1,localhost")
    assert by_id(doctor_json())["baseurl.proxy"]["status"] == "ok"


def test_both_auth_variables_warn_and_stay_masked(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onboard(isolated_home)
    user_settings(isolated_home, {"env": {"ANTHROPIC_API_KEY": SECRET}})
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "sk-other-token-abcd1234")
    result = doctor()
    assert SECRET not in result.output and "sk-other-token-abcd1234" not in result.output
    raw = doctor("--json").stdout
    assert SECRET not in raw and "PLANTED" not in raw
    report = by_id(json.loads(raw))
    check = report["auth.both_set"]
    assert check["status"] == "warn" and "••••9f8e" in check["finding"]
    assert "••••9f8e" in report["env.source.ANTHROPIC_API_KEY"]["finding"]


def test_bedrock_mode_fails(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onboard(isolated_home)
    monkeypatch.setenv("CLAUDE_CODE_USE_BEDROCK", "1")
    check = by_id(doctor_json(code=1))["env.cloud_provider"]
    assert check["status"] == "fail" and "Bedrock" in check["finding"]
    assert "unset CLAUDE_CODE_USE_BEDROCK" in check["fix"]
    monkeypatch.setenv("CLAUDE_CODE_USE_BEDROCK", "0")
    assert by_id(doctor_json(code=0))["env.cloud_provider"]["status"] == "ok"


def test_saved_login_competes_with_profile(isolated_home: Path) -> None:
    onboard(isolated_home, oauthAccount={"emailAddress": "me@example.com"}, primaryApiKey=SECRET)
    assert by_id(doctor_json())["auth.saved_login"]["status"] == "ok"  # nothing competes yet
    add("kimi", "kimi", api_key=SECRET)
    raw = doctor("--json", "--offline").stdout
    assert SECRET not in raw
    check = by_id(json.loads(raw))["auth.saved_login"]
    assert check["status"] == "warn" and "oauthAccount" in check["finding"] and "primaryApiKey" in check["finding"]
    assert "/logout" in check["fix"]


def test_unknown_profile_is_a_failing_check(isolated_home: Path) -> None:
    onboard(isolated_home)
    check = by_id(doctor_json("--profile", "nope", code=1))["profile.selected"]
    assert check["status"] == "fail" and "nope" in check["finding"]


def test_offline_skips_network_checks(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onboard(isolated_home)
    monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)
    add("ds", "deepseek")
    report = by_id(doctor_json("--offline", code=0))
    assert report["profile.key"]["status"] == "ok" and "$DEEPSEEK_API_KEY" in report["profile.key"]["finding"]
    assert report["launch.route"]["status"] == "ok" and "directly" in report["launch.route"]["finding"]
    for cid in ("backend.reachable", "backend.auth", "backend.model", "smoke.stream", "smoke.tools"):
        assert report[cid]["status"] == "skip", cid


def test_key_variable_missing_fails(isolated_home: Path) -> None:
    onboard(isolated_home)
    add("ds", "deepseek")
    check = by_id(doctor_json("--offline", code=1))["profile.key"]
    assert check["status"] == "fail" and "export DEEPSEEK_API_KEY=" in check["fix"]


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_state(pid: int, port: int, token: str = SECRET, create_time: float = 0.0) -> None:
    state = paths.state_dir() / "bridge.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps(
            {
                "pid": pid,
                "host": "127.0.0.1",
                "port": port,
                "url": f"http://127.0.0.1:{port}",
                "profile": "local",
                "token": token,
                "log": "/tmp/bridge.log",
                "create_time": create_time,
            }
        )
    )


def test_dead_detached_bridge_and_dead_settings_port(isolated_home: Path) -> None:
    onboard(isolated_home)
    port = _free_port()
    _write_state(_dead_pid(), port)
    user_settings(
        isolated_home,
        {"env": {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}", "ANTHROPIC_AUTH_TOKEN": SECRET}},
    )
    raw = doctor("--json")
    assert raw.exit_code == 1 and SECRET not in raw.stdout
    report = by_id(json.loads(raw.stdout))
    daemon = report["bridge.daemon"]
    assert daemon["status"] == "warn" and "no longer running" in daemon["finding"]
    assert "ccb serve --profile local --detach" in daemon["fix"]
    dead = report["bridge.settings_port"]
    assert dead["status"] == "fail" and "dead port" in dead["finding"]
    assert "ccb serve --profile local --detach" in dead["fix"] and "ccb restore" in dead["fix"]


def test_bridge_port_taken_by_another_program(isolated_home: Path) -> None:
    onboard(isolated_home)
    with ServerThread(plain_http_app()) as other:
        _write_state(_dead_pid(), other.port)
        check = by_id(doctor_json(code=1))["bridge.daemon"]
    assert check["status"] == "fail" and "taken by another program" in check["finding"]
    assert "--port" in check["fix"]


def test_running_detached_bridge_is_ok(isolated_home: Path, tmp_path: Path) -> None:
    import re
    import time

    import psutil

    onboard(isolated_home)
    # A real bridge process: only one that runs ccb's module, as this user, and proves it holds the recorded
    # token counts as the detached bridge.
    out = tmp_path / "serve.out"
    with out.open("wb") as fh:
        bridge = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ccb.cli",
                "serve",
                "--upstream",
                "http://127.0.0.1:9/v1",
                "--model",
                "m",
                "--engine",
                "vllm",
                "--port",
                "0",
                "--auth-token",
                SECRET,
            ],
            stdout=fh,
            stderr=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30  # hang guard only
        while not (found := re.search(r"ANTHROPIC_BASE_URL=http://127.0.0.1:(\d+)", out.read_text())):
            assert bridge.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        port = int(found.group(1))
        _write_state(bridge.pid, port, create_time=psutil.Process(bridge.pid).create_time())
        user_settings(isolated_home, {"env": {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}"}})
        report = by_id(doctor_json(code=0))
    finally:
        bridge.terminate()
        bridge.wait(30)
    assert report["bridge.daemon"]["status"] == "ok" and "/health ok" in report["bridge.daemon"]["finding"]
    assert report["bridge.settings_port"]["status"] == "ok"


def test_a_serve_process_that_is_not_ccb_is_not_taken_for_the_bridge(isolated_home: Path) -> None:
    from aiohttp import web

    onboard(isolated_home)
    app = web.Application()

    async def health(request: web.Request) -> web.Response:  # answers like a bridge, cannot prove the token
        return web.json_response({"status": "ok", "upstream": "http://127.0.0.1:1/v1", "model": "m"})

    app.router.add_get("/health", health)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "serve"])
    try:
        with ServerThread(app) as impostor:
            _write_state(sleeper.pid, impostor.port)
            report = by_id(doctor_json(code=1))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert report["bridge.daemon"]["status"] != "ok"


def test_garbage_state_file_is_tolerated(isolated_home: Path) -> None:
    onboard(isolated_home)
    state = paths.state_dir() / "bridge.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("not json at all")
    check = by_id(doctor_json(code=0))["bridge.daemon"]
    assert check["status"] == "warn" and "unreadable" in check["finding"]
