"""Hostile and broken requests: always a 4xx (or a 200 for valid ones), never a 5xx, never a crash.

Property tests drive a bridge running in a background thread with raw sockets, so that any bytes, header
or query string can be sent. Body limits, the token check and the bind rule are tested directly.
"""

from __future__ import annotations

import ast
import asyncio
import gzip
import inspect
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from ccb.cli.app import app
from ccb.cli.errors import CcbError
from ccb.proxy import server
from tests.reliability.conftest import RigFactory
from tests.reliability.helpers import (
    FUZZ,
    TOKEN,
    ThreadBridge,
    ask,
    assert_not_a_server_error,
    exchange,
    json_values,
    maybe,
)

AUTH = [("x-api-key", TOKEN), ("Content-Type", "application/json")]


# ---------------------------------------------------------------------------------------- strategies

BLOCK_TYPES = [
    "text",
    "image",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "document",
    "server_tool_use",
    "web_search_tool_result",
    "search_result",
    "container_upload",
    "mystery",
]
blocks = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(BLOCK_TYPES))},
    optional={
        "text": maybe(st.text(max_size=30)),
        "id": maybe(st.text(max_size=12)),
        "name": maybe(st.text(max_size=12)),
        "input": maybe(st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
        "tool_use_id": maybe(st.text(max_size=12)),
        "content": maybe(st.text(max_size=20)),
        "is_error": json_values,
        "thinking": maybe(st.text(max_size=20)),
        "signature": json_values,
        "source": maybe(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["base64", "url", "text"])},
                optional={"media_type": json_values, "data": json_values, "url": json_values},
            )
        ),
        "cache_control": json_values,
        "citations": json_values,
    },
)
messages = st.fixed_dictionaries(
    {
        "role": maybe(st.sampled_from(["user", "assistant", "system"])),
        "content": maybe(st.one_of(st.text(max_size=30), st.lists(blocks, max_size=4))),
    },
    optional={"name": json_values},
)
tools = st.fixed_dictionaries(
    {"name": maybe(st.text(max_size=70))},
    optional={
        "description": json_values,
        "type": json_values,
        "cache_control": json_values,
        "input_schema": maybe(
            st.fixed_dictionaries(
                {"type": st.just("object")},
                optional={"properties": json_values, "required": json_values, "$schema": json_values},
            )
        ),
    },
)
messages_bodies = st.fixed_dictionaries(
    {"model": maybe(st.text(min_size=1, max_size=30)), "messages": maybe(st.lists(messages, max_size=4))},
    optional={
        "max_tokens": maybe(st.integers(min_value=-5, max_value=10**9)),
        "system": maybe(st.one_of(st.text(max_size=20), st.lists(blocks, max_size=2))),
        "tools": maybe(st.lists(tools, max_size=3)),
        "tool_choice": maybe(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["auto", "any", "tool", "none", "x"])},
                optional={"name": json_values, "disable_parallel_tool_use": json_values},
            )
        ),
        "stream": maybe(st.booleans()),
        "thinking": maybe(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["enabled", "disabled", "adaptive"])}, optional={"budget_tokens": json_values}
            )
        ),
        "temperature": json_values,
        "top_p": json_values,
        "top_k": json_values,
        "stop_sequences": maybe(st.lists(st.text(max_size=5), max_size=3)),
        "metadata": json_values,
        "output_config": json_values,
        "context_management": json_values,
        "service_tier": json_values,
    },
)
# Bodies that pass the top-level checks, with wrong types further down: these reach the translator.
valid_blocks = st.builds(lambda kind, rest: {**rest, "type": kind}, st.sampled_from(BLOCK_TYPES), blocks)
passing_bodies = st.builds(
    lambda extra, msgs, tools_, stream: {
        **extra,
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": msgs,
        "stream": stream,
        **tools_,
    },
    messages_bodies.map(
        lambda b: {
            k: v
            for k, v in b.items()
            if k not in ("model", "messages", "max_tokens", "system", "tools", "temperature", "top_p", "stop_sequences")
        }
    ),
    st.lists(
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["user", "assistant", "system"]),
                "content": st.one_of(st.text(max_size=30), st.lists(valid_blocks, max_size=4)),
            }
        ),
        min_size=1,
        max_size=4,
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "tools": st.lists(tools.map(lambda t: {**t, "name": str(t["name"])}), max_size=3),
            "system": st.one_of(st.text(max_size=20), st.lists(valid_blocks, max_size=2)),
        },
    ),
    st.booleans(),
)
ROUTES = ["/v1/messages", "/v1/messages/count_tokens"]


