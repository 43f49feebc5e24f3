"""A scripted fake OpenAI-compatible engine that answers in each real engine's documented dialect.

Answers are abstract (`Answer`: reasoning, text, tool calls, finish reason); `render_stream` and
`render_completion` turn them into the chunk sequence or JSON body that Ollama, vLLM, SGLang,
llama.cpp or LM Studio would send (shapes from engines.md). Faults are scripted as `Raw` replies.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DIALECTS = ("ollama", "vllm", "sglang", "llamacpp", "lmstudio")


@dataclass
class Answer:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finish: str | None = None  # default: tool_calls when there are calls, else stop
    prompt_tokens: int = 42
    completion_tokens: int = 7


@dataclass
class Raw:
    """A reply sent exactly as given: status, headers, body bytes (or a list of body pieces with pauses)."""

    status: int = 200
    body: bytes | list[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    pause: float = 0.0
    hang: bool = False  # send the pieces, then never finish


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def render_stream(answer: Answer, dialect: str, model: str = "m") -> list[dict[str, Any]]:
    """The chunk sequence `dialect` streams for this answer (without the `[DONE]` line)."""
    cid = "chatcmpl-" + uuid.uuid4().hex[:12]
    finish = answer.finish or ("tool_calls" if answer.tool_calls else "stop")

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason, **extra}
        if dialect == "sglang":
            choice.setdefault("matched_stop", None)
            delta.setdefault("reasoning_content", None)
        return {"id": cid, "object": "chat.completion.chunk", "model": model, "choices": [choice]}

    usage = {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }
    chunks = [chunk({"role": "assistant", "content": ""})]
    if answer.reasoning:
        if dialect == "lmstudio":
            chunks += [chunk({"content": p}) for p in _pieces(f"<think>{answer.reasoning}</think>\n\n", 5)]
        else:
            field_name = "reasoning" if dialect in ("ollama", "vllm") else "reasoning_content"
            chunks += [chunk({field_name: p}) for p in _pieces(answer.reasoning, 6)]
    if answer.text:
        chunks += [chunk({"content": p}) for p in _pieces(answer.text, 4)]
    for i, (name, args) in enumerate(answer.tool_calls):
        arguments = json.dumps(args)
        call_id = f"call_{uuid.uuid4().hex[:8]}"
        if dialect == "ollama":
            # Whole call in one chunk; parallel calls all at index 0 (ollama#15457).
            chunks.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": name, "arguments": arguments},
                            }
                        ]
                    }
                )
            )
            continue
        head: dict[str, Any] = {
            "index": i,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [head]}))
        for piece in _pieces(arguments, 7):
            chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    if dialect == "ollama":
        chunks.append(chunk({}, finish))
        chunks.append({"id": cid, "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage})
    elif dialect == "llamacpp":
        chunks.append(chunk({}, finish))
        chunks.append(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [],
                "usage": usage,
                "timings": {"prompt_n": answer.prompt_tokens, "predicted_n": answer.completion_tokens},
            }
        )
    else:
        chunks.append(chunk({}, finish))
        chunks.append({"id": cid, "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage})
    return chunks


def render_completion(answer: Answer, dialect: str, model: str = "m") -> dict[str, Any]:
    finish = answer.finish or ("tool_calls" if answer.tool_calls else "stop")
    message: dict[str, Any] = {"role": "assistant", "content": answer.text or None}
    if answer.reasoning:
        if dialect == "lmstudio":
            message["content"] = f"<think>{answer.reasoning}</think>\n\n{answer.text}"
        else:
            message["reasoning" if dialect in ("ollama", "vllm") else "reasoning_content"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:8]}",
                "type": "function",
                "function": {"name": n, "arguments": json.dumps(a)},
            }
            for n, a in answer.tool_calls
        ]
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        },
    }


def sse_body(chunks: list[dict[str, Any]], done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return out + (b"data: [DONE]\n\n" if done else b"")


class FakeEngine:
    """Serves /v1/chat/completions from a script; records every request body it receives."""

    def __init__(self, dialect: str = "vllm", *, context: int = 32768, model: str = "fake-model") -> None:
        self.dialect = dialect
        self.context = context
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.script: deque[Answer | Raw] = deque()
        self.default: Answer | Raw = Answer(text="Hello from the fake engine.")
        # When set, picks the reply from the request body (None: take the script as usual), for clients whose
        # side requests (titles, subagents) would otherwise take a scripted reply out of turn.
        self.choose: Callable[[dict[str, Any]], Answer | Raw | None] | None = None
        self.disconnects = 0
        # Ollama: what POST /api/show reports (None: an Ollama older than 0.6.4, no `capabilities` key).
        self.capabilities: list[str] | None = ["completion", "tools", "thinking"]
        self.shows: list[str] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/v1/chat/completions", self._chat)
        self.app.router.add_get("/v1/models", self._models)
        if dialect == "ollama":
            self.app.router.add_post("/api/show", self._show)
        if dialect == "llamacpp":
            self.app.router.add_get("/props", self._props)
        if dialect == "vllm":
            self.app.router.add_post("/tokenize", self._tokenize)
        if dialect in ("llamacpp", "sglang"):
            self.app.router.add_post("/v1/messages/count_tokens", self._count_tokens)

    def push(self, *replies: Answer | Raw) -> None:
        self.script.extend(replies)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        refusal = self._refusal(body)
        if refusal is not None:
            return refusal
        chosen = self.choose(body) if self.choose is not None else None
        reply = chosen or (self.script.popleft() if self.script else self.default)
        if isinstance(reply, Raw):
            return await self._raw(request, reply)
        if not body.get("stream"):
            return web.json_response(render_completion(reply, self.dialect, body.get("model", self.model)))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in render_stream(reply, self.dialect, body.get("model", self.model)):
            await resp.write(b"data: " + json.dumps(c).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _raw(self, request: web.Request, reply: Raw) -> web.StreamResponse:
        if isinstance(reply.body, bytes) and not reply.hang and not reply.pause:
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        await resp.prepare(request)
        pieces = [reply.body] if isinstance(reply.body, bytes) else reply.body
        try:
            for piece in pieces:
                await resp.write(piece)
                if reply.pause:
                    await asyncio.sleep(reply.pause)
            if reply.hang:
                await asyncio.sleep(3600)
        except (asyncio.CancelledError, ConnectionError):
            self.disconnects += 1
            raise
        await resp.write_eof()
        return resp

    async def _models(self, request: web.Request) -> web.Response:
        entry: dict[str, Any] = {"id": self.model, "object": "model", "created": 0}
        if self.dialect in ("vllm", "sglang"):
            entry.update(owned_by=self.dialect, root=self.model, max_model_len=self.context)
        elif self.dialect == "llamacpp":
            entry.update(owned_by="llamacpp", meta={"n_ctx": self.context, "n_ctx_train": self.context * 4})
        elif self.dialect == "lmstudio":
            entry.update(owned_by="organization_owner")
        else:
            entry.update(owned_by="library")
        return web.json_response({"object": "list", "data": [entry]})

    def _refusal(self, body: dict[str, Any]) -> web.Response | None:
        """Ollama refuses any reasoning_effort for a model without the thinking capability."""
        if self.dialect != "ollama" or "reasoning_effort" not in body:
            return None
        if self.capabilities is not None and "thinking" in self.capabilities:
            return None
        message = f'"{body.get("model")}" does not support thinking'
        return web.json_response(
            {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}, status=400
        )

    async def _show(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.shows.append(body.get("model"))
        info: dict[str, Any] = {
            "modelfile": "FROM x",
            "template": "{{ .Prompt }}",
            "details": {"family": "qwen2", "parameter_size": "7.6B"},
            "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
        }
        if self.capabilities is not None:
            info["capabilities"] = self.capabilities
        return web.json_response(info)

    async def _props(self, request: web.Request) -> web.Response:
        return web.json_response({"build_info": "b8840-abc", "default_generation_settings": {"n_ctx": self.context}})

    async def _count_tokens(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"count_tokens": body})
        return web.json_response({"input_tokens": 1000 + len(json.dumps(body.get("messages", [])))})

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        count = sum(len(json.dumps(m)) for m in body.get("messages", [])) // 4
        return web.json_response({"count": count, "max_model_len": self.context, "tokens": []})
