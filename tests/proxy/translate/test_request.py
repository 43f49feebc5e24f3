"""Anthropic → OpenAI request translation as pure functions, table-driven."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ccb.proxy.config import dialect_for
from ccb.proxy.translate import tools
from ccb.proxy.translate.request import RequestError, translate, validate

VLLM = dialect_for("vllm")


def tr(body: dict[str, Any], dialect: str = "vllm", stream: bool = False) -> dict[str, Any]:
    base = {"model": "claude-sonnet-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    return translate({**base, **body}, model="up", dialect=dialect_for(dialect), stream=stream).body


def msgs(body: dict[str, Any], dialect: str = "vllm") -> list[dict[str, Any]]:
    return tr(body, dialect)["messages"]


BILLING = {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=sdk-cli;"}

SYSTEM_CASES = [
    ("string", {"system": "Be brief."}, "Be brief."),
    (
        "blocks joined, cache_control ignored",
        {
            "system": [
                {"type": "text", "text": "A"},
                {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}},
            ]
        },
        "A\n\nB",
    ),
    (
        "billing block removed",
        {"system": [BILLING, {"type": "text", "text": "You are Claude Code."}]},
        "You are Claude Code.",
    ),
    (
        "role system folded",
        {
            "system": "S",
            "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "Agents: Explore"}],
        },
        "S\n\nAgents: Explore",
    ),
]


@pytest.mark.parametrize(("name", "body", "expected"), SYSTEM_CASES, ids=[c[0] for c in SYSTEM_CASES])
def test_system(name: str, body: dict[str, Any], expected: str) -> None:
    out = msgs(body)
    assert out[0] == {"role": "system", "content": expected}
    assert all(m["role"] != "system" for m in out[1:])


def test_no_system_means_no_system_message() -> None:
    assert msgs({"system": [BILLING]})[0]["role"] == "user"


CONTENT_CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    ("string content", [{"role": "user", "content": "hello"}], [{"role": "user", "content": "hello"}]),
    (
        "text blocks join",
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>r</system-reminder>"},
                    {"type": "text", "text": "go", "cache_control": {"type": "ephemeral"}},
                ],
            }
        ],
        [{"role": "user", "content": "<system-reminder>r</system-reminder>\n\ngo"}],
    ),
    (
        "base64 image",
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}},
                ],
            }
        ],
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
                ],
            }
        ],
    ),
    (
        "url image",
        [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
    ),
    (
        "unknown blocks ignored",
        [{"role": "user", "content": [{"type": "mystery", "x": 1}, {"type": "text", "text": "t"}]}],
        [{"role": "user", "content": "t"}],
    ),
]


@pytest.mark.parametrize(("name", "messages", "expected"), CONTENT_CASES, ids=[c[0] for c in CONTENT_CASES])
def test_user_content(name: str, messages: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert msgs({"messages": messages}) == expected


TOOL_USE = {
    "role": "assistant",
    "content": [
        {"type": "thinking", "thinking": "plan", "signature": "sig"},
        {"type": "text", "text": "Running."},
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
        {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {"file_path": "/a"}},
    ],
}


def test_tool_round_trip_history() -> None:
    results = {
        "role": "user",
        "content": [
            {"type": "text", "text": "<system-reminder>keep me</system-reminder>"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "file body"}]},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a\nb", "is_error": False},
        ],
    }
    out = msgs({"messages": [{"role": "user", "content": "go"}, TOOL_USE, results]})
    assert out[1] == {
        "role": "assistant",
        "content": "Running.",
        "reasoning": "plan",
        "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": '{"command": "ls"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "Read", "arguments": '{"file_path": "/a"}'}},
        ],
    }
    # Results come first, in call order, then the user's other text: never dropped.
    assert out[2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "a\nb"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "file body"},
        {"role": "user", "content": "<system-reminder>keep me</system-reminder>"},
    ]


@pytest.mark.parametrize(
    ("dialect", "field"),
    [
        ("vllm", "reasoning"),
        ("ollama", "reasoning"),
        ("sglang", "reasoning_content"),
        ("llamacpp", "reasoning_content"),
    ],
)
def test_thinking_history_goes_to_the_engines_reasoning_field(dialect: str, field: str) -> None:
    out = msgs({"messages": [{"role": "user", "content": "go"}, TOOL_USE]}, dialect)
    assert out[1][field] == "plan"


def test_error_results_and_images_in_results() -> None:
    out = msgs(
        {
            "messages": [
                {"role": "user", "content": "go"},
                TOOL_USE,
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "is_error": True,
                            "content": "<tool_use_error>InputValidationError: bad</tool_use_error>",
                        },
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": [
                                {
                                    "type": "image",
                                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                                }
                            ],
                        },
                    ],
                },
            ]
        }
    )
    assert out[2] == {
        "role": "tool",
        "tool_call_id": "toolu_1",
        "content": "Error: <tool_use_error>InputValidationError: bad</tool_use_error>",
    }
    assert out[3] == {"role": "tool", "tool_call_id": "toolu_2", "content": "(empty result)"}
    assert out[4]["role"] == "user"
    assert out[4]["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}


def test_orphans_backfilled_and_dropped() -> None:
    out = msgs(
        {
            "messages": [
                {"role": "user", "content": "go"},
                TOOL_USE,
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"},
                        {"type": "tool_result", "tool_use_id": "toolu_gone", "content": "stale"},
                        {"type": "text", "text": "continue"},
                    ],
                },
            ]
        }
    )
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "tool", "user"]
    assert out[3]["tool_call_id"] == "toolu_2" and out[3]["content"].startswith("Error:")
    assert all(m.get("tool_call_id") != "toolu_gone" for m in out)


def test_no_content_placeholder_and_unparsed_input() -> None:
    out = msgs(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "(no content)"},
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "Write",
                            "input": {"__unparsedToolInput": {"raw": '{"a":', "len": 5}},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": "could not be parsed as JSON",
                            "is_error": True,
                        }
                    ],
                },
            ]
        }
    )
    assert out[1]["content"] == ""
    assert out[1]["tool_calls"][0]["function"]["arguments"] == '{"a":'


SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "url": {"type": "string", "format": "uri"},
        "format": {"type": "string", "enum": ["a", "b"], "default": "a"},
        "mode": {"anyOf": [{"const": "x"}, {"const": "y"}]},
    },
    "required": ["url"],
    "additionalProperties": False,
}
TOOLS = [{"name": "WebFetch", "description": "Fetch a URL", "input_schema": SCHEMA}]


def test_tools_keep_schema_but_drop_dollar_schema() -> None:
    out = tr({"tools": TOOLS})
    fn = out["tools"][0]["function"]
    assert fn["name"] == "WebFetch" and fn["description"] == "Fetch a URL"
    assert "$schema" not in fn["parameters"]
    assert fn["parameters"]["properties"]["url"]["format"] == "uri"
    assert fn["parameters"]["additionalProperties"] is False


def test_sanitised_schema_for_strict_backends() -> None:
    out = translate(
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": TOOLS},
        model="gemini",
        dialect=dialect_for(None, frozenset({"sanitize_schema"})),
        stream=False,
    ).body
    params = out["tools"][0]["function"]["parameters"]
    assert params == {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {"type": "string"},
            "format": {"type": "string", "enum": ["a", "b"]},  # a property named like a keyword survives
            "mode": {"anyOf": [{"enum": ["x"]}, {"enum": ["y"]}]},
        },
    }


def test_a_schema_seen_before_translates_as_the_first_time() -> None:
    """Each distinct schema is converted once and reused: an equal schema gets the same result and the same
    token estimate, a changed one its own conversion, and the two dialects never share one."""
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": TOOLS}
    first, again = (translate(copy.deepcopy(body), model="m", dialect=VLLM, stream=False) for _ in range(2))
    assert again.body == first.body and again.prompt_estimate == first.prompt_estimate
    changed = copy.deepcopy(body)
    changed["tools"][0]["input_schema"]["properties"]["url"]["format"] = "email"
    params = translate(changed, model="m", dialect=VLLM, stream=False).body["tools"][0]["function"]["parameters"]
    assert params["properties"]["url"]["format"] == "email"
    for dialect, kept in ((dialect_for(None, frozenset({"sanitize_schema"})), False), (VLLM, True)):
        out = translate(copy.deepcopy(body), model="m", dialect=dialect, stream=False).body
        assert ("format" in out["tools"][0]["function"]["parameters"]["properties"]["url"]) is kept


def test_the_schema_memo_stays_bounded() -> None:
    """Past its size the memo forgets its oldest schemas; a schema too large to keep is converted every time."""
    padding = "x" * 2000
    for i in range(tools.MEMO_BYTES // 2000 + 50):
        tools.engine_schema({"type": "object", "description": padding, "properties": {f"p{i}": {}}}, False)
    assert sum(len(key[1]) for key in tools._CONVERTED) <= tools.MEMO_BYTES
    huge = {"type": "object", "description": "x" * tools.MEMO_BYTES}
    assert tools.engine_schema(huge, False)[0] == huge
    assert not any(len(key[1]) > tools.MEMO_BYTES // 16 for key in tools._CONVERTED)


def test_long_tool_names_shortened() -> None:
    name = "mcp__" + "very_long_server_name_" * 4
    result = translate(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": name, "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]},
            ],
            "tools": [{"name": name, "input_schema": {"type": "object"}}],
        },
        model="m",
        dialect=VLLM,
        stream=False,
    )
    short = result.body["tools"][0]["function"]["name"]
    assert len(short) <= 64 and result.tool_names == {short: name}
    assert result.body["messages"][1]["tool_calls"][0]["function"]["name"] == short


def test_server_tools_and_empty_tools_dropped() -> None:
    assert "tools" not in tr({"tools": []})
    assert "tools" not in tr({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]})


TOOL_CHOICE_CASES = [
    ("vllm", {"type": "auto"}, "auto"),
    ("vllm", {"type": "any"}, "required"),
    ("vllm", {"type": "none"}, "none"),
    ("vllm", {"type": "tool", "name": "WebFetch"}, {"type": "function", "function": {"name": "WebFetch"}}),
    ("llamacpp", {"type": "tool", "name": "WebFetch"}, "required"),
    ("ollama", {"type": "any"}, None),
]


@pytest.mark.parametrize(("dialect", "choice", "expected"), TOOL_CHOICE_CASES)
def test_tool_choice(dialect: str, choice: dict[str, Any], expected: Any) -> None:
    assert tr({"tools": TOOLS, "tool_choice": choice}, dialect).get("tool_choice") == expected


def test_disable_parallel_tool_use() -> None:
    assert (
        tr({"tools": TOOLS, "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}})["parallel_tool_calls"]
        is False
    )


def test_sampling_and_limits() -> None:
    out = tr(
        {
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "stop_sequences": ["END"],
            "max_tokens": 32000,
            "metadata": {"user_id": "x" * 150},
            "context_management": {"edits": []},
        },
        stream=True,
    )
    assert out["temperature"] == 0.2 and out["top_p"] == 0.9 and out["top_k"] == 40
    assert out["stop"] == ["END"] and out["max_tokens"] == 32000
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert "metadata" not in out and "user" not in out and "context_management" not in out


def test_strict_backends_get_only_standard_fields() -> None:
    out = tr({"top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 2000}}, dialect="openai")
    assert "top_k" not in out and "chat_template_kwargs" not in out and "reasoning_effort" not in out


THINKING_CASES = [
    (
        "vllm",
        {"thinking": {"type": "disabled"}},
        {"chat_template_kwargs": {"enable_thinking": False, "thinking": False}},
    ),
    (
        "sglang",
        {"thinking": {"type": "enabled", "budget_tokens": 31999}},
        {"chat_template_kwargs": {"enable_thinking": True, "thinking": True}},
    ),
    ("vllm", {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}, {}),
    ("ollama", {"thinking": {"type": "disabled"}}, {"reasoning_effort": "none"}),
    ("ollama", {"thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}}, {"reasoning_effort": "high"}),
    ("ollama", {"thinking": {"type": "enabled", "budget_tokens": 1000}}, {"reasoning_effort": "low"}),
    ("ollama", {"thinking": {"type": "adaptive", "budget_tokens": 0}}, {}),
]


@pytest.mark.parametrize(("dialect", "body", "expected"), THINKING_CASES)
def test_thinking_switch(dialect: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = tr(body, dialect)
    got = {k: out[k] for k in ("chat_template_kwargs", "reasoning_effort") if k in out}
    assert got == expected


def test_output_format_becomes_response_format() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "additionalProperties": False}
    out = tr({"tools": [], "output_config": {"format": {"type": "json_schema", "schema": schema}}})
    assert out["response_format"]["json_schema"]["schema"] == schema


def test_max_completion_tokens_quirk() -> None:
    out = translate(
        {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "x"}]},
        model="o",
        dialect=dialect_for(None, frozenset({"max_completion_tokens"})),
        stream=False,
    ).body
    assert out["max_completion_tokens"] == 9 and "max_tokens" not in out


def test_estimate_grows_with_content() -> None:
    small = translate(
        {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]},
        model="m",
        dialect=VLLM,
        stream=False,
    ).prompt_estimate
    big = translate(
        {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "word " * 4000}]},
        model="m",
        dialect=VLLM,
        stream=False,
    ).prompt_estimate
    assert small > 0 and 4000 <= big <= 8000


INVALID = [
    ([], "request body must be a JSON object"),
    ({"messages": [], "max_tokens": 1}, "model"),
    ({"model": "m", "max_tokens": 1}, "messages"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": "10"}, "max_tokens"),
    ({"model": "m", "messages": [{"role": "bot", "content": "x"}], "max_tokens": 1}, "messages.0.role"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}], "max_tokens": 1}, "messages.0.content"),
    (
        {"model": "m", "messages": [{"role": "user", "content": [{"text": "x"}]}], "max_tokens": 1},
        "messages.0.content.0",
    ),
    (
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 1,
            "tools": [{"description": "x"}],
        },
        "tools.0.name",
    ),
    (
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1, "temperature": "hot"},
        "temperature",
    ),
    (
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1, "stop_sequences": "END"},
        "stop_sequences",
    ),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1, "system": 3}, "system"),
]


@pytest.mark.parametrize(("body", "field"), INVALID)
def test_validation_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(RequestError, match=field.replace(".", r"\.")):
        validate(body)


def test_count_tokens_needs_no_max_tokens() -> None:
    validate({"model": "m", "messages": [{"role": "user", "content": "foo"}]}, require_max_tokens=False)
