"""Fakes for `ccb doctor` tests, each reproducing a documented failure (engines.md).

`ccb doctor` runs its own `asyncio.run` inside CliRunner, so tests serve these from a thread of their own
(`tests.support.servers.ServerThread`).
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.anthropic_upstream import FakeAnthropic, offered_tool_or_ready
from tests.fakes.openai_engine import FakeEngine

VLLM_TOOL_ERROR = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'


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


class ToolReadyLlama(FakeEngine):
    """A recent llama-server: its template supports tools and it serves Anthropic /v1/messages natively."""

    def __init__(self, *, context: int = 131072, model: str = "qwen3-coder") -> None:
        super().__init__("llamacpp", context=context, model=model)
        self.messages_paths: list[str] = []
        self.native = FakeAnthropic(reply=offered_tool_or_ready)
        self.app.router.add_post("/v1/messages", self._messages)

    async def _props(self, request: web.Request) -> web.Response:
        return web.json_response({
            "build_info": "b8840-abc",
            "default_generation_settings": {"n_ctx": self.context, "params": {"reasoning_format": "auto"}},
            "chat_template_caps": {"supports_tools": True},
        })  # fmt: skip

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self.messages_paths.append(request.path_qs)
        return await self.native.messages(request)


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
