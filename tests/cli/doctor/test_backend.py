"""`ccb doctor` against fake backends and engines on loopback: reachability, key, model, engine, smoke.

The fakes run in a background thread (`ServerThread`) because the CLI runs its own event loop. The native
Anthropic provider answers a tool call whenever the request offers tools, as the smoke test wants.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ccb.cli.doctor.context import Check
from ccb.cli.doctor.engine import context_check, tools_check
from ccb.cli.engines.status import EngineStatus, ModelInfo
from ccb.cli.profile_store import profile_from_preset
from ccb.cli.window import prompt_size
from tests.fakes.anthropic_upstream import FakeAnthropic, offered_tool_or_ready
from tests.fakes.doctor_engines import FakeOllama, FakeSglang, FakeVllm, ToolReadyLlama
from tests.fakes.openai_engine import Answer, FakeEngine
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
)
from tests.support.servers import ServerThread


@pytest.fixture(autouse=True)
def setup(isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clean_env(monkeypatch)
    install_fake_claude(tmp_path / "bin", monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    onboard(isolated_home)
    return isolated_home


def test_healthy_llamacpp_through_the_bridge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", SECRET)  # shown masked in the provenance lines
    engine = FakeEngine("llamacpp", context=131072, model="qwen3-coder")
    engine.push(
        Answer(text="ready", completion_tokens=3),
        Answer(tool_calls=[("get_time", {"timezone": "Asia/Tokyo"})]),
    )
    with ServerThread(engine.app) as server:
        add("local", "llamacpp", base_url=f"{server.url}/v1", api_key=SECRET)
        table = doctor()
        engine.push(Answer(text="ready"), Answer(tool_calls=[("get_time", {"timezone": "UTC"})]))
        raw = doctor("--json")
    assert table.exit_code == 0, table.output
    assert raw.exit_code == 0, raw.output
    for text in (table.output, raw.stdout):
        assert SECRET not in text and "PLANTED" not in text
    report = json.loads(raw.stdout)
    assert report["summary"]["fail"] == 0
    found = by_id(report)
    for cid in (
        "claude.found",
        "claude.runnable",
        "profile.selected",
        "profile.key",
        "backend.reachable",
        "backend.auth",
        "backend.model",
        "engine.found",
        "engine.context",
        "engine.native_messages",
        "smoke.stream",
        "smoke.tools",
    ):
        assert found[cid]["status"] == "ok", (cid, found[cid])
    assert "bridge" in found["launch.route"]["finding"]
    assert "embedded bridge" in found["smoke.stream"]["finding"]
    assert "tokens/s" in found["smoke.stream"]["finding"] and "first token" in found["smoke.stream"]["finding"]
    assert "get_time" in found["smoke.tools"]["finding"]
    assert "131,072" in found["engine.context"]["finding"]
    # The bridge forwarded the smoke requests: a streamed one and one with a forced tool choice.
    chats = [r for r in engine.requests if "messages" in r]
    assert chats[-2]["stream"] is True and "tools" not in chats[-2]
    assert chats[-1]["tools"][0]["function"]["name"] == "get_time"
    assert "Local engine" in table.stdout and "Live smoke test" in table.stdout


def test_direct_route_to_a_native_anthropic_provider() -> None:
    fake = FakeAnthropic(key=SECRET, reply=offered_tool_or_ready)
    with ServerThread(fake.app) as server:
        add("glm", "custom", protocol="anthropic", base_url=server.url, api_key=SECRET, model="glm-test")
        report = doctor_json(code=0)
    found = by_id(report)
    assert statuses(report)["backend.auth"] == "ok" and "key accepted" in found["backend.auth"]["finding"]
    assert found["backend.model"]["status"] == "ok"
    assert found["smoke.stream"]["status"] == "ok" and "directly" in found["smoke.stream"]["finding"]
    assert found["smoke.tools"]["status"] == "ok"
    assert "/v1/messages" in fake.paths and "engine.found" not in found


def test_rejected_key_is_told_apart_from_a_missing_model_list() -> None:
    refused = FakeAnthropic(key=SECRET, mode="unauthorized", echo_key=True, reply=offered_tool_or_ready)
    with ServerThread(refused.app) as server:
        add("bad", "custom", protocol="anthropic", base_url=server.url, api_key=SECRET, model="glm-test")
        raw = doctor("--json")
    assert raw.exit_code == 1 and SECRET not in raw.stdout  # the echoed key is scrubbed
    found = by_id(json.loads(raw.stdout))
    assert found["backend.reachable"]["status"] == "ok"
    assert found["backend.auth"]["status"] == "fail" and "401" in found["backend.auth"]["finding"]
    assert "rejected" in found["backend.auth"]["finding"]
    assert found["smoke.stream"]["status"] == "skip"

    no_list = FakeAnthropic(key=SECRET, mode="no_models", reply=offered_tool_or_ready)
    with ServerThread(no_list.app) as server:
        add("nolist", "custom", protocol="anthropic", base_url=server.url, api_key=SECRET, model="glm-test")
        found = by_id(doctor_json(code=0))
    assert found["backend.auth"]["status"] == "warn" and "404" in found["backend.auth"]["finding"]
    assert "base URL" in found["backend.auth"]["fix"]
    assert found["backend.model"]["status"] == "skip"
    assert found["smoke.stream"]["status"] == "ok"


def test_model_missing_from_the_listing_warns() -> None:
    fake = FakeAnthropic(key=SECRET, models=("glm-5.1",), reply=offered_tool_or_ready)
    with ServerThread(fake.app) as server:
        add("typo", "custom", protocol="anthropic", base_url=server.url, api_key=SECRET, model="glm-5.l")
        check = by_id(doctor_json())["backend.model"]
    assert check["status"] == "warn" and "glm-5.l" in check["finding"] and "glm-5.1" in check["fix"]


def test_unreachable_backend_fails() -> None:
    with ServerThread(FakeAnthropic(key=SECRET, reply=offered_tool_or_ready).app) as server:
        url = server.url
    add("gone", "custom", protocol="anthropic", base_url=url, api_key=SECRET, model="m")
    found = by_id(doctor_json(code=1))
    assert found["backend.reachable"]["status"] == "fail" and "refused" in found["backend.reachable"]["finding"]
    assert found["smoke.stream"]["status"] == "skip"


def test_vllm_without_auto_tool_choice() -> None:
    engine = FakeVllm()
    with ServerThread(engine.app) as server:
        add("vllm", "vllm", base_url=f"{server.url}/v1")
        result = doctor("--json")
    assert result.exit_code == 1
    found = by_id(json.loads(result.stdout))
    tools = found["engine.tools"]
    assert tools["status"] == "fail" and "--enable-auto-tool-choice" in tools["finding"]
    assert "--tool-call-parser" in tools["fix"]
    assert found["engine.context"]["status"] == "ok"
    assert found["engine.found"]["status"] == "ok" and "vLLM" in found["engine.found"]["finding"]
    # Exactly one tiny probe request before the smoke test, generating at most one token.
    probe = engine.requests[0]
    assert probe["max_tokens"] == 1 and probe["tools"] and probe["tool_choice"] == "auto"
    assert sum(1 for r in engine.requests if r.get("max_tokens") == 1) == 1
    assert found["smoke.stream"]["status"] == "ok"  # no tools: the engine streams fine
    assert found["smoke.tools"]["status"] == "fail" and "enable-auto-tool-choice" in found["smoke.tools"]["finding"]


def test_ollama_with_a_4096_window_and_no_tools() -> None:
    engine = FakeOllama()
    with ServerThread(engine.app) as server:
        add("ollama", "ollama", base_url=f"{server.url}/v1", model="qwen2.5-coder:7b")
        result = doctor()
        found = by_id(doctor_json(code=1))
    assert result.exit_code == 1
    assert "OLLAMA_CONTEXT_LENGTH=65536" in result.stdout
    context = found["engine.context"]
    assert context["status"] == "fail" and "4,096" in context["finding"] and "num_ctx" in context["fix"]
    tools = found["engine.tools"]
    assert tools["status"] == "fail" and "tools capability" in tools["finding"]
    assert "ollama show" in tools["fix"]
    assert found["engine.found"]["status"] == "ok" and "Ollama 0.14.3" in found["engine.found"]["finding"]
    assert "bridge" in found["engine.native_messages"]["finding"]


def test_engine_not_running() -> None:
    with ServerThread(FakeEngine("llamacpp").app) as server:
        url = server.url
    add("local", "llamacpp", base_url=f"{url}/v1", model="m")
    found = by_id(doctor_json(code=1))
    assert found["engine.found"]["status"] == "fail" and "llama-server" in found["engine.found"]["fix"]
    assert found["engine.context"]["status"] == "skip"
    assert found["smoke.stream"]["status"] == "skip"


def test_tool_ready_llamacpp_goes_direct_to_the_engine_root() -> None:
    engine = ToolReadyLlama()
    with ServerThread(engine.app) as server:
        add("local", "llamacpp", base_url=f"{server.url}/v1")
        found = by_id(doctor_json(code=0))
    assert "directly" in found["launch.route"]["finding"]
    assert found["engine.tools"]["status"] == "ok" and found["engine.reasoning"]["status"] == "ok"
    assert found["smoke.stream"]["status"] == "ok" and found["smoke.tools"]["status"] == "ok"
    assert f"directly to {server.url}:" in found["smoke.stream"]["finding"]
    # Claude Code appends /v1/messages to the root: never /v1/v1/messages.
    assert engine.messages_paths == ["/v1/messages?beta=true"] * 2


def test_sglang_without_tool_call_parser() -> None:
    engine = FakeSglang()
    with ServerThread(engine.app) as server:
        add("sg", "sglang", base_url=f"{server.url}/v1")
        raw = doctor("--json")
    assert raw.exit_code == 1
    assert "sglang-admin-secret" not in raw.stdout  # /server_info carries keys: never echoed
    found = by_id(json.loads(raw.stdout))
    assert found["engine.tools"]["status"] == "fail" and "--tool-call-parser" in found["engine.tools"]["fix"]
    assert found["engine.reasoning"]["status"] == "warn" and "--reasoning-parser" in found["engine.reasoning"]["fix"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("vllm", "--max-model-len 65536"),
        ("sglang", "--context-length 65536"),
        ("llamacpp", "-np"),
        ("lmstudio", "lms load MODEL --context-length 65536"),
        ("ollama", "OLLAMA_CONTEXT_LENGTH=65536"),
    ],
)
def test_small_window_fix_is_engine_specific(kind: str, expected: str) -> None:
    status = EngineStatus("http://127.0.0.1:1", "ok", kind=kind, models=(ModelInfo("m", 16384, True),))
    profile = profile_from_preset("p", kind, model="m")
    check = context_check(profile, status)
    assert check.status == "fail" and "16,384" in check.finding and expected in (check.fix or "")


def test_llamacpp_template_without_tools_fails() -> None:
    status = EngineStatus(
        "http://127.0.0.1:1",
        "ok",
        kind="llamacpp",
        models=(ModelInfo("m", 65536, True),),
        tools=False,
        tools_detail="chat template has no tool support",
    )
    check = tools_check(profile_from_preset("p", "llamacpp", model="m"), status)
    assert check.status == "fail" and "--jinja" in (check.fix or "")


def test_window_check_is_launchs_rule_for_the_installed_claude_code() -> None:
    """doctor judges the window as `ccb launch` does (cli/window.py): fail where Claude Code cannot answer, warn
    where it can but compacts, a profile's own window turning a refusal into a warning."""
    profile = profile_from_preset("p", "vllm", model="m")

    def check(window: int, trained: int | None = None, version: str = "2.1.332", own: int | None = None) -> Check:
        status = EngineStatus(
            "http://127.0.0.1:1", "ok", kind="vllm", models=(ModelInfo("m", window, True, (), trained),)
        )
        return context_check(replace(profile, context_length=own), status, version)

    need = prompt_size("2.1.332").minimum_window()
    assert check(need - 1024).status == "fail" and f"{need:,}" in check(need - 1024).finding
    assert check(need).status == "warn" and "compact" in check(need).finding
    assert check(65536).status == "ok"
    assert check(131072, trained=8192).status == "warn" and "8,192" in check(131072, trained=8192).finding
    assert check(need - 1024, own=need - 1024).status == "warn"
    older = prompt_size("2.1.197").minimum_window()
    assert older < need and check(older, version="2.1.197").status == "warn"
    assert check(older, version="2.1.332").status == "fail"
