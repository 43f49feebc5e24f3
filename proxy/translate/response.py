"""Non-streaming responses and event reduction. No I/O.

A non-streaming OpenAI completion is turned into one chunk and run through the same
`StreamTranslator` as a stream, so both modes share every rule; `accumulate` then folds the
events into a Message, checking their order as it goes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ccb.proxy.translate.types import ChatCompletion, ChatCompletionChunk, ChunkDelta


class EventOrderError(ValueError):
    """Events that a real Anthropic stream could never produce."""


def completion_to_chunk(completion: ChatCompletion) -> ChatCompletionChunk:
    """A non-streaming chat completion as the single chunk a stream would have carried."""
    if "error" in completion and not completion.get("choices"):
        return {"error": completion["error"]}
    chunk: ChatCompletionChunk = {"usage": completion.get("usage")}
    choices = completion.get("choices") or []
    if choices:
        choice = choices[0]
        message = (choice.get("message") or ChunkDelta()).copy()
        calls = message.get("tool_calls")
        if calls:
            message["tool_calls"] = [{**call, "index": i} for i, call in enumerate(calls)]
        chunk["choices"] = [
            {
                "index": 0,
                "delta": message,
                "finish_reason": choice.get("finish_reason") or "stop",
                "stop_reason": choice.get("stop_reason") or choice.get("matched_stop"),
            }
        ]
    return chunk


def accumulate(events: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Fold Anthropic stream events into the Message they describe; raise on any order violation.

    Takes any (name, data) pairs, not only `types.StreamEvent`s: it checks streams it did not build (tests, doctor).
    """
    message: dict[str, Any] | None = None
    open_index: int | None = None
    partial: dict[int, list[str]] = {}
    stopped = False
    for name, data in events:
        kind = data.get("type")
        if kind != name:
            raise EventOrderError(f"event name {name!r} does not match data type {kind!r}")
        if kind == "message_start":
            if message is not None:
                raise EventOrderError("second message_start")
            message = dict(data["message"])
            message["content"] = []
            message["usage"] = dict(message.get("usage") or {})
            continue
        if message is None:
            raise EventOrderError(f"{kind} before message_start")
        if stopped:
            raise EventOrderError(f"{kind} after message_stop")
        if kind == "ping":
            continue
        if kind == "content_block_start":
            if open_index is not None:
                raise EventOrderError(f"block {data['index']} started while block {open_index} is open")
            if data["index"] != len(message["content"]):
                raise EventOrderError(f"block index {data['index']} out of order")
            open_index = data["index"]
            message["content"].append(dict(data["content_block"]))
        elif kind == "content_block_delta":
            if open_index is None or data["index"] != open_index:
                raise EventOrderError(f"delta for block {data['index']} while block {open_index} is open")
            block = message["content"][open_index]
            delta = data["delta"]
            dtype = delta["type"]
            if dtype == "text_delta" and block["type"] == "text":
                block["text"] += delta["text"]
            elif dtype == "thinking_delta" and block["type"] == "thinking":
                block["thinking"] += delta["thinking"]
            elif dtype == "signature_delta" and block["type"] == "thinking":
                block["signature"] = delta["signature"]
            elif dtype == "input_json_delta" and block["type"] in ("tool_use", "server_tool_use"):
                partial.setdefault(open_index, []).append(delta["partial_json"])
            else:
                raise EventOrderError(f"{dtype} inside a {block['type']} block")
        elif kind == "content_block_stop":
            if open_index is None or data["index"] != open_index:
                raise EventOrderError(f"stop for block {data['index']} while block {open_index} is open")
            block = message["content"][open_index]
            if block["type"] in ("tool_use", "server_tool_use"):
                raw = "".join(partial.pop(open_index, []))
                block["input"] = _parse_input(raw)
            open_index = None
        elif kind == "message_delta":
            if open_index is not None:
                raise EventOrderError("message_delta while a block is open")
            message.update(data["delta"])
            message["usage"].update(data.get("usage") or {})
        elif kind == "message_stop":
            stopped = True
        elif kind == "error":
            raise EventOrderError(f"error event: {data.get('error')}")
        else:
            raise EventOrderError(f"unknown event {kind!r}")
    if message is None or not stopped:
        raise EventOrderError("stream ended without message_stop")
    return message


def _parse_input(raw: str) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        # The same shape Claude Code uses for arguments it cannot parse.
        return {"__unparsedToolInput": {"raw": raw, "len": len(raw)}}
