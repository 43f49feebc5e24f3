"""`ccb profile switch`, `ccb restore` and `ccb profile current` against temp HOME and fake upstreams."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ccb.cli import bridge_daemon, paths
from ccb.cli.app import app
from ccb.cli.errors import CcbError
from tests.fakes.openai_engine import FakeEngine
from tests.support.cli import ccb
from tests.support.servers import serving_in_thread

FOREIGN: dict[str, Any] = {
    "env": {"MY_VAR": "keep me", "ANTHROPIC_MODEL": "claude-opus-4-8"},
    "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]},
    "enabledPlugins": {"x@y": True},
    "statusLine": {"type": "command", "command": "~/bin/status"},
    "permissions": {"allow": ["Bash(git *)"], "deny": []},
}
KEY = "sk-literal-key-0123456789"


def settings_path(home: Path) -> Path:
    return home / ".claude" / "settings.json"


def write_settings(home: Path, data: Any) -> bytes:
    path = settings_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4))
    return path.read_bytes()


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_switch_merges_owned_keys_and_restore_is_exact(isolated_home: Path) -> None:
    original = write_settings(isolated_home, FOREIGN)
    (isolated_home / ".claude.json").write_text(json.dumps({"numStartups": 4, "projects": {"/x": {}}}))
    ccb("profile", "add", "kimi", "--preset", "kimi", "--api-key", KEY)
    result = invoke("profile", "switch", "kimi", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["route"] == "direct" and report["bridge"] is None
    assert KEY not in result.output
    data = json.loads(settings_path(isolated_home).read_text())
    for key, value in FOREIGN.items():
        if key != "env":
            assert data[key] == value
    assert data["env"]["MY_VAR"] == "keep me"
    assert data["env"]["ANTHROPIC_BASE_URL"] == "https://api.moonshot.ai/anthropic"
    assert data["env"]["ANTHROPIC_AUTH_TOKEN"] == KEY and data["env"]["ANTHROPIC_API_KEY"] == ""
    assert data["env"]["ANTHROPIC_MODEL"] != "claude-opus-4-8"
    assert stat.S_IMODE(settings_path(isolated_home).stat().st_mode) == 0o600  # it holds a key now
    assert Path(report["backup"]).read_bytes() == original
    global_config = json.loads((isolated_home / ".claude.json").read_text())
    assert global_config == {"numStartups": 4, "projects": {"/x": {}}, "hasCompletedOnboarding": True}

    current = json.loads(invoke("profile", "current", "--json").stdout)
    assert current["active"] == "kimi"
    assert current["claude"]["ANTHROPIC_BASE_URL"] == {
        "value": "https://api.moonshot.ai/anthropic",
        "source": "user",
        "by_ccb": True,
    }

    restored = invoke("restore")
    assert restored.exit_code == 0
    assert json.loads(settings_path(isolated_home).read_text()) == FOREIGN
    assert "Nothing to restore" in invoke("restore").stderr


def test_switching_twice_still_restores_the_original(isolated_home: Path) -> None:
    write_settings(isolated_home, FOREIGN)
    ccb("profile", "add", "kimi", "--preset", "kimi", "--api-key", KEY)
    ccb("profile", "add", "glm", "--preset", "zai", "--api-key", KEY + "x")
    assert invoke("profile", "switch", "kimi").exit_code == 0
    assert invoke("profile", "switch", "glm").exit_code == 0
    assert json.loads(settings_path(isolated_home).read_text())["env"]["ANTHROPIC_BASE_URL"].startswith(
        "https://api.z.ai"
    )
    assert invoke("restore").exit_code == 0
    assert json.loads(settings_path(isolated_home).read_text()) == FOREIGN


def test_invalid_settings_json_is_never_overwritten(isolated_home: Path) -> None:
    path = settings_path(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"env": {"A": 1},, oops')
    ccb("profile", "add", "kimi", "--preset", "kimi", "--api-key", KEY)
    result = invoke("profile", "switch", "kimi")
    assert isinstance(result.exception, CcbError)  # main() prints it as one line and exits 1
    assert "not valid JSON" in result.exception.message
    assert path.read_bytes() == b'{"env": {"A": 1},, oops'
    assert not (isolated_home / ".claude.json").exists()


def test_claude_config_dir_is_honoured(isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = tmp_path / "alt-claude"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config_dir))
    ccb("profile", "add", "kimi", "--preset", "kimi", "--api-key", KEY)
    assert invoke("profile", "switch", "kimi").exit_code == 0
    assert json.loads((config_dir / "settings.json").read_text())["env"]["ANTHROPIC_AUTH_TOKEN"] == KEY
    assert json.loads((config_dir / ".claude.json").read_text())["hasCompletedOnboarding"] is True
    assert not settings_path(isolated_home).exists()


def test_openai_profile_gets_a_background_bridge(isolated_home: Path) -> None:
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        try:
            result = invoke("profile", "switch", "local", "--json")
            assert result.exit_code == 0, result.output
            report = json.loads(result.stdout)
            assert report["route"] == "bridge" and report["bridge"]["url"] == report["base_url"]
            env = json.loads(settings_path(isolated_home).read_text())["env"]
            assert env["ANTHROPIC_BASE_URL"] == report["base_url"]
            # Plain `claude` would now reach the engine through the background bridge with that token.
            with httpx.Client(trust_env=False) as client:
                resp = client.post(
                    env["ANTHROPIC_BASE_URL"] + "/v1/messages",
                    timeout=30,
                    headers={"Authorization": f"Bearer {env['ANTHROPIC_AUTH_TOKEN']}"},
                    json={
                        "model": env["ANTHROPIC_MODEL"],
                        "max_tokens": 5,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                )
            assert resp.status_code == 200 and resp.json()["content"][0]["text"]
            state = paths.bridge_state_file()
            assert stat.S_IMODE(state.stat().st_mode) == 0o600
            status = json.loads(invoke("serve", "--status", "--json").stdout)
            assert status["running"] and status["healthy"] and status["profile"] == "local"

            stopped = invoke("serve", "--stop")
            # Settings never point at a port nobody holds (any local user could take it): stop takes ccb's keys
            # out, and says so.
            assert "Took ccb's keys out" in stopped.stderr
            assert "ANTHROPIC_BASE_URL" not in json.loads(settings_path(isolated_home).read_text()).get("env", {})
            assert json.loads(invoke("profile", "current", "--json").stdout)["claude"]["ANTHROPIC_BASE_URL"] is None
        finally:
            bridge_daemon.stop()
    pid = report["bridge"]["pid"]
    assert not _alive(pid)
    assert "Nothing to restore" in invoke("restore").stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    import psutil

    return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_background_bridge_searches_with_the_profile_backend(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.openai_engine import Answer
    from tests.fakes.search_backends import BRAVE_KEY, SearchBackends

    monkeypatch.delenv("CCB_WEB_SEARCH", raising=False)
    monkeypatch.setenv("MY_BRAVE", BRAVE_KEY)  # the background bridge reads it from the switching shell
    engine = FakeEngine("vllm", context=131072)
    engine.push(Answer(tool_calls=[("web_search", {"query": "ccb"})]), Answer(text="found it"))
    search = SearchBackends()
    with serving_in_thread(engine.app) as url, serving_in_thread(search.app) as search_url:
        ccb(
            "profile",
            "add",
            "local",
            "--preset",
            "vllm",
            "--base-url",
            url + "/v1",
            "--model",
            "qwen3",
            "--web-search",
            f"brave:{search_url}/res/v1/web/search",
            "--web-search-key-env",
            "MY_BRAVE",
        )
        try:
            result = invoke("profile", "switch", "local", "--json")
            assert result.exit_code == 0, result.output
            env = json.loads(settings_path(isolated_home).read_text())["env"]
            with httpx.Client(trust_env=False) as client:
                resp = client.post(
                    env["ANTHROPIC_BASE_URL"] + "/v1/messages",
                    timeout=30,
                    headers={"Authorization": f"Bearer {env['ANTHROPIC_AUTH_TOKEN']}"},
                    json={
                        "model": env["ANTHROPIC_MODEL"],
                        "max_tokens": 50,
                        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
                        "messages": [{"role": "user", "content": "search"}],
                    },
                )
        finally:
            bridge_daemon.stop()
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert [b["type"] for b in answer["content"]] == ["server_tool_use", "web_search_tool_result", "text"]
    assert answer["content"][1]["content"][0]["url"] == search.hits[0].url
    assert answer["usage"]["server_tool_use"]["web_search_requests"] == 1
    assert [r["api"] for r in search.requests] == ["brave"]
    logs = [p for p in isolated_home.rglob("*.log") if p.is_file()]
    assert logs and all(BRAVE_KEY not in p.read_text() for p in logs)
    assert any("web search answer: 1 searches" in p.read_text() for p in logs)


def test_restore_stops_the_bridge_the_switch_started(isolated_home: Path) -> None:  # issue 12, m2
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        try:
            report = json.loads(invoke("profile", "switch", "local", "--json").stdout)
            assert _alive(report["bridge"]["pid"])
            restored = invoke("restore", "--json")
            assert restored.exit_code == 0, restored.output
            result = json.loads(restored.stdout)
            assert result["bridge_stopped"] is True and result["bridge_running"] is False
        finally:
            bridge_daemon.stop()
    assert not _alive(report["bridge"]["pid"])


def test_a_dead_bridge_warning_names_the_profile(isolated_home: Path) -> None:  # issue 12, p6
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        try:
            assert invoke("profile", "switch", "local").exit_code == 0
            bridge_daemon.stop()
            current = invoke("profile", "current")
            assert "`ccb serve --profile local --detach`" in current.stderr, current.stderr
        finally:
            bridge_daemon.stop()
            invoke("restore")


def _free_port() -> int:
    """A port of its own, so that these tests do not wait on ccb's usual 8765 alongside other suites."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(path: Path, text: str, timeout: float = 30.0) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = path.read_text() if path.exists() else ""
        if text in found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path}: {found[-2000:]}")