# ------------------------------------------------------------------------------------------ fuzzing


@FUZZ
@given(body=json_values, path=st.sampled_from(ROUTES))
def test_any_json_body_is_answered_without_a_server_error(bridge: ThreadBridge, body: Any, path: str) -> None:
    answer = exchange(bridge.port, "POST", path, AUTH, json.dumps(body).encode())
    assert_not_a_server_error(answer)
    if not isinstance(body, dict):
        assert answer.status == 400


@FUZZ
@given(body=messages_bodies, path=st.sampled_from(ROUTES))
def test_messages_shaped_bodies_with_wrong_types_never_get_a_server_error(
    bridge: ThreadBridge, body: Any, path: str
) -> None:
    answer = exchange(bridge.port, "POST", path, AUTH, json.dumps(body).encode())
    assert_not_a_server_error(answer)
    assert answer.status in (200, 400), answer.body[:300]


@FUZZ
@given(body=passing_bodies, path=st.sampled_from(ROUTES))
def test_bodies_that_pass_validation_reach_the_translator_safely(bridge: ThreadBridge, body: Any, path: str) -> None:
    answer = exchange(bridge.port, "POST", path, AUTH, json.dumps(body).encode())
    assert_not_a_server_error(answer)
    assert answer.status in (200, 400), answer.body[:300]
    if answer.status == 400:
        event(answer.error()["error"]["message"][:60])


