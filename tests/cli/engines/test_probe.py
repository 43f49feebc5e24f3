"""Engine discovery (`ccb.cli.engines.probe`, each engine's fingerprint, model lists), against fake engines."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ccb.cli.engines import llamacpp, ollama, vllm
from ccb.cli.engines.catalog import model_list_urls
from ccb.cli.engines.http import READ_ONLY_POSTS, Fetcher, list_models
from ccb.cli.engines.probe import EngineStatus, normalise_root, probe_local, probe_url
from ccb.cli.engines.reply import count_tokens_native
from ccb.cli.errors import CcbError
from tests.fakes.discovery import (
    REQUESTS,
    SGLANG_ADMIN_SECRET,
    SGLANG_SECRET,
    OllamaModel,
    llamacpp_app,
    lmstudio_app,
    not_engine_app,
    ollama_app,
    sglang_app,
    vllm_app,
)  # fmt: skip
from tests.support.processes import LLAMA_SERVER, free_port
from tests.support.servers import BlackHole

Serve = Callable[[web.Application], Awaitable[str]]
HANG_GUARD_S = 10.0  # proves "no hang", not speed


@pytest.fixture
def serve(aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]) -> Serve:
    """Start a fake on 127.0.0.1:0 in the test's loop; returns its root URL."""

    async def start(app_: web.Application) -> str:
        return str((await aiohttp_server(app_)).make_url("")).rstrip("/")

    return start


def _assert_read_only(app_: web.Application) -> None:
    for method, path in app_[REQUESTS]:
        assert method == "GET" or (method == "POST" and path in READ_ONLY_POSTS), (method, path)
        assert path not in ("/health_generate", "/flush_cache", "/models/load")


# ------------------------------------------------------------------------------------------- each engine
OLD_OLLAMA = (OllamaModel("gemma2:2b", arch="gemma2", capabilities=()),)
# name: (fake engine, expected EngineStatus fields; `*detail` fields match by substring)
IDENTIFY = {
    "ollama": (ollama_app, {"kind": "ollama", "version": "0.14.3", "context_length": 32768, "native_messages": True,
                                "tools": True, "reasoning": True, "tools_detail": "has the tools capability"}),
    "ollama-old-no-tools": (lambda: ollama_app(version="0.13.5", models=OLD_OLLAMA), {
        "kind": "ollama", "native_messages": False, "tools": False, "reasoning": False, "context_length": None,
        "tools_detail": "lacks the tools capability", "detail": "no model loaded"}),
    "vllm": (lambda: vllm_app(version="0.17.1"), {  # parsers are invisible over HTTP: unknown, said so
        "kind": "vllm", "version": "0.17.1", "context_length": 131072, "native_messages": True, "tools": None,
        "reasoning": None, "tools_detail": "--tool-call-parser"}),
    "vllm-messages-before-count-tokens": (lambda: vllm_app(version="0.12.0", count_tokens=False),
                                          {"kind": "vllm", "native_messages": True}),
    "vllm-too-old-for-messages": (lambda: vllm_app(version="0.9.2", count_tokens=False),
                                  {"kind": "vllm", "native_messages": False}),
    "sglang": (lambda: sglang_app(version="0.5.9", reasoning_parser="qwen3"), {
        "kind": "sglang", "version": "0.5.9", "context_length": 262144, "native_messages": True, "tools": True,
        "tools_detail": "tool_call_parser=qwen3_coder", "reasoning": True,
        "reasoning_detail": "reasoning_parser=qwen3"}),
    "sglang-legacy-route": (lambda: sglang_app(version="0.4.6", legacy_route=True),
                            {"kind": "sglang", "version": "0.4.6", "tools": True}),
    "sglang-no-parsers": (lambda: sglang_app(tool_call_parser=None),
                          {"kind": "sglang", "tools": False, "tools_detail": "plain text", "reasoning": False}),
    "llamacpp": (llamacpp_app, {"kind": "llamacpp", "version": "b8840-1a2b3c4d", "context_length": 65536,
                                    "native_messages": True, "tools": True, "reasoning": True}),
    "llamacpp-no-tool-template": (
        lambda: llamacpp_app(supports_tools=False, reasoning_format="none"),
        {"kind": "llamacpp", "tools": False, "reasoning": False, "reasoning_detail": "inline"}),
    "llamacpp-loading": (lambda: llamacpp_app(loading=True),
                         {"status": "loading", "kind": "llamacpp", "detail": "Loading model"}),
    "lmstudio": (lmstudio_app, {"kind": "lmstudio", "version": None, "context_length": 32768, "native_messages": True,
                                    "tools": True, "reasoning": True, "reasoning_detail": "off, on"}),
    # Old LM Studio has no /api/v1, which then answers 200 with an error string like every unknown route.
    "lmstudio-old": (lambda: lmstudio_app(api_v1=False),
                     {"kind": "lmstudio", "native_messages": False, "reasoning": None}),
    "not-an-engine": (not_engine_app, {"status": "not_engine", "kind": None, "detail": "not an inference engine"}),
}  # fmt: skip


