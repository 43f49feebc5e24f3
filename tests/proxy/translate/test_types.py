"""The wire TypedDicts say what really crosses the wire: checked at run time against real shapes.

Claude Code's recorded requests (`tests/fixtures/wire/`) must fit `MessagesRequest`; every engine stream in
`tests/fixtures/sse/` must fit `ChatCompletionChunk`, and the events the translator makes of it must fit
`StreamEvent` exactly (no field the type does not name); error bodies must fit `ErrorResponse`.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from ccb.proxy.translate.errors import error_for, map_upstream
from ccb.proxy.translate.response import completion_to_chunk
from ccb.proxy.translate.sse import DONE, SSEDecoder
from ccb.proxy.translate.stream import StreamTranslator
from ccb.proxy.translate.types import (
    ChatCompletion,
    ChatCompletionChunk,
    ErrorResponse,
    MessagesRequest,
    StreamEvent,
)

FIXTURES = Path(__file__).parents[2] / "fixtures"
# The recordings also hold Claude Code's `HEAD /` reachability probes.
REQUESTS = [p for p in sorted((FIXTURES / "wire").glob("*/*.json")) if json.loads(p.read_bytes())["method"] == "POST"]
STREAMS = sorted((FIXTURES / "sse").glob("*/*.txt"))


def misfits(value: Any, tp: Any, path: str = "$", *, exact: bool = False) -> list[str]:
    """Where `value` does not fit the annotation `tp` (empty when it fits); `exact` also refuses unnamed fields."""
    if tp is Any:
        return []
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {value!r}"]
        hints = get_type_hints(tp)
        found = [f"{path}.{key}: missing" for key in sorted(tp.__required_keys__) if key not in value]
        for key, item in value.items():
            if key in hints:
                found += misfits(item, hints[key], f"{path}.{key}", exact=exact)
            elif exact:
                found.append(f"{path}.{key}: not in {tp.__name__}")
        return found
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return [] if value in args else [f"{path}: {value!r} is not one of {args}"]
    if origin in (Union, types.UnionType):
        # A tagged union is judged by the member its `type` names, so the message points at the right fields.
        tagged = [a for a in args if is_typeddict(a) and isinstance(value, dict) and _tag_fits(value, a)]
        results = [misfits(value, a, path, exact=exact) for a in tagged or args]
        return [] if any(not r for r in results) else min(results, key=len)
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {value!r}"]
        return [m for i, item in enumerate(value) for m in misfits(item, args[0], f"{path}[{i}]", exact=exact)]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {value!r}"]
        return [m for k, item in value.items() for m in misfits(item, args[1], f"{path}.{k}", exact=exact)]
    if tp is type(None):
        return [] if value is None else [f"{path}: expected null, got {value!r}"]
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    return [] if ok else [f"{path}: expected {tp.__name__}, got {value!r}"]


def _tag_fits(value: dict[str, Any], tp: Any) -> bool:
    tag = get_type_hints(tp).get("type")
    return get_origin(tag) is Literal and value.get("type") in get_args(tag)


def test_the_checker_finds_what_does_not_fit() -> None:
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert misfits(start, StreamEvent, exact=True) == []
    assert misfits({**start, "index": "0"}, StreamEvent) == ["$.index: expected int, got '0'"]
    assert misfits({**start, "extra": 1}, StreamEvent, exact=True) == ["$.extra: not in ContentBlockStartEvent"]
    assert misfits({"type": "message_stop", "x": 1}, StreamEvent) == []
    assert misfits({"model": "m"}, MessagesRequest) == ["$.messages: missing"]
    assert misfits({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]}, MessagesRequest)


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_claude_codes_requests_fit_messages_request(path: Path) -> None:
    recorded = json.loads(path.read_text(encoding="utf-8"))
    assert recorded["path"].startswith("/v1/messages")
    assert misfits(recorded["body"], MessagesRequest) == []


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_engine_chunks_and_the_events_made_of_them_fit(path: Path) -> None:
    decoder = SSEDecoder()
    payloads = [p for p in decoder.feed(path.read_bytes()) + decoder.flush() if p != DONE]
    machine = StreamTranslator(model="claude-sonnet-5", stop_sequences=("END", "STOP"))
    events = machine.start()
    for payload in payloads:
        chunk = json.loads(payload)
        assert misfits(chunk, ChatCompletionChunk) == []
        events += machine.feed(chunk)
    events += machine.finish()
    for name, data in events:
        assert name == data["type"]
        assert misfits(data, StreamEvent, exact=True) == [], (name, data)


def test_a_completion_becomes_a_chunk_that_fits() -> None:
    completion = {
        "id": "c1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "ok",
                    "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    assert misfits(completion, ChatCompletion) == []
    chunk = completion_to_chunk(completion)
    assert misfits(chunk, ChatCompletionChunk, exact=True) == []
    assert completion_to_chunk({"error": {"message": "boom"}}) == {"error": {"message": "boom"}}


OVERFLOW = (
    b'{"error": {"message": "This model\'s maximum context length is 100 tokens. However, you requested '
    b'10 output tokens and your prompt contains at least 200 input tokens"}}'
)


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (400, OVERFLOW),
        (503, b"loading model"),
        (422, b'{"detail": [{"msg": "field required"}]}'),
        (500, b'{"error": "tool choice requires --enable-auto-tool-choice"}'),
    ],
)
def test_error_bodies_fit_error_response(status: int, raw: bytes) -> None:
    assert misfits(map_upstream(status, raw).body, ErrorResponse, exact=True) == []
    assert misfits(error_for(status, "x"), ErrorResponse, exact=True) == []
