"""Tool search for OpenAI engines: tool_reference expansion and deferred tools, as translator tables."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ccb.proxy.config import dialect_for
from ccb.proxy.translate import toolsearch
from ccb.proxy.translate.request import translate

# The shapes Claude Code 2.1.332 sends (claude-code-2.1.332.md §2.1).
PLACEHOLDER = {
    "name": "DeferredToolPlaceholder",
    "description": "Reserved placeholder that keeps deferred tool loading active; never call this tool.",
    "input_schema": {"type": "object", "properties": {}},
    "defer_loading": True,
}
BASH = {
    "name": "Bash",
    "description": "Run a shell command.",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
        "additionalProperties": False,
    },
}
SEARCH = {
    "name": "ToolSearch",
    "description": "Fetches full schema definitions for deferred tools.",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}
CRON = {
    "name": "CronList",
    "description": "List the scheduled cron jobs.",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    },
    "defer_loading": True,
}
FETCH = {
    "name": "WebFetch",
    "description": "Fetch a URL and answer a question about it.",
    "input_schema": {
        "type": "object",
        "properties": {"url": {"type": "string", "format": "uri"}, "prompt": {"type": "string"}},
        "required": ["url", "prompt"],
    },
    "defer_loading": True,
}


def search_call(tid: str, query: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": tid, "name": "ToolSearch", "input": {"query": query}}],
    }


def search_result(tid: str, *names: str) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": tid,
                "content": [{"type": "tool_reference", "tool_name": n} for n in names],
            }
        ],
    }


def run(tools: list[dict[str, Any]], messages: list[dict[str, Any]], dialect: str = "vllm") -> dict[str, Any]:
    body = {"model": "m", "max_tokens": 100, "tools": tools, "messages": messages}
    return translate(body, model="up", dialect=dialect_for(dialect), stream=False).body


def names(out: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in out.get("tools", [])]


def functions(text: str) -> list[dict[str, Any]]:
    """The definitions inside a <functions> block, parsed back."""
    block = re.fullmatch(r"<functions>\n(.*)\n</functions>", text, re.DOTALL)
    assert block, text
    return [json.loads(m) for m in re.findall(r"<function>(.*?)</function>", block.group(1))]


FIRST = [{"role": "user", "content": "list my cron jobs"}]
AFTER_SEARCH = [*FIRST, search_call("toolu_1", "select:CronList"), search_result("toolu_1", "CronList")]

OFFERED_CASES = [
    ("first turn: placeholder never offered", [BASH, SEARCH, PLACEHOLDER], FIRST, ["Bash", "ToolSearch"]),
    ("a deferred tool nobody found stays back", [BASH, CRON, SEARCH, PLACEHOLDER], FIRST, ["Bash", "ToolSearch"]),
    (
        "a found tool is offered, after the others",
        [BASH, CRON, SEARCH, PLACEHOLDER],
        AFTER_SEARCH,
        ["Bash", "ToolSearch", "CronList"],
    ),
    (
        "found tools keep the order they were found in",
        [BASH, CRON, SEARCH, FETCH, PLACEHOLDER],
        [
            *FIRST,
            search_call("t1", "select:WebFetch"),
            search_result("t1", "WebFetch"),
            search_call("t2", "cron"),
            search_result("t2", "CronList", "WebFetch"),
        ],
        ["Bash", "ToolSearch", "WebFetch", "CronList"],
    ),
    (
        "a reference to a tool the request lacks adds nothing",
        [BASH, SEARCH, PLACEHOLDER],
        [*FIRST, search_call("t1", "select:CronList"), search_result("t1", "CronList")],
        ["Bash", "ToolSearch"],
    ),
    ("no tool search at all: tools untouched", [BASH, SEARCH], FIRST, ["Bash", "ToolSearch"]),
]


@pytest.mark.parametrize(("name", "tools", "messages", "expected"), OFFERED_CASES, ids=[c[0] for c in OFFERED_CASES])
def test_offered_tools(
    name: str, tools: list[dict[str, Any]], messages: list[dict[str, Any]], expected: list[str]
) -> None:
    out = run(tools, messages)
    assert names(out) == expected
    assert "defer_loading" not in json.dumps(out)


@pytest.mark.parametrize("dialect", ["vllm", "ollama", "llamacpp", "openai"])
def test_reference_becomes_the_complete_definition(dialect: str) -> None:
    out = run(
        [BASH, CRON, SEARCH, FETCH, PLACEHOLDER],
        [*FIRST, search_call("toolu_1", "select:CronList,WebFetch"), search_result("toolu_1", "CronList", "WebFetch")],
        dialect,
    )
    result = next(m for m in out["messages"] if m["role"] == "tool")
    assert result["tool_call_id"] == "toolu_1"
    assert functions(result["content"]) == [
        {
            "description": "List the scheduled cron jobs.",
            "name": "CronList",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
        {
            "description": "Fetch a URL and answer a question about it.",
            "name": "WebFetch",
            "parameters": FETCH["input_schema"],
        },
    ]
    assert "(empty result)" not in json.dumps(out)


def test_no_match_passes_as_claude_codes_own_text() -> None:
    messages = [
        *FIRST,
        search_call("t1", "kubernetes"),
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "No matching deferred tools found"}],
        },
    ]
    out = run([BASH, CRON, SEARCH, PLACEHOLDER], messages)
    assert out["messages"][-1] == {"role": "tool", "tool_call_id": "t1", "content": "No matching deferred tools found"}
    assert names(out) == ["Bash", "ToolSearch"]


def test_reference_mixed_with_text_keeps_both_in_order() -> None:
    messages = [
        *FIRST,
        search_call("t1", "cron"),
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [
                        {"type": "text", "text": "Found:"},
                        {"type": "tool_reference", "tool_name": "CronList"},
                        {"type": "text", "text": "Done."},
                    ],
                }
            ],
        },
    ]
    content = run([BASH, CRON, SEARCH, PLACEHOLDER], messages)["messages"][-1]["content"]
    first, block, last = content.split("\n\n")
    assert (first, last) == ("Found:", "Done.")
    assert [f["name"] for f in functions(block)] == ["CronList"]


def test_reference_without_definition_says_so() -> None:
    block, note = toolsearch.render(["CronList", "Gone"], {"CronList": CRON}).rsplit("\n", 1)
    assert [f["name"] for f in functions(block)] == ["CronList"]
    assert note == "Found but not loaded (no definition was sent): Gone"
    assert toolsearch.render(["Gone"], {}) == "Found but not loaded (no definition was sent): Gone"


def test_found_tool_is_callable_after_the_search() -> None:
    """The third turn: the model called CronList; its call and result translate like any other tool's."""
    messages = [
        *AFTER_SEARCH,
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_2", "name": "CronList", "input": {}}]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "No scheduled jobs."}],
        },
    ]
    out = run([BASH, CRON, SEARCH, PLACEHOLDER], messages, "llamacpp")
    assert names(out) == ["Bash", "ToolSearch", "CronList"]
    assert out["messages"][-2]["tool_calls"][0]["function"]["name"] == "CronList"
    assert out["messages"][-1]["content"] == "No scheduled jobs."
    # The ToolSearch result before it still carries the definition: the prompt prefix does not change.
    assert [f["name"] for f in functions(out["messages"][-3]["content"])] == ["CronList"]


def test_tools_before_the_search_keep_their_place() -> None:
    """Claude Code inserts a found tool alphabetically; the engine sees the earlier tools unchanged and first."""
    before = run([BASH, SEARCH, PLACEHOLDER], FIRST)
    after = run([BASH, CRON, SEARCH, PLACEHOLDER], AFTER_SEARCH)
    assert after["tools"][: len(before["tools"])] == before["tools"]