def test_each_way_the_bridge_runs_says_how_to_stop_and_reach_it(isolated_home: Path) -> None:  # issue 12, p5
    import subprocess
    import sys

    import psutil

    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        # In the foreground: Ctrl-C, and the lines to paste.
        argv = [sys.executable, "-m", "ccb.cli", "serve", "--profile", "local", "--port", "0"]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            try:
                assert proc.stdout is not None and proc.stderr is not None
                said = ""
                while "Point Claude Code at it" not in said and (line := proc.stderr.readline()):
                    said += line
                pasted = proc.stdout.readline()
            finally:
                proc.terminate()
                proc.wait(30)
        assert "Ctrl-C stops it" in said and "`ccb serve --stop`" not in said
        assert pasted.startswith("export ANTHROPIC_BASE_URL=http://127.0.0.1:")
        try:
            # In the background: its stderr is a file; no Ctrl-C, no lines to paste, no token.
            started = invoke("serve", "--profile", "local", "--detach", "--port", str(_free_port()), "--json")
            assert started.exit_code == 0, started.output
            info = json.loads(started.stdout)
            log = Path(info["log"])
            text = _wait_for(log, "plain `claude` reaches it through the settings `ccb profile switch local` writes")
            assert "background bridge for 'local' on http://127.0.0.1:" in text
            assert "`ccb serve --stop` stops it" in text
            assert "Ctrl-C" not in text and "export " not in text and "token you passed" not in text
            state = bridge_daemon.read_state()
            assert state is not None and state.token not in text
            # Restarted by its keeper after a crash: says so, on the same port.
            (bridge,) = psutil.Process(info["pid"]).children()
            bridge.kill()
            text = _wait_for(log, "restarted by its keeper")
            assert f"for 'local' on {info['url']} (restarted by its keeper: same port, same token)" in text
            assert bridge_daemon.healthy(info["url"], token=state.token)
            assert "Ctrl-C" not in text and "export " not in text
        finally:
            bridge_daemon.stop()


