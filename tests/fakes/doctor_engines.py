"""Fakes for `ccb doctor` tests, each reproducing a documented failure (engines.md), plus a server thread.

`ccb doctor` runs its own `asyncio.run` inside CliRunner, so these servers cannot share its loop:
`ServerThread` runs an aiohttp app on 127.0.0.1 port 0 in a background thread with its own loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Self

from aiohttp import web

from tests.fakes.openai_engine import FakeEngine

VLLM_TOOL_ERROR = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'


class ServerThread:
    """An aiohttp app served on loopback from a thread of its own; use as a context manager."""

    def __init__(self, app: web.Application, port: int = 0) -> None:
        self.app = app
        self.port = port
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _start(self) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return int(self._runner.addresses[0][1])

    def __enter__(self) -> Self:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class FakeVllm(FakeEngine):
    """vLLM started without --enable-auto-tool-choice: any request carrying tools gets the documented 400."""

    def __init__(self, *, context: int = 131072, model: str = "Qwen/Qwen3-8B") -> None:
        super().__init__("vllm", context=context, model=model)
        self.app.router.add_get("/version", self._version)

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.10.1"})  # before vLLM's own /v1/messages

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body.get("tools") and body.get("tool_choice") != "none":
            self.requests.append(body)
            error = {"message": VLLM_TOOL_ERROR, "type": "BadRequestError", "param": None, "code": 400}
            return web.json_response({"error": error}, status=400)
        return await super()._chat(request)  # aiohttp caches the body, so the parent can read it again


class FakeOllama(FakeEngine):
    """Ollama 0.14 with a model loaded at a 4096-token window and, by default, no `tools` capability."""

    def __init__(
        self,
        *,
        context: int = 4096,
        capabilities: tuple[str, ...] = ("completion",),
        model: str = "qwen2.5-coder:7b",
    ) -> None:
        super().__init__("ollama", context=context, model=model)
        self.capabilities = capabilities
        self.app.router.add_get("/api/version", self._version)
        self.app.router.add_get("/api/ps", self._ps)
        self.app.router.add_post("/api/show", self._show)

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.14.3"})

    async def _ps(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"models": [{"name": self.model, "model": self.model, "context_length": self.context}]}
        )

    async def _show(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "capabilities": list(self.capabilities),
                "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
            }
        )


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


class FakeAnthropic:
    """A native Anthropic Messages provider. `mode`: "ok", "unauthorized" (401 everywhere) or "no_models"
    (the model list routes answer 404 while /v1/messages works). Records every request path."""

    def __init__(self, *, key: str, mode: str = "ok", model: str = "glm-test", echo_key: bool = False) -> None:
        self.key = key
        self.mode = mode
        self.model = model
        self.echo_key = echo_key
        self.paths: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/v1/models", self._models)
        self.app.router.add_get("/models", self._models)
        self.app.router.add_post("/v1/messages", self._messages)

    def _refused(self, request: web.Request) -> web.Response | None:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.mode != "unauthorized" and given == self.key:
            return None
        # Some providers echo the key they were given: doctor must scrub it.
        message = f"invalid api key {given}" if self.echo_key else "invalid api key"
        return web.json_response(
            {"type": "error", "error": {"type": "authentication_error", "message": message}}, status=401
        )

    async def _models(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        if (refused := self._refused(request)) is not None:
            return refused
        if self.mode == "no_models":
            return web.json_response(
                {"type": "error", "error": {"type": "not_found_error", "message": "no"}}, status=404
            )
        return web.json_response({"data": [{"type": "model", "id": self.model}], "has_more": False})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        if (refused := self._refused(request)) is not None:
            return refused
        return await anthropic_stream(request)


async def anthropic_stream(request: web.Request) -> web.StreamResponse:
    """A complete Anthropic message stream: a tool_use block when the request offers tools, else text."""
    body = await request.json()
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"], "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 0},
    }  # fmt: skip
    if body.get("tools"):
        block = {"type": "tool_use", "id": "toolu_1", "name": body["tools"][0]["name"], "input": {}}
        delta = {"type": "input_json_delta", "partial_json": '{"timezone": "Asia/Tokyo"}'}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": "ready"}
        stop = "end_turn"
    for event in (
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": block},
        {"type": "content_block_delta", "index": 0, "delta": delta},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ):
        await resp.write(_sse(event))
    await resp.write_eof()
    return resp


class ToolReadyLlama(FakeEngine):
    """A recent llama-server: its template supports tools and it serves Anthropic /v1/messages natively."""

    def __init__(self, *, context: int = 131072, model: str = "qwen3-coder") -> None:
        super().__init__("llamacpp", context=context, model=model)
        self.messages_paths: list[str] = []
        self.app.router.add_post("/v1/messages", self._messages)

    async def _props(self, request: web.Request) -> web.Response:
        return web.json_response({
            "build_info": "b8840-abc",
            "default_generation_settings": {"n_ctx": self.context, "params": {"reasoning_format": "auto"}},
            "chat_template_caps": {"supports_tools": True},
        })  # fmt: skip

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self.messages_paths.append(request.path_qs)
        return await anthropic_stream(request)


class FakeSglang(FakeEngine):
    """SGLang started without --tool-call-parser (it would answer tool calls as plain text)."""

    def __init__(self, *, context: int = 131072, model: str = "Qwen/Qwen3-8B") -> None:
        super().__init__("sglang", context=context, model=model)
        self.app.router.add_get("/server_info", self._server_info)

    async def _server_info(self, request: web.Request) -> web.Response:
        return web.json_response({
            "version": "0.5.9", "tool_call_parser": None, "reasoning_parser": None, "context_length": None,
            "model_path": self.model, "api_key": "sglang-admin-secret-never-shown",
        })  # fmt: skip


def plain_http_app() -> web.Application:
    """Some other program's web server: answers everything with a 404 page, never `{"status": "ok"}`."""
    app = web.Application()

    async def anything(request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html>not here</html>", content_type="text/html")

    app.router.add_route("*", "/{tail:.*}", anything)
    return app