@pytest.mark.parametrize(("make", "expected"), IDENTIFY.values(), ids=IDENTIFY.keys())
async def test_identify(serve: Serve, make: Callable[[], web.Application], expected: dict[str, Any]) -> None:
    fake = make()
    engine = await probe_url(await serve(fake) + "/v1")  # an OpenAI base is accepted too
    expected = {"status": "ok"} | expected
    for name, want in expected.items():
        got = getattr(engine, name)
        if name.endswith("detail") and isinstance(want, str):
            assert want in (got or ""), (name, got)
        else:
            assert got == want, (name, got)
    _assert_read_only(fake)


OLLAMA_MODELS = (
    OllamaModel("qwen3:8b", trained_ctx=40960, loaded_ctx=32768),
    OllamaModel("llama3:8b", arch="llama", trained_ctx=8192, capabilities=("completion",)),
    OllamaModel("nomic-embed-text", arch="nomic-bert", capabilities=("embedding",)),  # left out: embedding
)  # fmt: skip
# (fake engine, [(id, context_length, max_context_length, loaded, capabilities)])
MODELS = {
    "ollama": (lambda: ollama_app(models=OLLAMA_MODELS), [
        ("qwen3:8b", 32768, 40960, True, ("completion", "tools", "thinking")),
        ("llama3:8b", None, 8192, False, ("completion",)),
    ]),
    "lmstudio": (lmstudio_app, [  # the embedding model is left out
        ("qwen/qwen3-coder-30b", 32768, 131072, True, ("tools", "thinking")),
        ("google/gemma-3-12b", None, 131072, False, ("vision",)),
    ]),
    "llamacpp": (lambda: llamacpp_app(n_ctx=65536, n_ctx_train=262144), [
        ("qwen3-coder-30b-a3b-q4_k_m.gguf", 65536, 262144, True, ()),
    ]),
}  # fmt: skip


@pytest.mark.parametrize(("make", "expected"), MODELS.values(), ids=MODELS.keys())
async def test_models_carry_effective_and_maximum_context(
    serve: Serve, make: Callable[[], web.Application], expected: list[tuple[Any, ...]]
) -> None:
    engine = await probe_url(await serve(make()))
    got = [(m.id, m.context_length, m.max_context_length, m.loaded, m.capabilities) for m in engine.models]
    assert got == expected


async def test_vllm_with_api_key(serve: Serve) -> None:
    url = await serve(vllm_app(version="0.11.2", api_key="k-123"))
    locked = await probe_url(url)
    assert (locked.status, locked.kind, locked.version) == ("needs_key", "vllm", "0.11.2")
    assert "API key" in locked.detail
    unlocked = await probe_url(url, api_key="k-123")
    assert (unlocked.status, unlocked.context_length) == ("ok", 131072)


async def test_sglang_secret_never_leaves_the_probe(serve: Serve) -> None:
    engine = await probe_url(await serve(sglang_app()))
    text = repr(engine) + json.dumps(engine.to_dict())
    assert SGLANG_SECRET not in text and SGLANG_ADMIN_SECRET not in text


async def test_lmstudio_with_auth_goes_through_fingerprints(serve: Serve) -> None:
    # /v1/models is locked, so fingerprint routes run: /api/version's 200-with-error must not read as Ollama.
    fake = lmstudio_app(api_key="lms-token")
    engine = await probe_url(await serve(fake))
    assert (engine.status, engine.kind) == ("needs_key", "lmstudio")
    assert ("GET", "/api/version") in fake[REQUESTS]
    unlocked = await probe_url(await serve(lmstudio_app(api_key="t")), api_key="t")
    assert unlocked.status == "ok"


async def test_lmstudio_unknown_route_bodies_prove_nothing(serve: Serve) -> None:
    root = await serve(lmstudio_app())
    async with httpx.AsyncClient() as client:
        fetch = Fetcher(client, root, headers={}, timeout=2, deadline=asyncio.get_running_loop().time() + 5)
        version_reply = await fetch.get("/api/version")
        assert version_reply.status == 200 and "error" in version_reply.body
        assert ollama.version_from(version_reply) is None
        assert vllm.version_of(await fetch.get("/version")) is None
        assert llamacpp.props_from(await fetch.get("/props")) is None
        assert await count_tokens_native(fetch, "qwen/qwen3-coder-30b") is False


