"""The stream machine, Playbook-style: recorded upstream streams of each engine in, exact Anthropic events out.

Each fixture `tests/fixtures/sse/<engine>/<case>.txt` is a raw upstream stream in that engine's
documented shape; `<case>.json` is the Message the events must fold into. Every fixture is fed
whole, byte by byte (splitting every multi-byte character and every tag) and in odd-sized pieces:
all three must give the same events, in an order `accumulate` accepts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ccb.proxy.translate.response import EventOrderError, accumulate
from ccb.proxy.translate.sse import DONE, SSEDecoder
from ccb.proxy.translate.stream import Event, StreamTranslator, UpstreamError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sse"
CASES = sorted(FIXTURES.glob("*/*.txt"))
SYNTH = re.compile(r"toolu_[0-9a-f]{24}")
# Per-case translator options (what the request would have carried).
OPTIONS: dict[str, dict[str, Any]] = {
    "reasoning_content_stop_sequence": {"stop_sequences": ("END", "STOP")},
}


def run(raw: bytes, split: int | None, **options: Any) -> list[Event]:
    machine = StreamTranslator(model="claude-sonnet-5", message_id="msg_test", input_estimate=11, **options)
    decoder = SSEDecoder()
    events = machine.start()
    pieces = [raw] if split is None else [raw[i : i + split] for i in range(0, len(raw), split)]
    payloads: list[str] = []
    for piece in pieces:
        payloads += decoder.feed(piece)
    payloads += decoder.flush()
    for payload in payloads:
        if payload == DONE:
            break
        events += machine.feed(json.loads(payload))
    return events + machine.finish()


def normalised(events: list[Event]) -> str:
    return SYNTH.sub("toolu_SYNTH", json.dumps(events, ensure_ascii=False))


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture(path: Path) -> None:
    raw = path.read_bytes()
    options = OPTIONS.get(path.stem, {})
    whole = run(raw, None, **options)
    assert normalised(run(raw, 1, **options)) == normalised(whole)
    assert normalised(run(raw, 7, **options)) == normalised(whole)
    message = json.loads(SYNTH.sub("toolu_SYNTH", json.dumps(accumulate(whole), ensure_ascii=False)))
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert message == expected


def feed_all(chunks: list[dict[str, Any]], **options: Any) -> list[Event]:
    machine = StreamTranslator(model="m", message_id="msg_t", **options)
    events = machine.start()
    for chunk in chunks:
        events += machine.feed(chunk)
    return events + machine.finish()


def delta(**fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": fields, "finish_reason": None}]}


def finish(reason: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


def test_exact_event_sequence_for_text() -> None:
    events = feed_all(
        [
            delta(role="assistant", content=""),
            delta(content="Hi"),
            finish("stop"),
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
        ]
    )
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert events[3][1]["delta"] == {"type": "text_delta", "text": "Hi"}
    assert events[5][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {
            "input_tokens": 3,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def test_message_start_carries_full_usage() -> None:
    start = StreamTranslator(model="m", input_estimate=1234).start()[0][1]
    assert start["message"]["usage"] == {
        "input_tokens": 1234,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    assert start["message"]["content"] == [] and start["message"]["stop_reason"] is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        ("abort", "end_turn"),
        ("eos", "end_turn"),
    ],
)
def test_finish_reason_mapping(reason: str, expected: str) -> None:
    events = feed_all([delta(content="x"), finish(reason)])
    assert events[-2][1]["delta"]["stop_reason"] == expected


def test_text_after_tool_call_opens_a_new_block() -> None:
    events = feed_all(
        [
            delta(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "Bash", "arguments": "{}"}}]),
            delta(content="and then text"),
            finish("tool_calls"),
        ]
    )
    message = accumulate(events)
    assert [b["type"] for b in message["content"]] == ["tool_use", "text"]
    assert message["stop_reason"] == "tool_use"


def test_arguments_before_name_are_buffered() -> None:
    events = feed_all(
        [
            delta(tool_calls=[{"index": 0, "id": "c1", "function": {"arguments": '{"a":'}}]),
            delta(tool_calls=[{"index": 0, "function": {"name": "Tool", "arguments": "1}"}}]),
            finish("tool_calls"),
        ]
    )
    block = accumulate(events)["content"][0]
    assert block == {"type": "tool_use", "id": "c1", "name": "Tool", "input": {"a": 1}}


def test_arguments_as_object_are_serialised() -> None:
    events = feed_all(
        [
            delta(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "T", "arguments": {"k": "v"}}}]),
            finish("tool_calls"),
        ]
    )
    assert accumulate(events)["content"][0]["input"] == {"k": "v"}


def test_shortened_tool_names_are_restored() -> None:
    long_name = "mcp__server__" + "x" * 70
    events = feed_all(
        [
            delta(tool_calls=[{"index": 0, "id": "c", "function": {"name": "short1", "arguments": "{}"}}]),
            finish("tool_calls"),
        ],
        tool_names={"short1": long_name},
    )
    assert accumulate(events)["content"][0]["name"] == long_name


def test_thinking_block_gets_signature_before_stop() -> None:
    events = feed_all([delta(reasoning_content="hmm"), delta(content="ok"), finish("stop")])
    names = [(n, d.get("delta", {}).get("type")) for n, d in events]
    assert names[2:6] == [
        ("content_block_start", None),
        ("content_block_delta", "thinking_delta"),
        ("content_block_delta", "signature_delta"),
        ("content_block_stop", None),
    ]
    assert accumulate(events)["content"][0]["signature"]


def test_error_chunk_raises() -> None:
    machine = StreamTranslator(model="m")
    machine.start()
    with pytest.raises(UpstreamError) as info:
        machine.feed({"error": {"code": 500, "message": "boom", "type": "server_error"}})
    assert info.value.error["message"] == "boom"


def test_usage_missing_estimates_output() -> None:
    events = feed_all([delta(content="x" * 40), finish("stop")])
    usage = events[-2][1]["usage"]
    assert usage["output_tokens"] == 10 and usage["input_tokens"] == 0


def test_accumulate_rejects_out_of_order_events() -> None:
    good = feed_all([delta(content="a"), finish("stop")])
    bad = [e for e in good if e[0] != "content_block_stop"]
    with pytest.raises(EventOrderError):
        accumulate(bad)


def test_whitespace_before_think_tag_is_not_a_text_block() -> None:
    events = feed_all([delta(content="\n"), delta(content=" <think>x</think>"), delta(content="y"), finish("stop")])
    content = accumulate(events)["content"]
    assert [(b["type"], b.get("text") or b.get("thinking")) for b in content] == [("thinking", "x"), ("text", "y")]


def test_unclosed_think_at_end_is_kept_as_thinking() -> None:
    events = feed_all([delta(content="<think>still thinking </th"), finish("length")])
    content = accumulate(events)["content"]
    assert content[0]["type"] == "thinking" and content[0]["thinking"] == "still thinking </th"