# Well-formed by construction: every one is served (200), on both routes, streamed or not.
_plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
_texts = st.text(min_size=1, max_size=20).map(lambda t: t.rstrip() or "x")  # a prefill may not end in a space
_ok_text = st.builds(lambda t: {"type": "text", "text": t}, _texts)
_ok_image = st.sampled_from(
    [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    ]
)
_ok_search = st.builds(
    lambda s, t, c: {"type": "search_result", "source": s, "title": t, "content": [{"type": "text", "text": c}]},
    _texts,
    _texts,
    _texts,
)
_ok_document = st.one_of(
    st.builds(
        lambda title, data: {
            "type": "document",
            "title": title,
            "source": {"type": "text", "media_type": "text/plain", "data": data},
        },
        st.none() | _texts,
        _texts,
    ),
    st.just({"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}),
    st.builds(
        lambda t: {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": t}]}}, _texts
    ),
)
_ok_result = st.builds(
    lambda i, c, e: {"type": "tool_result", "tool_use_id": i, "content": c, "is_error": e},
    st.sampled_from(["toolu_1", "toolu_2"]),
    st.one_of(_texts, st.lists(st.one_of(_ok_text, _ok_search, _ok_image), max_size=3)),
    st.booleans(),
)
_ok_call = st.builds(
    lambda i, n, a: {"type": "tool_use", "id": i, "name": n, "input": a},
    st.sampled_from(["toolu_1", "toolu_2"]),
    st.sampled_from(["Bash", "Read"]),
    st.dictionaries(st.text(max_size=6), _plain_json, max_size=3),
)
_ok_thinking = st.builds(lambda t: {"type": "thinking", "thinking": t, "signature": "sig"}, _texts)
_ok_other = st.sampled_from(
    [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_fetch", "input": {}},
        {"type": "a_newer_block", "anything": [1]},
    ]
)
_ok_messages = st.lists(
    st.one_of(
        st.builds(
            lambda c: {"role": "user", "content": c},
            st.one_of(
                _texts,
                st.lists(
                    st.one_of(_ok_text, _ok_image, _ok_search, _ok_document, _ok_result, _ok_other),
                    min_size=1,
                    max_size=4,
                ),
            ),
        ),
        st.builds(
            lambda c: {"role": "assistant", "content": c},
            st.one_of(_texts, st.lists(st.one_of(_ok_text, _ok_thinking, _ok_call, _ok_other), min_size=1, max_size=3)),
        ),
        st.builds(lambda c: {"role": "system", "content": c}, _texts),
    ),
    min_size=1,
    max_size=5,
)
_ok_tools = st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True), unique=True, max_size=3).map(
    lambda names: [
        {
            "name": n,
            "description": "does " + n,
            "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}},
        }
        for n in names
    ]
)
well_formed = st.builds(
    lambda required, optional: {**required, **optional},
    st.fixed_dictionaries({"model": _texts, "max_tokens": st.integers(1, 4096), "messages": _ok_messages}),
    st.fixed_dictionaries(
        {},
        optional={
            "system": st.one_of(st.text(max_size=20), st.lists(_ok_text, max_size=2)),
            "stream": st.booleans(),
            "temperature": st.floats(0, 1),
            "top_p": st.floats(0, 1),
            "top_k": st.integers(0, 500),
            "stop_sequences": st.lists(_texts, max_size=3),
            "metadata": st.builds(lambda u: {"user_id": u}, _texts),
            "tools": _ok_tools,
            "tool_choice": st.sampled_from(
                [
                    {"type": "auto"},
                    {"type": "any"},
                    {"type": "none"},
                    {"type": "auto", "disable_parallel_tool_use": True},
                ]
            ),
            "thinking": st.sampled_from(
                [{"type": "adaptive"}, {"type": "disabled"}, {"type": "enabled", "budget_tokens": 2048}]
            ),
            "output_config": st.sampled_from([{"effort": "high"}, {"effort": "low"}, {}]),
            "a_future_field": _plain_json,
        },
    ),
)


@FUZZ
@given(body=well_formed, path=st.sampled_from(ROUTES))
def test_every_well_formed_request_is_served(bridge: ThreadBridge, body: Any, path: str) -> None:
    answer = exchange(bridge.port, "POST", path, AUTH, json.dumps(body).encode())
    assert answer.status == 200, answer.body[:500]


def _set(field: str, values: list[Any], message: str) -> Any:
    return st.tuples(st.just(field), st.sampled_from(values), st.just(message))


# One fault put into a well-formed body: always a 400 whose message names exactly that field.
_BAD_TEXT = [1, None, [], {}, True]
_faults = st.one_of(
    _set("model", [5, "", None, [], True], "model: expected a non-empty string"),
    _set("max_tokens", ["10", 0, -3, 1.5, True, [1]], "max_tokens: expected a positive integer"),
    _set("system", [3, {}, True], "system: expected a string or an array of text blocks"),
    _set("stream", ["yes", 1, {}], "stream: expected a boolean"),
    _set("temperature", [2, -0.1, "hot", [0.5]], "temperature: expected a number from 0 to 1"),
    _set("stop_sequences", [[1], [None]], "stop_sequences.0: expected a string"),
    _set("tools", [{}, "Bash", 3], "tools: expected an array of tools"),
    _set(
        "tool_choice",
        [{"type": "sometimes"}, {"type": None}, {}],
        "tool_choice.type: expected one of 'auto', 'any', 'tool', 'none'",
    ),
    _set("thinking", [{"type": "enabled"}], "thinking.budget_tokens: field required"),
    _set("messages", [{}, "hi", 3], "messages: expected an array of messages"),
)


@FUZZ
@given(body=well_formed, path=st.sampled_from(ROUTES), fault=_faults, data=st.data())
def test_every_malformed_request_is_a_400_naming_its_field(
    bridge: ThreadBridge, body: Any, path: str, fault: tuple[str, Any, str], data: st.DataObject
) -> None:
    field, value, message = fault
    i = data.draw(st.integers(0, len(body["messages"]) - 1))
    where = data.draw(st.sampled_from(["top", "role", "content", "block"]))
    if where == "role":
        body["messages"][i]["role"] = data.draw(st.sampled_from(["bot", None, 1, "tool"]))
        message = f"messages.{i}.role: expected 'user' or 'assistant'"
    elif where == "content":
        body["messages"][i]["content"] = data.draw(st.sampled_from([5, None, {}, True]))
        message = f"messages.{i}.content: expected a string or an array of content blocks"
    elif where == "block":
        content = body["messages"][i]["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        blocks.append({"type": "text", "text": data.draw(st.sampled_from(_BAD_TEXT))})
        body["messages"][i]["content"] = blocks
        message = f"messages.{i}.content.{len(blocks) - 1}.text: expected a string"
    else:
        body[field] = value
    answer = exchange(bridge.port, "POST", path, AUTH, json.dumps(body).encode())
    assert answer.status == 400, answer.body[:300]
    assert answer.error()["error"] == {"type": "invalid_request_error", "message": message}


LONE = "\udc80"
SURROGATE_BODIES = {
    "model": {**ask(stream=False), "model": "m" + LONE},
    "content": ask("a" + LONE, stream=False),
    "stream": ask("a" + LONE + "\ud800", stream=True),
    "system": {**ask(stream=False), "system": [{"type": "text", "text": LONE}]},
    "tool": {
        **ask(stream=False),
        "tools": [{"name": "T", "input_schema": {"type": "object", "properties": {LONE: {}}}}],
    },
}


@pytest.mark.parametrize("where", SURROGATE_BODIES)
@pytest.mark.parametrize("path", ROUTES)
def test_lone_surrogates_are_replaced_not_a_crash(bridge: ThreadBridge, where: str, path: str) -> None:
    """JSON escapes of lone UTF-16 surrogates are valid JSON (JavaScript strings hold them) but not UTF-8."""
    body = json.dumps(SURROGATE_BODIES[where]).encode()  # ensure_ascii: the surrogate travels as \udc80
    assert b"\\udc80" in body
    answer = exchange(bridge.port, "POST", path, AUTH, body)
    assert answer.status == 200, answer.body[:300]
    if where == "content" and path == "/v1/messages":
        assert json.loads(answer.body)["content"][0]["text"] == "echo: a\ufffd"


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_as_body(bridge: ThreadBridge, raw: bytes) -> None:
    answer = exchange(bridge.port, "POST", "/v1/messages", AUTH, raw)
    assert answer.status == 400 or (answer.status == 200 and raw.strip().startswith(b"{")), answer.body[:300]


FRAMING = {
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "content-encoding",
    "expect",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
}
header_names = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~", min_size=1, max_size=24
).filter(lambda n: n.lower() not in FRAMING)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
headers_lists = st.lists(
    st.tuples(
        st.one_of(
            header_names,
            st.sampled_from(
                [
                    "x-api-key",
                    "Authorization",
                    "Content-Type",
                    "anthropic-version",
                    "anthropic-beta",
                    "Accept",
                    "Accept-Encoding",
                    "x-stainless-retry-count",
                    "Cookie",
                ]
            ),
        ),
        header_values,
    ),
    max_size=8,
)


@FUZZ
@given(extra=headers_lists, stream=st.booleans())
def test_random_headers_never_cause_a_server_error(
    bridge: ThreadBridge, extra: list[tuple[str, str]], stream: bool
) -> None:
    answer = exchange(bridge.port, "POST", "/v1/messages", [*AUTH, *extra], json.dumps(ask(stream=stream)).encode())
    assert_not_a_server_error(answer)
    assert answer.status in (200, 400, 401)


@FUZZ
@given(query=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=60))
def test_query_strings_are_ignored(bridge: ThreadBridge, query: str) -> None:
    answer = exchange(bridge.port, "POST", "/v1/messages?" + query, AUTH, json.dumps(ask(stream=False)).encode())
    assert answer.status in (200, 400), answer.body[:300]  # 400: a target the HTTP parser itself refuses
    if answer.status == 200:
        assert b"echo: hi" in answer.body


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#?"), max_size=40),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["x-api-key", "Authorization"]),
            st.one_of(
                header_values,
                st.just("Bearer "),
                st.just("Bearer " + TOKEN[:-1]),
                st.just(TOKEN + "x"),
                st.just(TOKEN.upper()),
            ),
        ),
        max_size=2,
    ),
)
def test_without_the_token_only_public_routes_answer(
    bridge: ThreadBridge, method: str, path: str, headers: list[tuple[str, str]]
) -> None:
    target = "/" + path
    answer = exchange(bridge.port, method, target, headers, json.dumps(ask(stream=False)).encode())
    assert_not_a_server_error(answer)
    if answer.status < 400:
        # Only "/" and "/health" (after %-decoding) answer without the token, and only to GET and HEAD.
        assert method in ("GET", "HEAD")
        assert answer.body in (b"", b"ccb bridge is running\n") or json.loads(answer.body)["status"] == "ok"
    elif answer.status == 401 and method != "HEAD":
        assert answer.error()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("route", ["/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/v1/nothing"])
