"""A scripted fake of a provider's native Anthropic endpoint (`POST /v1/messages`, streaming and not).

It writes Anthropic events by hand from an `Answer` (text, then tool calls), independently of ccb's own
translator, and records every request with its headers.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
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


class FakeAnthropic:
    def __init__(self, *, key: str | None = None) -> None:
        self.key = key
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.script: deque[Answer] = deque()
        self.default = Answer(text="Hello from the native endpoint.")
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/v1/messages", self._messages)
        self.app.router.add_route("HEAD", "/", self._root)

    def push(self, *answers: Answer) -> None:
        self.script.extend(answers)

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response()

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self.headers.append(dict(request.headers))
        if self.key is not None and request.headers.get("Authorization") != f"Bearer {self.key}":
            return web.json_response(
                {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}}, status=401
            )
        body = await request.json()
        self.requests.append(body)
        answer = self.script.popleft() if self.script else self.default
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