# ------------------------------------------------------------------------------------------- strangers
@pytest.fixture
async def black_hole() -> AsyncIterator[int]:
    hole = BlackHole()
    yield await hole.start()
    await hole.close()


async def test_refused_and_silent_ports_are_reported_quickly(serve: Serve, black_hole: int) -> None:
    refused, engine_port = free_port(), int((await serve(llamacpp_app())).rsplit(":", 1)[1])
    started = time.monotonic()
    found = await probe_local(timeout=0.5, ports=(refused, black_hole, engine_port))
    assert time.monotonic() - started < HANG_GUARD_S
    assert [(e.status, e.kind) for e in found] == [("refused", None), ("timeout", None), ("ok", "llamacpp")]
    assert "connection refused" in found[0].detail and "timed out after 0.5 s" in found[1].detail


async def test_non_http_port_is_not_an_engine() -> None:
    async def babble(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        writer.close()

    server = await asyncio.start_server(babble, "127.0.0.1", 0)
    async with server:
        engine = await probe_url(f"127.0.0.1:{server.sockets[0].getsockname()[1]}", timeout=1.0)
    assert (engine.status, engine.detail) == ("not_engine", "the port is open but does not speak HTTP")


def test_normalise_root() -> None:
    for given, root in [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000"),
        ("localhost:11434", "http://localhost:11434"),
        ("https://gpu.example/proxy/v1", "https://gpu.example/proxy"),
    ]:
        assert normalise_root(given) == root
    assert EngineStatus("http://h:1", "ok").openai_base == "http://h:1/v1"
    with pytest.raises(ValueError):
        normalise_root("ftp://example.com")


# ------------------------------------------------------------------------------------------- list_models
async def test_list_models_from_openai_base(serve: Serve) -> None:
    url = await serve(vllm_app(models=("a", "b"), max_model_len=32768, api_key="k"))
    found = await list_models(url + "/v1", api_key="k")
    assert [(m.id, m.context_length) for m in found] == [("a", 32768), ("b", 32768)]
    with pytest.raises(CcbError, match="HTTP 401") as caught:
        await list_models(url + "/v1", api_key="wrong-key-value")
    assert "wrong-key-value" not in caught.value.message


async def test_list_models_from_anthropic_root_with_x_api_key(serve: Serve) -> None:
    pages = {
        "": {"data": [{"id": "m-1"}], "has_more": True, "last_id": "m-1"},
        "m-1": {"data": [{"id": "m-2"}]},
    }

    async def models(request: web.Request) -> web.Response:
        if request.headers.get("x-api-key") != "ak" or "anthropic-version" not in request.headers:
            return web.json_response({"type": "error"}, status=401)
        return web.json_response(pages[request.query.get("after_id", "")])

    fake = web.Application()
    fake.router.add_get("/anthropic/v1/models", models)
    found = await list_models(await serve(fake) + "/anthropic", api_key="ak", auth="x-api-key")
    assert [m.id for m in found] == ["m-1", "m-2"]


def test_model_list_urls() -> None:
    assert model_list_urls("http://h:1/v1") == ["http://h:1/v1/models"]
    assert model_list_urls("https://g/v1beta/openai/") == ["https://g/v1beta/openai/models"]
    assert model_list_urls("https://x.com/anthropic") == [
        "https://x.com/anthropic/v1/models", "https://x.com/anthropic/models",
        "https://x.com/v1/models", "https://x.com/models",
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------- a real engine
@pytest.mark.engine
async def test_probe_real_llama_cpp_server() -> None:
    pytest.importorskip("xllamacpp")
    port, script = free_port(), LLAMA_SERVER
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(port), "4096", stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(300):  # up to ~60 s on a busy 2-core machine
            engine = await probe_url(f"http://127.0.0.1:{port}", timeout=2)
            if engine.status == "ok":
                break
            assert engine.status in ("refused", "loading", "timeout"), engine
            await asyncio.sleep(0.2)
        assert (engine.status, engine.kind, engine.context_length) == ("ok", "llamacpp", 4096), engine
        assert engine.models[0].max_context_length == 8192  # SmolLM2's trained window
        assert engine.native_messages is True
        assert engine.tools is False  # SmolLM2's own template has no tool support
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=20)


def test_ccb_probe_ports_replaces_the_usual_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    from ccb.cli.engines import probe as probing

    monkeypatch.delenv("CCB_PROBE_PORTS", raising=False)
    assert probing.local_ports() == probing.DEFAULT_PORTS
    monkeypatch.setenv("CCB_PROBE_PORTS", "8080, 9000 x 70000")
    assert probing.local_ports() == (8080, 9000)
    monkeypatch.setenv("CCB_PROBE_PORTS", "")
    assert probing.local_ports() == ()