@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("x-api-key", "")],
        [("x-api-key", "wrong")],
        [("Authorization", "Bearer wrong")],
        [("Authorization", "Bearer ")],
        [("Authorization", TOKEN)],
        [("x-api-key", TOKEN + "x")],
        [("x-api-key", TOKEN[:-1])],
        [("Authorization", "Basic " + TOKEN)],
        [("x-api-key", "é" * 5)],
        [("x-api-key", "wrong"), ("Authorization", "Bearer " + TOKEN)],
    ],
    ids=lambda h: repr(h)[:40],
)
def test_missing_or_wrong_token_is_401(bridge: ThreadBridge, route: str, headers: list[tuple[str, str]]) -> None:
    answer = exchange(
        bridge.port,
        "POST" if "messages" in route else "GET",
        route,
        [*headers, ("Content-Type", "application/json")],
        json.dumps(ask()).encode(),
    )
    assert answer.status == 401
    assert answer.error()["error"]["type"] == "authentication_error"


def test_token_comparison_is_constant_time() -> None:
    """By inspection: the guard compares with hmac.compare_digest and never with == or !=."""
    tree = ast.parse(inspect.getsource(server._guard))
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "compare_digest"
        and getattr(n.func.value, "id", None) == "hmac"
    ]
    assert len(calls) == 1
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            names = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "") for n in ast.walk(node)}
            assert not names & {"auth_token", "given"}, ast.unparse(node)


