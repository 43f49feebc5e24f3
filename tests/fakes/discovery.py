"""Fake inference engines for the discovery tests: one aiohttp app factory per engine kind.

Each app answers the read-only routes a probe uses, with the body shapes and field names documented in
shared/reference/engines.md, including the awkward parts: LM Studio's HTTP 200 on unknown routes, llama.cpp's
503 on every route while loading, SGLang's server info carrying its API key in clear text. Every app records
the requests it received (`REQUESTS`) so a test can prove no side-effect route was called.

Run them with pytest-aiohttp's `aiohttp_server`, or in a background thread with
`tests.support.servers.ServerThread` when a test drives the synchronous CLI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

# Planted in SGLang's server info: tests assert it never reaches any output.
SGLANG_SECRET = "sk-sglang-planted-secret-9d41c7"
SGLANG_ADMIN_SECRET = "sk-sglang-admin-planted-secret-52be"

REQUESTS = web.AppKey("requests", list)  # (method, path) pairs, in arrival order

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


def _new_app(*middlewares: Any) -> web.Application:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        request.app[REQUESTS].append((request.method, request.path))
        return await handler(request)

    app = web.Application(middlewares=[record, *middlewares])
    app[REQUESTS] = []
    return app


def _route(app: web.Application, method: str, path: str, body: Any, status: int = 200) -> None:
    """A route answering a fixed JSON body (bodies are built once, from the factory's parameters)."""

    async def answer(_: web.Request) -> web.Response:
        if body is None:  # e.g. vLLM's /health: 200 with an empty body
            return web.Response(status=status)
        return web.json_response(body, status=status)

    app.router.add_route(method, path, answer)


def _catch_all(app: web.Application, body: Any, status: int) -> None:
    _route(app, "*", "/{tail:.*}", body, status)  # registered last, so it only sees unknown paths


def _bearer_guard(key: str | None, prefixes: tuple[str, ...], *, x_api_key: bool = False) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        ok = request.headers.get("Authorization") == f"Bearer {key}"
        ok = ok or (x_api_key and request.headers.get("x-api-key") == key)
        if key is not None and request.path.startswith(prefixes) and not ok:
            return web.json_response({"error": "Unauthorized"}, status=401)
        return await handler(request)

    return guard


CREATED = 1_700_000_000


# --------------------------------------------------------------------------------------------- Ollama
@dataclass(frozen=True)
class OllamaModel:
    name: str
    arch: str = "qwen3"
    trained_ctx: int = 40960
    capabilities: tuple[str, ...] = ("completion", "tools", "thinking")
    loaded_ctx: int | None = None  # context_length in /api/ps; None means not loaded


def ollama_app(
    *, version: str = "0.14.3", models: tuple[OllamaModel, ...] = (OllamaModel("qwen3:8b", loaded_ctx=32768),)
) -> web.Application:
    by_name = {m.name: m for m in models}

    def base(m: OllamaModel) -> dict[str, Any]:
        details = {"family": m.arch, "parameter_size": "8.2B", "quantization_level": "Q4_K_M"}
        return {
            "name": m.name,
            "model": m.name,
            "size": 5_200_000_000,
            "digest": "abc123",
            "details": details,
        }

    async def root(_: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def show(request: web.Request) -> web.Response:
        name = (await request.json()).get("model", "")
        m = by_name.get(name)
        if m is None:
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        info = {"general.architecture": m.arch, f"{m.arch}.context_length": m.trained_ctx}
        shown = {"modelfile": "# Modelfile", "parameters": "", "template": "{{ .Prompt }}"}
        return web.json_response(shown | {"model_info": info, "capabilities": list(m.capabilities)})

    async def go_404(_: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found")

    running = {"expires_at": "2026-01-01T00:05:00Z", "size_vram": 6_000_000_000}
    ps = [base(m) | running | {"context_length": m.loaded_ctx} for m in models if m.loaded_ctx is not None]
    listed = [{"id": m.name, "object": "model", "created": CREATED, "owned_by": "library"} for m in models]
    app = _new_app()
    app.router.add_get("/", root)
    _route(app, "GET", "/api/version", {"version": version})
    _route(app, "GET", "/api/tags", {"models": [base(m) for m in models]})
    _route(app, "GET", "/api/ps", {"models": ps})
    app.router.add_post("/api/show", show)
    _route(app, "GET", "/v1/models", {"object": "list", "data": listed})
    app.router.add_route("*", "/{tail:.*}", go_404)  # no count_tokens route: 404 like every unknown path
    return app


# --------------------------------------------------------------------------------------------- vLLM
def vllm_app(
    *,
    version: str = "0.11.2",
    models: tuple[str, ...] = ("Qwen/Qwen3-Coder-30B-A3B-Instruct",),
    max_model_len: int = 131072,
    api_key: str | None = None,
    count_tokens: bool = True,
) -> web.Application:
    listed = [
        {"id": name, "object": "model", "created": CREATED, "owned_by": "vllm", "root": name, "parent": None}
        | {"max_model_len": max_model_len, "permission": []}
        for name in models
    ]
    # With --api-key, /v1/* needs the key; /health and /version stay public.
    app = _new_app(_bearer_guard(api_key, ("/v1/",)))
    _route(app, "GET", "/version", {"version": version})
    _route(app, "GET", "/health", None)
    _route(app, "GET", "/v1/models", {"object": "list", "data": listed})
    if count_tokens:
        counted = {"input_tokens": 9, "context_management": {"original_input_tokens": 9}}
        _route(app, "POST", "/v1/messages/count_tokens", counted)
    _catch_all(app, {"detail": "Not Found"}, 404)
    return app


# --------------------------------------------------------------------------------------------- SGLang
def sglang_app(
    *,
    version: str = "0.5.9",
    model: str = "Qwen/Qwen3-Coder-480B-A35B-Instruct",
    max_model_len: int = 262144,
    context_length: int | None = None,
    tool_call_parser: str | None = "qwen3_coder",
    reasoning_parser: str | None = None,
    legacy_route: bool = False,
) -> web.Application:
    entry = {"id": model, "object": "model", "created": CREATED, "owned_by": "sglang", "root": model}
    server_info = {
        "model_path": model,
        "host": "0.0.0.0",
        "port": 30000,
        "api_key": SGLANG_SECRET,
        "admin_api_key": SGLANG_ADMIN_SECRET,
        "context_length": context_length,
        "tool_call_parser": tool_call_parser,
        "reasoning_parser": reasoning_parser,
        "allow_auto_truncate": False,
        "max_total_num_tokens": 1_048_576,
        "internal_states": [{"last_gen_throughput": 0.0}],
        "version": version,
    }
    app = _new_app()
    _route(app, "GET", "/v1/models", {"object": "list", "data": [entry | {"max_model_len": max_model_len}]})
    _route(app, "GET", "/get_server_info" if legacy_route else "/server_info", server_info)
    _route(app, "GET", "/health", None)
    # Side-effect routes exist (and are recorded) so a test can prove the probe never calls them.
    _route(app, "GET", "/health_generate", None)
    _route(app, "*", "/flush_cache", None)
    _route(app, "POST", "/v1/messages/count_tokens", {"input_tokens": 9})
    _catch_all(app, {"detail": "Not Found"}, 404)
    return app


# --------------------------------------------------------------------------------------------- llama.cpp
def _llamacpp_error(code: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": kind}}


def llamacpp_app(
    *,
    build_info: str = "b8840-1a2b3c4d",
    model: str = "qwen3-coder-30b-a3b-q4_k_m.gguf",
    n_ctx: int = 65536,
    n_ctx_train: int = 262144,
    supports_tools: bool = True,
    reasoning_format: str = "auto",
    loading: bool = False,
) -> web.Application:
    @web.middleware
    async def still_loading(request: web.Request, handler: Handler) -> web.StreamResponse:
        if loading:  # while the model loads, every route answers the same 503
            return web.json_response(_llamacpp_error(503, "Loading model", "unavailable_error"), status=503)
        return await handler(request)

    props = {
        "default_generation_settings": {"params": {"reasoning_format": reasoning_format}, "n_ctx": n_ctx},
        "total_slots": 1,
        "model_alias": model,
        "model_path": f"/models/{model}",
        "modalities": {"vision": False, "audio": False, "video": False},
        "chat_template": "{% for message in messages %}...{% endfor %}",
        "chat_template_caps": {"supports_tools": supports_tools, "supports_tool_calls": supports_tools},
        "chat_template_tool_use": None,
        "build_info": build_info,
        "is_sleeping": False,
    }
    meta = {"n_ctx": n_ctx, "n_ctx_train": n_ctx_train, "n_params": 30_500_000_000, "n_vocab": 151936}
    entry = {"id": model, "object": "model", "created": CREATED, "owned_by": "llamacpp", "meta": meta}
    listed = {"models": [{"name": model, "model": model}], "object": "list", "data": [entry]}
    app = _new_app(still_loading)
    _route(app, "GET", "/health", {"status": "ok"})
    _route(app, "GET", "/props", props)
    _route(app, "GET", "/v1/models", listed)
    _route(app, "GET", "/models", listed)
    _route(app, "POST", "/v1/messages/count_tokens", {"input_tokens": 9})
    _catch_all(app, _llamacpp_error(404, "File Not Found", "not_found_error"), 404)
    return app


# --------------------------------------------------------------------------------------------- LM Studio
@dataclass(frozen=True)
class LmsModel:
    id: str
    type: str = "llm"
    state: str = "loaded"
    max_context_length: int = 131072
    loaded_context_length: int | None = 32768
    capabilities: tuple[str, ...] = ("tool_use",)
    reasoning: tuple[str, ...] = ()  # allowed_options; empty means no reasoning capability


LMS_MODELS = (
    LmsModel("qwen/qwen3-coder-30b", reasoning=("off", "on")),
    LmsModel("google/gemma-3-12b", type="vlm", state="not-loaded", loaded_context_length=None, capabilities=()),
    LmsModel("text-embedding-nomic-embed-text-v1.5", type="embeddings", capabilities=()),
)


def _lms_v0(m: LmsModel) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": m.id,
        "object": "model",
        "type": m.type,
        "publisher": m.id.split("/")[0],
        "arch": "qwen3",
    }
    entry |= {"compatibility_type": "gguf", "quantization": "Q4_K_M", "state": m.state}
    entry |= {"max_context_length": m.max_context_length, "capabilities": list(m.capabilities)}
    if m.state == "loaded" and m.loaded_context_length is not None:
        entry["loaded_context_length"] = m.loaded_context_length
    return entry


def _lms_v1(m: LmsModel) -> dict[str, Any]:
    caps: dict[str, Any] = {"vision": m.type == "vlm", "trained_for_tool_use": "tool_use" in m.capabilities}
    if m.reasoning:
        caps["reasoning"] = {"allowed_options": list(m.reasoning), "default": m.reasoning[-1]}
    loaded = m.state == "loaded"
    instances = [{"id": m.id, "config": {"context_length": m.loaded_context_length}}] if loaded else []
    kind = "embedding" if m.type == "embeddings" else "llm"
    entry = {"type": kind, "key": m.id, "max_context_length": m.max_context_length}
    return entry | {"loaded_instances": instances, "capabilities": caps}


def lmstudio_app(
    *, models: tuple[LmsModel, ...] = LMS_MODELS, api_v1: bool = True, api_key: str | None = None
) -> web.Application:
    async def unknown(request: web.Request) -> web.Response:
        # LM Studio's signature trap: unknown routes are HTTP 200 with a string error.
        return web.json_response({"error": f"Unexpected endpoint or method. ({request.method} {request.path})"})

    listed = [{"id": m.id, "object": "model", "owned_by": "organization_owner"} for m in models]
    app = _new_app(_bearer_guard(api_key, ("/v1/", "/api/"), x_api_key=True))
    _route(app, "GET", "/lmstudio-greeting", {"lmstudio": True})
    _route(app, "GET", "/v1/models", {"data": listed, "object": "list"})
    _route(app, "GET", "/api/v0/models", {"object": "list", "data": [_lms_v0(m) for m in models]})
    if api_v1:
        _route(app, "GET", "/api/v1/models", {"models": [_lms_v1(m) for m in models]})
    app.router.add_route("*", "/{tail:.*}", unknown)
    return app


# --------------------------------------------------------------------------------------------- strangers
def not_engine_app() -> web.Application:
    """A web site that answers every path with 200 and HTML, like a single-page app's dev server."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><html><body>Dashboard</body></html>", content_type="text/html")

    app = _new_app()
    app.router.add_route("*", "/{tail:.*}", page)
    return app
