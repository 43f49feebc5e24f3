"""Strict validation through the official SDK: a malformed request is a 400 naming the field path and what was
expected, on both routes; a well-formed request of every block kind is served; deep nesting is a 400, not a 500."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anthropic
import pytest

from ccb.proxy.translate.validate import MAX_DEPTH, RequestError, validate
from tests.proxy.conftest import TOKEN, Rig

HI = [{"role": "user", "content": "hi"}]
TEXT = {"type": "text", "text": "x"}
CALL = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]}
BASH = {"name": "Bash", "description": "Run", "input_schema": {"type": "object", "properties": {}}}


def nested(depth: int) -> Any:
    value: Any = {"type": "string"}
    for _ in range(depth - 1):
        value = {"type": "object", "properties": {"p": value}}
    return value


# (what is wrong, fields to set on a valid request, the whole error message)
MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("model type", {"model": 5}, "model: expected a non-empty string"),
    ("model empty", {"model": ""}, "model: expected a non-empty string"),
    ("messages type", {"messages": {"role": "user"}}, "messages: expected an array of messages"),
    ("messages empty", {"messages": []}, "messages: expected at least one message"),
    ("message type", {"messages": ["hi"]}, "messages.0: expected an object"),
    ("role", {"messages": [{"role": "bot", "content": "x"}]}, "messages.0.role: expected 'user' or 'assistant'"),
    ("role missing", {"messages": [{"content": "x"}]}, "messages.0.role: field required"),
    ("content missing", {"messages": [{"role": "user"}]}, "messages.0.content: field required"),
    (
        "content type",
        {"messages": [{"role": "user", "content": 5}]},
        "messages.0.content: expected a string or an array of content blocks",
    ),
    (
        "block type missing",
        {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
        "messages.0.content.0.type: field required (a string naming the block type)",
    ),
    (
        "text not a string",
        {
            "messages": [
                *HI,
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [TEXT, {"type": "text", "text": 3}]},
            ]
        },
        "messages.2.content.1.text: expected a string",
    ),
    (
        "text missing",
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
        "messages.0.content.0.text: field required",
    ),
    (
        "image source",
        {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "png"}}]}]},
        "messages.0.content.0.source.type: expected one of 'base64', 'url', 'file'",
    ),
    (
        "image data",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": None}}
                    ],
                }
            ]
        },
        "messages.0.content.0.source.data: expected a string",
    ),
    (
        "document source missing",
        {"messages": [{"role": "user", "content": [{"type": "document"}]}]},
        "messages.0.content.0.source: field required",
    ),
    (
        "document title",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "title": 1,
                            "source": {"type": "text", "media_type": "text/plain", "data": "d"},
                        }
                    ],
                }
            ]
        },
        "messages.0.content.0.title: expected a string",
    ),
    (
        "search result content",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "search_result", "source": "s", "title": "t", "content": "plain"}],
                }
            ]
        },
        "messages.0.content.0.content: expected an array of text blocks",
    ),
    (
        "tool_use input",
        {
            "messages": [
                *HI,
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": "ls"}],
                },
            ]
        },
        "messages.1.content.0.input: expected an object",
    ),
    (
        "tool_use id",
        {"messages": [*HI, {"role": "assistant", "content": [{"type": "tool_use", "name": "Bash", "input": {}}]}]},
        "messages.1.content.0.id: field required",
    ),
    (
        "tool_result id",
        {
            "messages": [
                *HI,
                CALL,
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": 1, "content": "ok"}]},
            ]
        },
        "messages.2.content.0.tool_use_id: expected a string",
    ),
    (
        "tool_result content",
        {
            "messages": [
                *HI,
                CALL,
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": None}]}
                    ],
                },
            ]
        },
        "messages.2.content.0.content.0.text: expected a string",
    ),
    (
        "tool_result is_error",
        {
            "messages": [
                *HI,
                CALL,
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok", "is_error": "yes"}],
                },
            ]
        },
        "messages.2.content.0.is_error: expected a boolean",
    ),
    (
        "thinking",
        {"messages": [*HI, {"role": "assistant", "content": [{"type": "thinking", "signature": "s"}]}]},
        "messages.1.content.0.thinking: field required",
    ),
    (
        "cache_control",
        {"messages": [{"role": "user", "content": [{**TEXT, "cache_control": "ephemeral"}]}]},
        "messages.0.content.0.cache_control: expected an object",
    ),
    (
        "prefill trailing space",
        {"messages": [*HI, {"role": "assistant", "content": "Sure, "}]},
        "messages.1: final assistant content cannot end with trailing whitespace",
    ),
    (
        "prefill block trailing newline",
        {"messages": [*HI, {"role": "assistant", "content": [{"type": "text", "text": "Here:\n"}]}]},
        "messages.1: final assistant content cannot end with trailing whitespace",
    ),
    ("max_tokens type", {"max_tokens": "10"}, "max_tokens: expected a positive integer"),
    ("container", {"container": 5}, "container: expected a string or an object"),
    ("mcp_servers", {"mcp_servers": {"url": "x"}}, "mcp_servers: expected an array of objects"),
    ("mcp_server", {"mcp_servers": ["x"]}, "mcp_servers.0: expected an object"),
    ("cache_control", {"cache_control": "ephemeral"}, "cache_control: expected an object"),
    ("context_management", {"context_management": []}, "context_management: expected an object"),
    ("max_tokens zero", {"max_tokens": 0}, "max_tokens: expected a positive integer"),
    ("max_tokens bool", {"max_tokens": True}, "max_tokens: expected a positive integer"),
    ("system type", {"system": 3}, "system: expected a string or an array of text blocks"),
    ("system block", {"system": [{"type": "image", "text": "x"}]}, "system.0.type: expected 'text'"),
    ("system text", {"system": [{"type": "text", "text": ["x"]}]}, "system.0.text: expected a string"),
    ("stream", {"stream": "yes"}, "stream: expected a boolean"),
    ("temperature type", {"temperature": "hot"}, "temperature: expected a number from 0 to 1"),
    ("temperature range", {"temperature": 1.5}, "temperature: expected a number from 0 to 1"),
    ("top_p", {"top_p": [1]}, "top_p: expected a number from 0 to 1"),
    ("top_k", {"top_k": 2.5}, "top_k: expected a non-negative integer"),
    ("stop_sequences", {"stop_sequences": "END"}, "stop_sequences: expected an array of strings"),
    ("stop_sequence item", {"stop_sequences": ["END", 4]}, "stop_sequences.1: expected a string"),
    ("metadata", {"metadata": "me"}, "metadata: expected an object"),
    ("metadata user_id", {"metadata": {"user_id": 42}}, "metadata.user_id: expected a string"),
    ("tools type", {"tools": {"Bash": {}}}, "tools: expected an array of tools"),
    ("tool type", {"tools": ["Bash"]}, "tools.0: expected an object"),
    ("tool name", {"tools": [{"input_schema": {"type": "object"}}]}, "tools.0.name: field required"),
    ("tool name type", {"tools": [{**BASH, "name": 7}]}, "tools.0.name: expected a non-empty string"),
    ("tool names unique", {"tools": [BASH, BASH]}, "tools.1.name: tool names must be unique ('Bash' is given twice)"),
    ("tool schema missing", {"tools": [{"name": "Bash"}]}, "tools.0.input_schema: field required"),
    ("tool schema type", {"tools": [{**BASH, "input_schema": "{}"}]}, "tools.0.input_schema: expected an object"),
    (
        "tool schema not object",
        {"tools": [{**BASH, "input_schema": {"type": "array"}}]},
        "tools.0.input_schema.type: expected 'object'",
    ),
    ("tool description", {"tools": [{**BASH, "description": ["Run"]}]}, "tools.0.description: expected a string"),
    ("tool_choice type", {"tool_choice": "auto"}, "tool_choice: expected an object"),
    (
        "tool_choice kind",
        {"tool_choice": {"type": "sometimes"}},
        "tool_choice.type: expected one of 'auto', 'any', 'tool', 'none'",
    ),
    ("tool_choice name", {"tools": [BASH], "tool_choice": {"type": "tool"}}, "tool_choice.name: field required"),
    (
        "tool_choice parallel",
        {"tool_choice": {"type": "auto", "disable_parallel_tool_use": "no"}},
        "tool_choice.disable_parallel_tool_use: expected a boolean",
    ),
    ("thinking type", {"thinking": True}, "thinking: expected an object"),
    (
        "thinking kind",
        {"thinking": {"type": "deep"}},
        "thinking.type: expected one of 'enabled', 'disabled', 'adaptive'",
    ),
    ("thinking budget", {"thinking": {"type": "enabled"}}, "thinking.budget_tokens: field required"),
    (
        "thinking budget type",
        {"thinking": {"type": "enabled", "budget_tokens": "lots"}},
        "thinking.budget_tokens: expected an integer",
    ),
    ("output_config", {"output_config": []}, "output_config: expected an object"),
    ("effort", {"output_config": {"effort": 3}}, "output_config.effort: expected a string"),
    (
        "output format",
        {"output_config": {"format": {"type": "json_schema", "schema": "{}"}}},
        "output_config.format.schema: expected a JSON schema object",
    ),
    ("beta output format", {"output_format": {"type": "xml"}}, "output_format.type: expected 'json_schema'"),
    (
        "deep tool schema",
        {"tools": [{**BASH, "input_schema": nested(MAX_DEPTH + 1)}]},
        f"tools.0.input_schema: nested deeper than {MAX_DEPTH} levels",
    ),
]


@pytest.mark.parametrize("route", ["messages", "count_tokens"])
@pytest.mark.parametrize(("name", "fields", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_malformed_requests_are_400_naming_the_field(
    rig: Rig, route: str, name: str, fields: dict[str, Any], message: str
) -> None:
    body: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": HI, **fields}
    client = rig.client()
    # Every field goes as sent (extra_body): the SDK's own arguments would refuse some shapes before sending.
    with pytest.raises(anthropic.BadRequestError) as info:
        if route == "messages":
            await client.messages.create(model="m", max_tokens=1, messages=[], extra_body=body)
        else:
            if "max_tokens" not in fields:
                body.pop("max_tokens")
            await client.messages.count_tokens(model="m", messages=[], extra_body=body)
    error: Any = info.value.body
    assert error["type"] == "error" and error["error"] == {"type": "invalid_request_error", "message": message}
    assert error["request_id"] == info.value.request_id
    assert rig.engine.requests == []


WELL_FORMED: dict[str, Any] = {
    "model": "claude-opus-4-8",
    "max_tokens": 1000,
    "stream": False,
    "temperature": 1,
    "top_p": 0.9,
    "top_k": 40,
    "stop_sequences": ["END"],
    "metadata": {"user_id": "u-1"},
    "service_tier": "auto",
    "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "output_config": {"effort": "high"},
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "tools": [BASH, {"type": "bash_20250124", "name": "bash"}, {"type": "web_fetch_20250910", "name": "web_fetch"}],
    "context_management": {"edits": []},
    "future_field": {"anything": [1, 2]},
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look", "citations": None},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {
                    "type": "document",
                    "title": None,
                    "context": "c",
                    "source": {"type": "text", "media_type": "text/plain", "data": "d"},
                },
                {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
                {"type": "search_result", "source": "https://x", "title": "t", "content": [TEXT]},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "abc"},
                {"type": "text", "text": "Running."},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls", "deep": nested(20)}},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_fetch", "input": {"url": "https://x"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "is_error": False,
                    "content": [
                        TEXT,
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
                        {"type": "search_result", "source": "s", "title": "t", "content": [TEXT]},
                        {"type": "tool_reference", "tool_name": "Bash"},
                    ],
                },
                {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_1", "content": {"type": "x"}},
                {"type": "a_block_from_the_future", "payload": 1},
            ],
        },
        {"role": "system", "content": "Agents: Explore"},
        {"role": "user", "content": "go on"},
    ],
}


async def test_a_well_formed_request_of_every_kind_is_served(rig: Rig) -> None:
    client = rig.client()
    message = await client.messages.create(model="m", max_tokens=1, messages=[], extra_body=WELL_FORMED)
    assert message.content[0].type == "text"
    count = await client.messages.count_tokens(
        model="m", messages=[], extra_body={k: v for k, v in WELL_FORMED.items() if k != "max_tokens"}
    )
    assert count.input_tokens > 0
    validate(WELL_FORMED)


@pytest.mark.parametrize("route", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("depth", [3000, 100_000])
async def test_deeply_nested_json_is_a_400(rig: Rig, route: str, depth: int) -> None:
    deep = (
        b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "metadata": '
        + b"[" * depth
        + b"]" * depth
        + b"}"
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            rig.bridge.url + route, data=deep, headers={"x-api-key": TOKEN, "Content-Type": "application/json"}
        ) as resp,
    ):
        status, data = resp.status, await resp.json()
    assert status == 400, data
    assert data["error"] == {
        "type": "invalid_request_error",
        "message": "request body: JSON nested deeper than 1024 levels",
    }


async def test_nested_tool_input_beyond_the_limit_is_a_400(rig: Rig) -> None:
    history = [
        *HI,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"a": nested(MAX_DEPTH + 5)}}],
        },
    ]
    with pytest.raises(anthropic.BadRequestError) as info:
        await rig.client().messages.create(model="m", max_tokens=10, messages=history)  # type: ignore[arg-type]
    assert info.value.body["error"]["message"] == (  # type: ignore[index]
        f"messages.1.content.0.input: nested deeper than {MAX_DEPTH} levels"
    )


def test_only_the_first_error_is_named() -> None:
    with pytest.raises(RequestError) as info:
        validate({"model": 1, "messages": 2})
    assert str(info.value) == "model: expected a non-empty string"
    json.dumps(MALFORMED)  # the table itself is plain JSON the SDK can send


async def test_every_recorded_claude_code_request_is_served(rig: Rig) -> None:
    """The wire corpus (both pinned Claude Code versions) passes the bridge's validation, end to end."""
    from tests.record_wire import FIXTURES

    records = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*/*.json"))]
    posts = [r for r in records if r["method"] == "POST" and r["path"].startswith("/v1/messages")]
    assert len(posts) >= 20
    async with aiohttp.ClientSession() as session:
        for record in posts:
            async with session.post(
                rig.bridge.url + record["path"],
                params=record["query"],
                json=record["body"],
                headers={"x-api-key": TOKEN},
            ) as resp:
                assert resp.status == 200, (record["path"], await resp.text())
                await resp.read()


@pytest.mark.parametrize("with_orjson", [True, False])
def test_the_depth_limit_is_the_same_with_and_without_orjson(
    monkeypatch: pytest.MonkeyPatch, with_orjson: bool
) -> None:
    from ccb.proxy.translate import validate as module

    if not with_orjson:
        monkeypatch.setattr(module, "orjson", None)

    def lists(depth: int) -> Any:
        value: Any = []
        for _ in range(depth - 1):
            value = [value]
        return value

    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [
            *HI,
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "T", "input": {"a": lists(MAX_DEPTH - 1)}}],
            },
        ],
    }
    validate(body)
    body["messages"][1]["content"][0]["input"] = {"a": lists(MAX_DEPTH), "big": 2**70}  # type: ignore[index]
    with pytest.raises(RequestError, match=f"messages.1.content.0.input: nested deeper than {MAX_DEPTH} levels"):
        validate(body)