def test_a_detached_bridge_for_another_profile_never_silently_takes_the_switched_ones_place(
    isolated_home: Path,
) -> None:  # issue 12, m18
    from ccb.cli.claude_settings import switched_profile

    engine, other_engine = FakeEngine("vllm", context=131072), FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url, serving_in_thread(other_engine.app) as other_url:
        ccb("profile", "add", "smol", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        ccb("profile", "add", "big", "--preset", "vllm", "--base-url", other_url + "/v1", "--model", "glm")
        try:
            switched = json.loads(invoke("profile", "switch", "smol", "--json").stdout)
            assert switched_profile() == "smol"
            report = by_id(json.loads(invoke("doctor", "--offline", "--json").stdout))
            assert report["bridge.profile"]["status"] == "ok", report["bridge.profile"]

            refused = invoke("serve", "--profile", "big", "--detach")
            assert refused.exit_code == 1
            message = str(refused.exception)
            assert "the background bridge for 'smol' runs on" in message and "switched to it" in message
            assert "`ccb profile switch big`" in message and "--replace" in message and "`ccb serve --stop`" in message
            state = bridge_daemon.read_state()
            assert state is not None and state.profile == "smol" and state.pid == switched["bridge"]["pid"]
            assert _alive(state.pid)

            replaced = invoke("serve", "--profile", "big", "--detach", "--replace")
            assert replaced.exit_code == 0, replaced.output
            assert "Replaced the background bridge for 'smol'" in replaced.stderr
            assert "plain `claude` is switched to 'smol'" in replaced.stderr
            assert "`ccb profile switch big` makes them match" in replaced.stderr
            now = bridge_daemon.read_state()
            assert now is not None and now.profile == "big" and now.url == switched["base_url"]  # same port
            assert not _alive(switched["bridge"]["pid"])

            doctor = invoke("doctor", "--offline", "--json")
            assert doctor.exit_code == 1
            check = by_id(json.loads(doctor.stdout))["bridge.profile"]
            assert check["status"] == "fail"
            assert "plain `claude` is switched to 'smol'" in check["finding"] and "serves 'big'" in check["finding"]
            assert "`ccb profile switch smol`" in check["fix"] and "`ccb profile switch big`" in check["fix"]

            # The way out it names: the switch moves plain `claude` and the bridge together.
            assert invoke("profile", "switch", "big").exit_code == 0
            assert switched_profile() == "big"
            assert by_id(json.loads(invoke("doctor", "--offline", "--json").stdout))["bridge.profile"]["status"] == "ok"
        finally:
            bridge_daemon.stop()
            invoke("restore")


def test_a_detached_bridge_nobody_is_switched_to_is_replaced_only_when_asked(isolated_home: Path) -> None:  # m18
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "one", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        ccb("profile", "add", "two", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        try:
            first = json.loads(
                invoke("serve", "--profile", "one", "--detach", "--port", str(_free_port()), "--json").stdout
            )
            assert first["replaced"] is None
            same = json.loads(invoke("serve", "--profile", "one", "--detach", "--json").stdout)
            assert same["pid"] == first["pid"]  # the same profile: kept as it runs
            refused = invoke("serve", "--profile", "two", "--detach")
            assert refused.exit_code == 1
            assert f"a background bridge for 'one' already runs on {first['url']}" in str(refused.exception)
            assert "--replace" in str(refused.exception) and "`ccb serve --stop`" in str(refused.exception)
            assert _alive(first["pid"])
            done = invoke("serve", "--profile", "two", "--detach", "--replace", "--json")
            assert done.exit_code == 0, done.output
            assert json.loads(done.stdout)["replaced"] == "one" and not _alive(first["pid"])
            report = by_id(json.loads(invoke("doctor", "--offline", "--json").stdout))
            assert "bridge.profile" not in report  # nothing points at it: nothing to match
        finally:
            bridge_daemon.stop()


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in report["checks"]}