# ---------------------------------------------------------------------------------------- body limits

LIMIT = 64 * 1024


async def _send_and_read(port: int, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Send `head`, then `chunks` until the bridge answers; return the answer and the bytes sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0

    async def feed() -> None:
        nonlocal sent
        writer.write(head)
        for chunk in chunks:
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()
            await asyncio.sleep(0)

    feeder = asyncio.create_task(feed())
    try:
        async with asyncio.timeout(20):  # hang guard
            answer = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1] for line in answer.split(b"\r\n") if line.lower().startswith(b"content-length")
                )
            )
            answer += await reader.readexactly(length)
    finally:
        feeder.cancel()
        try:
            await feeder
        except (asyncio.CancelledError, ConnectionError):
            pass
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return answer, sent


def _head(path: str, *headers: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"x-api-key: {TOKEN}",
        "Content-Type: application/json",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _endless(size: int, total: int, chunked: bool) -> Iterator[bytes]:
    yield (
        (f"{size:x}\r\n".encode() if chunked else b"")
        + b'{"model": "m", "x": "'
        + b"a" * (size - 21)
        + (b"\r\n" if chunked else b"")
    )
    for _ in range(total // size):
        piece = b"a" * size
        yield f"{size:x}\r\n".encode() + piece + b"\r\n" if chunked else piece


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_declared_oversize_body_is_413_before_it_is_sent(faulty_rig: RigFactory, path: str) -> None:
    rig = await faulty_rig(max_body=LIMIT)
    # Claims 1 GiB, sends 1 KiB and then nothing: the answer must not wait for the rest.
    head = _head(path, f"Content-Length: {2**30}")
    answer, sent = await _send_and_read(rig.bridge.port, head, iter([b"{" + b" " * 1023]))
    assert answer.startswith(b"HTTP/1.1 413")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["type"] == "request_too_large"
    assert sent == 1024
    assert rig.engine.received == 0


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_chunked_oversize_body_is_cut_off_at_the_limit(faulty_rig: RigFactory, path: str) -> None:
    rig = await faulty_rig(max_body=LIMIT)
    rss_before = psutil.Process().memory_info().rss
    head = _head(path, "Transfer-Encoding: chunked")
    answer, sent = await _send_and_read(rig.bridge.port, head, _endless(16 * 1024, 256 * 2**20, chunked=True))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["type"] == "request_too_large"
    # The bridge stopped long before the 256 MiB the client was ready to send, and never held them.
    assert sent < 64 * 2**20
    assert psutil.Process().memory_info().rss - rss_before < 64 * 2**20
    assert rig.engine.received == 0


async def test_compressed_body_is_limited_after_decompression(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig(max_body=LIMIT)
    bomb = gzip.compress(b'{"model": "m", "x": "' + b"a" * 64 * 2**20 + b'"}', compresslevel=9)  # ~64 KiB
    assert len(bomb) < LIMIT
    rss_before = psutil.Process().memory_info().rss
    head = _head("/v1/messages", "Content-Encoding: gzip", f"Content-Length: {len(bomb)}")
    answer, _ = await _send_and_read(rig.bridge.port, head, iter([bomb]))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert psutil.Process().memory_info().rss - rss_before < 48 * 2**20


@pytest.mark.parametrize(
    "headers",
    [
        ["Content-Encoding: gzip", "Content-Length: 12"],
        ["Content-Length: 5", "Content-Length: 7"],
        ["Content-Length: -1"],
        ["Content-Length: 12", "Transfer-Encoding: chunked"],
        ["Transfer-Encoding: gzip"],
        ["X-Huge: " + "a" * 20000, "Content-Length: 12"],
    ],
    ids=["bad-gzip", "two-lengths", "negative-length", "length-and-chunked", "unknown-coding", "huge-header"],
)
def test_broken_framing_is_a_4xx(bridge: ThreadBridge, headers: list[str]) -> None:
    lines = ["POST /v1/messages HTTP/1.1", "Host: 127.0.0.1", f"x-api-key: {TOKEN}", "Connection: close", *headers]
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"not a body!!")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    assert 400 <= status < 500, data[:300]


# ------------------------------------------------------------------------------------------- binding


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.20", "my-laptop.local", "::ffff:127.0.0.1"])
def test_non_loopback_bind_without_a_token_is_refused(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.delenv("CCB_AUTH_TOKEN", raising=False)
    result = CliRunner().invoke(
        app,
        [
            "serve",
            "--host",
            host,
            "--upstream",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--engine",
            "vllm",
            "--context-length",
            "4096",
            "--port",
            "0",
        ],
    )
    assert isinstance(result.exception, CcbError), result.output
    assert f"refusing to listen on {host} without --auth-token" in result.exception.message


def test_ccb_serve_on_all_interfaces_without_a_token_exits_1() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CCB_AUTH_TOKEN"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ccb.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--upstream",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--engine",
            "vllm",
            "--port",
            "0",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "refusing to listen on 0.0.0.0 without --auth-token" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
