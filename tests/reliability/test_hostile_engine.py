"""A hostile or broken engine stream: the client always gets a complete answer or a clean error.

Hypothesis writes the engine's stream (well-typed chunks mostly, with wrong types, garbage lines, error
chunks, early ends mixed in). Streaming clients get either a well-formed Anthropic stream, re-parsed with
the event-order-checking reducer, or one that ends in exactly one `event: error` without `message_stop`;
non-streaming clients get a Message or an Anthropic JSON error. Never a crash, never a truncated stream.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from ccb.proxy.translate.response import accumulate
from tests.fakes.faulty_engine import Stream
from tests.reliability.helpers import FUZZ, TOKEN, ThreadBridge, ask, exchange, json_values, maybe, unchunk
from tests.support.sse import events as parse_sse

AUTH = [("x-api-key", TOKEN), ("Content-Type", "application/json")]


def _engine_chunk(loose: bool) -> st.SearchStrategy[Any]:
    """Chunks as engines send them; `loose` lets any field take any JSON value."""
    v = maybe if loose else (lambda strategy: strategy)
    calls = st.fixed_dictionaries(
        {},
        optional={
            "index": v(st.integers(0, 3)),
            "id": v(st.sampled_from(["call_1", "call_2", ""])),
            "type": v(st.just("function")),
            "function": v(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "name": v(st.sampled_from(["Bash", "Write", ""])),
                        "arguments": v(st.sampled_from(['{"command": ', '"ls"}', "{}", '"', "", "]"])),
                    },
                )
            ),
        },
    )
    delta = st.fixed_dictionaries(
        {},
        optional={
            "role": v(st.just("assistant")),
            "content": v(st.sampled_from(["Hi", "<think>", "</think>", "", " x"])),
            "reasoning_content": v(st.text(max_size=8)),
            "reasoning": v(st.text(max_size=8)),
            "tool_calls": v(st.lists(calls, max_size=2)),
        },
    )
    choice = st.fixed_dictionaries(
        {"index": st.just(0), "delta": v(delta)},
        optional={
            "finish_reason": v(st.sampled_from(["stop", "length", "tool_calls", "content_filter", "odd"])),
        },
    )
    usage = st.fixed_dictionaries(
        {}, optional={"prompt_tokens": v(st.integers(0, 99)), "completion_tokens": v(st.integers(0, 99))}
    )
    chunk = st.fixed_dictionaries({"choices": v(st.lists(choice, max_size=2))}, optional={"usage": v(usage)})
    if loose:
        error = st.fixed_dictionaries({"message": st.text(max_size=10)}, optional={"code": v(st.integers(400, 599))})
        chunk = st.one_of(chunk, st.fixed_dictionaries({"error": v(error)}), json_values)
    return chunk


engine_chunks = st.one_of(*[_engine_chunk(loose=False)] * 12, _engine_chunk(loose=True))  # mostly well typed
_FINISH = [b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n', b"data: [DONE]\n\n"]
engine_pieces = st.tuples(
    st.lists(
        st.one_of(
            *[engine_chunks.map(lambda c: b"data: " + json.dumps(c).encode() + b"\n\n")] * 6,
            st.sampled_from(
                [
                    b": keep-alive\n\n",
                    b"data: [DONE]\n\n",
                    b"data: {broken\n\n",
                    b"event: odd\n\n",
                    b"\n",
                    b"data: \xff\xfe\n\n",
                    b"retry: 5\n",
                ]
            ),
        ),
        max_size=12,
    ),
    st.booleans(),
).map(lambda t: t[0] + (_FINISH if t[1] else []))  # half end properly


@FUZZ
@given(pieces=engine_pieces, then=st.sampled_from(["end", "fin"]))
def test_any_engine_stream_gives_a_complete_answer_or_an_error_event(
    bridge: ThreadBridge, pieces: list[bytes], then: str
) -> None:
    assert bridge.engine is not None
    bridge.engine.push(Stream(pieces, then=then))
    answer = exchange(bridge.port, "POST", "/v1/messages", AUTH, json.dumps(ask()).encode())
    assert answer.status == 200, answer.body[:300]
    body = unchunk(answer.body)
    events = parse_sse(body)
    names = [name for name, _ in events]
    event("error event" if "error" in names else "complete")
    if "error" in names:
        assert names[-1] == "error" and names.count("error") == 1 and "message_stop" not in names
    else:
        accumulate(events)  # raises on any event-order violation


@FUZZ
@given(pieces=engine_pieces)
def test_any_engine_stream_to_a_whole_answer_request_gives_a_message_or_a_json_error(
    bridge: ThreadBridge, pieces: list[bytes]
) -> None:
    assert bridge.engine is not None
    bridge.engine.push(Stream(pieces))
    answer = exchange(bridge.port, "POST", "/v1/messages", AUTH, json.dumps(ask(stream=False)).encode())
    data = json.loads(answer.body)
    event(f"status {answer.status}")
    if answer.status == 200:
        assert data["type"] == "message" and isinstance(data["content"], list)
    else:
        # An error chunk keeps the engine's own status (its "code"); anything else unreadable is a 502.
        assert data["type"] == "error" and 400 <= answer.status < 600
