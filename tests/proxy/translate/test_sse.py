"""The SSE codec: the encoder's delta template is byte-for-byte the general JSON encoding, and the
decoders give the same payloads (and event names) however the bytes are split (property tests)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccb.proxy.translate.sse import DONE, EventDecoder, ServerSentEvent, SSEDecoder, encode

# Any code point, lone surrogates included: those must fail the same way on both paths.
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=40)
DELTAS = [
    ("text_delta", "text"),
    ("thinking_delta", "thinking"),
    ("input_json_delta", "partial_json"),
    ("signature_delta", "signature"),
]


def general(event: str, data: dict[str, Any]) -> bytes:
    return (
        b"event: "
        + event.encode()
        + b"\ndata: "
        + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        + b"\n\n"
    )


def same_or_same_error(event: str, data: dict[str, Any]) -> None:
    try:
        expected = general(event, data)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            encode(event, data)
        return
    assert encode(event, data) == expected


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT, index=st.integers(min_value=-5, max_value=10**20), kind=st.sampled_from(DELTAS))
def test_delta_template_is_the_general_encoding(text: str, index: int, kind: tuple[str, str]) -> None:
    delta_type, field = kind
    same_or_same_error(
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": delta_type, field: text}},
    )


@pytest.mark.parametrize(
    "data",
    [
        {"index": 0, "type": "content_block_delta", "delta": {"type": "text_delta", "text": "key order"}},
        {"type": "content_block_delta", "index": 0, "delta": {"text": "inner order", "type": "text_delta"}},
        {"type": "content_block_delta", "index": True, "delta": {"type": "text_delta", "text": "bool index"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 5}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x", "more": 1}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {}}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "thinking": "wrong field"},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": 7, "text": "odd type"}},
        {"type": "something_else", "index": 0, "delta": {"type": "text_delta", "text": "odd event type"}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "x"},
            "extra": None,
        },
    ],
)
def test_other_shapes_take_the_general_path(data: dict[str, Any]) -> None:
    same_or_same_error("content_block_delta", data)


def test_other_events_are_unchanged() -> None:
    data = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 3},
    }
    assert encode("message_delta", data) == general("message_delta", data)


LINES = st.sampled_from(
    [
        b'data: {"a": "\xc3\xa9\xe2\x86\x92"}',
        b"data:x",
        b"",
        b": ping",
        b"event: foo",
        b"event:bar",
        b"event: message_start",
        b"data:  two spaces",
        b"data: \xff\xfe not utf-8",
        b"data: [DONE]",
        b"id: 3",
        b"data:",
        b"retry: 10",
        b"data: \xe2\x82",
        b"data: \xf0\x9f\x98\x80",
        b"data: a\rb",
    ]
)


def reference(raw: bytes) -> list[ServerSentEvent]:
    """The decoders' rules written out plainly: LF or CRLF lines, `data` lines joined, an `event` line names
    the event, a blank line ends it (and forgets its name)."""
    out: list[ServerSentEvent] = []
    data: list[str] = []
    name = ""
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        line = line.rstrip(b"\r") if last else (line[:-1] if line.endswith(b"\r") else line)
        if not line:
            if data:
                out.append(ServerSentEvent(name or "message", "\n".join(data)))
                data = []
            name = ""
        elif line.startswith(b"data:"):
            value = line[5:]
            data.append((value[1:] if value.startswith(b" ") else value).decode("utf-8", "replace"))
        elif line.startswith(b"event:"):
            value = line[6:]
            name = (value[1:] if value.startswith(b" ") else value).decode("utf-8", "replace")
    if data:
        out.append(ServerSentEvent(name or "message", "\n".join(data)))
    return out


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.tuples(LINES, st.sampled_from([b"\n", b"\r\n"])), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    tail=st.booleans(),
)
def test_decoders_ignore_how_bytes_are_split(lines: list[tuple[bytes, bytes]], cuts: list[int], tail: bool) -> None:
    raw = b"".join(line + end for line, end in lines)
    if tail:
        raw = raw.rstrip(b"\r\n")  # a last event without its blank line (or even its newline)
    points = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    decoder, events = SSEDecoder(), EventDecoder()
    got: list[str] = []
    got_events: list[ServerSentEvent] = []
    for a, b in itertools.pairwise(points):
        got += decoder.feed(raw[a:b])
        got_events += events.feed(raw[a:b])
    got += decoder.flush()
    got_events += events.flush()
    assert got_events == reference(raw)
    assert got == [event.data for event in got_events]


def test_done_is_a_payload_like_any_other() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: {}\n\ndata: [DONE]\n\n") == ["{}", DONE]


def test_event_decoder_reads_back_what_the_encoder_writes() -> None:
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "é\n→"}}
    raw = encode("content_block_delta", delta) + b": ping\n\n" + encode("message_stop", {"type": "message_stop"})
    assert EventDecoder().feed(raw) == [
        ("content_block_delta", json.dumps(delta, ensure_ascii=False, separators=(",", ":"))),
        ("message_stop", '{"type":"message_stop"}'),
    ]


def test_an_event_without_a_name_is_a_message_and_a_name_lasts_one_event() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: 1\n\nevent: ping\n\ndata: 2\n\n") == [("message", "1"), ("message", "2")]
