"""`ccb probe` and `ccb models` in-process against fake engines served from a thread: JSON shape, sections, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from ccb.cli.app import app
from ccb.cli.engines.probe import DEFAULT_PORTS, EngineStatus
from ccb.cli.errors import CcbError
from tests.fakes.discovery import (
    SGLANG_ADMIN_SECRET,
    SGLANG_SECRET,
    llamacpp_app,
    not_engine_app,
    ollama_app,
    sglang_app,
    vllm_app,
)  # fmt: skip
from tests.support.processes import free_port
from tests.support.servers import ServerThread

HANG_GUARD_S = 10.0  # proves "no hang", not speed


@pytest.fixture
def servers() -> Iterator[ServerThread]:
    with ServerThread() as thread:
        yield thread


def _run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


ENGINE_KEYS = {
    "url", "openai_base", "status", "kind", "version", "context_length", "models", "native_messages",
    "tools", "tools_detail", "reasoning", "reasoning_detail", "detail",
}  # fmt: skip
MODEL_KEYS = {"id", "context_length", "max_context_length", "loaded", "capabilities"}


def test_cli_probe_json_shape(servers: ServerThread) -> None:
    urls = [servers.serve(sglang_app()), servers.serve(ollama_app()), f"http://127.0.0.1:{free_port()}"]
    result = _run("probe", *urls, "--json", "--timeout", "2")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == ["engines"]
    assert [(e["kind"], e["status"]) for e in doc["engines"]] == [
        ("sglang", "ok"),
        ("ollama", "ok"),
        (None, "refused"),
    ]
    assert all(set(e) == ENGINE_KEYS and all(set(m) == MODEL_KEYS for m in e["models"]) for e in doc["engines"])
    assert doc["engines"][0]["openai_base"] == urls[0] + "/v1"
    assert SGLANG_SECRET not in result.output and SGLANG_ADMIN_SECRET not in result.output


def test_cli_probe_sections(servers: ServerThread) -> None:
    result = _run("probe", servers.serve(sglang_app(version="0.5.9")), servers.serve(llamacpp_app(n_ctx=16384)))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "SGLang 0.5.9" in out and "llama.cpp b8840-1a2b3c4d" in out
    assert "context 262,144" in out and "context 16,384 (below the 64k Claude Code needs)" in out
    assert "native /v1/messages: yes" in out and "tools: yes (tool_call_parser=qwen3_coder)" in out
    assert SGLANG_SECRET not in result.output and SGLANG_ADMIN_SECRET not in result.output


def test_cli_probe_nothing_found_still_exits_zero(servers: ServerThread) -> None:
    urls = [servers.serve(not_engine_app()), servers.black_hole(), f"http://127.0.0.1:{free_port()}"]
    started = time.monotonic()
    result = _run("probe", *urls, "--timeout", "0.5")
    assert time.monotonic() - started < HANG_GUARD_S
    assert result.exit_code == 0
    for reason in ("not an inference engine", "timed out after 0.5 s", "connection refused"):
        assert reason in result.stdout
    assert "no engine found" in result.stderr and "ccb probe http://HOST:PORT" in result.stderr


def test_cli_probe_default_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    async def fake_local(*, timeout: float, ports: tuple[int, ...]) -> list[EngineStatus]:
        seen.update(timeout=timeout, ports=ports)
        return [EngineStatus(f"http://127.0.0.1:{p}", "refused") for p in ports]

    monkeypatch.setattr("ccb.cli.engines.probe.probe_local", fake_local)
    result = _run("probe", "--json")
    assert result.exit_code == 0 and len(json.loads(result.stdout)["engines"]) == 5
    assert seen == {"timeout": 1.5, "ports": DEFAULT_PORTS}


def test_cli_probe_api_key_from_env(servers: ServerThread) -> None:
    url = servers.serve(vllm_app(api_key="secret-vllm-key"))
    result = _run("probe", url, "--json", "--api-key-env", "VLLM_KEY", env={"VLLM_KEY": "secret-vllm-key"})
    assert json.loads(result.stdout)["engines"][0]["status"] == "ok"
    assert "secret-vllm-key" not in result.output
    missing = _run("probe", url, "--api-key-env", "UNSET_VAR_FOR_TEST")
    assert isinstance(missing.exception, CcbError) and "UNSET_VAR_FOR_TEST" in missing.exception.message


def test_cli_models_with_url(servers: ServerThread) -> None:
    url = servers.serve(llamacpp_app(model="tiny.gguf", n_ctx=8192, n_ctx_train=8192))
    result = _run("models", "--url", url + "/v1", "--json")
    assert result.exit_code == 0, result.output
    model = {"id": "tiny.gguf", "context_length": 8192, "max_context_length": 8192, "loaded": None}
    assert json.loads(result.stdout) == {"base_url": url + "/v1", "models": [model | {"capabilities": []}]}
    plain = _run("models", "--url", url + "/v1")
    assert plain.stdout.splitlines()[0].startswith("tiny.gguf  context 8,192")


def test_cli_models_with_profile(servers: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    url = servers.serve(vllm_app(models=("served-model",), api_key="pk"))

    class StubProfile:
        base_url, openai_base_url, protocol, auth = (
            "http://127.0.0.1:9/unused",
            url + "/v1",
            "openai",
            "bearer",
        )

        def resolve_key(self) -> str:
            return "pk"

    monkeypatch.setattr("ccb.cli.profile_store.get_profile", lambda name: StubProfile())
    result = _run("models", "my-vllm", "--json")
    assert result.exit_code == 0, result.output
    assert [m["id"] for m in json.loads(result.stdout)["models"]] == ["served-model"]


def test_cli_models_errors() -> None:
    result = _run("models")
    assert isinstance(result.exception, CcbError) and "--url" in result.exception.message
    result = _run("models", "--url", f"http://127.0.0.1:{free_port()}/v1", "--timeout", "2")
    assert isinstance(result.exception, CcbError) and "could not connect" in result.exception.message
