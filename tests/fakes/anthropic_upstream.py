"""The one fake of a provider's native Anthropic endpoint: `POST /v1/messages` (streaming and not) and the model
list (`GET /v1/models`, `GET /models`).

It writes Anthropic events by hand from an `Answer` (text, then tool calls), independently of ccb's own
translator, and records every request with its headers. Answers come from the script (`push`), else from
`reply(body)` (by default the same `default` answer each time; `offered_tool_or_ready` answers a tool call when
the request offers tools, as doctor's smoke test wants). With a `key`, every route wants `Authorization: Bearer
KEY` and answers 401 otherwise; `mode` reproduces two failures: "unauthorized" (401 everywhere) and "no_models"
(the model list routes answer 404 while /v1/messages works).
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.openai_engine import Answer


def _events(answer: Answer, model: str) -> list[tuple[str, dict[str, Any]]]:
    usage = {"input_tokens": answer.prompt_tokens, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_" + uuid.uuid4().hex[:20],
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                },
            },
        )
    ]
    index = 0
    if answer.text:
        events += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": answer.text}},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
        index += 1
    for name, args in answer.tool_calls:
        events += [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": "toolu_" + uuid.uuid4().hex[:20],
                        "name": name,
                        "input": {},
                    },
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(args)},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
        index += 1
    stop = "tool_use" if answer.tool_calls else "max_tokens" if answer.finish == "length" else "end_turn"
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": answer.completion_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def offered_tool_or_ready(body: dict[str, Any]) -> Answer:
    """A call of the first tool the request offers, else the text "ready"."""
    if body.get("tools"):
        return Answer(tool_calls=[(body["tools"][0]["name"], {"timezone": "Asia/Tokyo"})])
    return Answer(text="ready")


class FakeAnthropic:
    def __init__(
        self,
        *,
        key: str | None = None,
        mode: str = "ok",
        models: tuple[str, ...] = ("glm-test",),
        echo_key: bool = False,
        reply: Callable[[dict[str, Any]], Answer] | None = None,
    ) -> None:
        self.key = key
        self.mode = mode
        self.models = models
        self.echo_key = echo_key  # some providers echo the key they were given in the 401: ccb must scrub it
        self.reply = reply or (lambda _: self.default)
        self.paths: list[str] = []  # every request's path, in arrival order
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.script: deque[Answer] = deque()
        self.default = Answer(text="Hello from the native endpoint.")
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_get("/v1/models", self._models)
        self.app.router.add_get("/models", self._models)
        self.app.router.add_post("/v1/messages", self.messages)
        self.app.router.add_route("HEAD", "/", self._root)

    def push(self, *answers: Answer) -> None:
        self.script.extend(answers)

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response()

    def _refused(self, request: web.Request) -> web.Response | None:
        given = request.headers.get("Authorization", "")
        if self.mode != "unauthorized" and (self.key is None or given == f"Bearer {self.key}"):
            return None
        message = f"invalid api key {given.removeprefix('Bearer ')}" if self.echo_key else "invalid api key"
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
        listed = [{"type": "model", "id": model} for model in self.models]
        return web.json_response({"data": listed, "has_more": False})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        self.headers.append(dict(request.headers))
        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.json()
        self.requests.append(body)
        answer = self.script.popleft() if self.script else self.reply(body)
        events = _events(answer, body.get("model", "m"))
        if not body.get("stream"):
            message = dict(events[0][1]["message"])
            message["content"] = [e[1]["content_block"] for e in events if e[0] == "content_block_start"]
            for block, (_, delta) in zip(message["content"], [e for e in events if e[0] == "content_block_delta"]):
                if block["type"] == "text":
                    block["text"] = delta["delta"]["text"]
                else:
                    block["input"] = json.loads(delta["delta"]["partial_json"])
            message["stop_reason"] = events[-2][1]["delta"]["stop_reason"]
            return web.json_response(message)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for name, data in events:
            await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        await resp.write_eof()
        return resp
