"""Content the engine has no form for, client tools and structured output, through the SDK on loopback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.openai_engine import DIALECTS, Answer
from tests.proxy.conftest import RigFactory

SEARCH = {
    "type": "search_result",
    "source": "https://docs.example.com/install",
    "title": "Installing widgets",
    "content": [
        {"type": "text", "text": "Run pip install widgets."},
        {"type": "text", "text": "Python 3.11 or later."},
    ],
    "citations": {"enabled": True},
}
SEARCH_TEXT = (
    "Search result: Installing widgets\nSource: https://docs.example.com/install\n\n"
    "Run pip install widgets.\n\nPython 3.11 or later."
)
CALL: Any = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "widgets"}}],
}


async def sent_for(rig_factory: RigFactory, messages: Any, dialect: str = "vllm", **extra: Any) -> dict[str, Any]:
    rig = await rig_factory(dialect)
    await rig.client().messages.create(model="m", max_tokens=100, messages=messages, **extra)
    return rig.engine.requests[-1]


async def test_search_results_in_user_content_keep_title_and_source(rig_factory: RigFactory) -> None:
    sent = await sent_for(rig_factory, [{"role": "user", "content": [SEARCH, {"type": "text", "text": "Summarise."}]}])
    assert sent["messages"] == [{"role": "user", "content": SEARCH_TEXT + "\n\nSummarise."}]


async def test_a_tool_result_of_only_search_results_is_not_empty(rig_factory: RigFactory) -> None:
    other = {
        **SEARCH,
        "title": "FAQ",
        "source": "https://docs.example.com/faq",
        "content": [{"type": "text", "text": "Widgets are blue."}],
    }
    history = [
        {"role": "user", "content": "find docs"},
        CALL,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": [SEARCH, other]}]},
    ]
    sent = await sent_for(rig_factory, history)
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": "toolu_9",
        "content": SEARCH_TEXT
        + "\n\n"
        + ("Search result: FAQ\nSource: https://docs.example.com/faq\n\nWidgets are blue."),
    }


DOCUMENTS = [
    (
        "text",
        {
            "type": "document",
            "title": "notes.txt",
            "context": "Meeting notes from Monday",
            "source": {"type": "text", "media_type": "text/plain", "data": "Ship on Friday."},
        },
        "Document: notes.txt\nContext: Meeting notes from Monday\n\nShip on Friday.",
    ),
    (
        "content",
        {
            "type": "document",
            "title": "Spec",
            "source": {
                "type": "content",
                "content": [{"type": "text", "text": "Part one."}, {"type": "text", "text": "Part two."}],
            },
        },
        "Document: Spec\n\nPart one.\n\nPart two.",
    ),
    (
        "content string",
        {"type": "document", "source": {"type": "content", "content": "Just text."}},
        "Document\n\nJust text.",
    ),
    (
        "pdf",
        {
            "type": "document",
            "title": "report.pdf",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK" * 200},
        },
        '[Document: report.pdf\n"report.pdf" was attached (a PDF, 1 KB) but this model cannot read it]',
    ),
    (
        "url",
        {"type": "document", "source": {"type": "url", "url": "https://example.com/paper.pdf"}},
        "[Document\na document was attached by URL (https://example.com/paper.pdf) but this model cannot open it]",
    ),
]


@pytest.mark.parametrize(("name", "block", "text"), DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
async def test_documents(rig_factory: RigFactory, name: str, block: dict[str, Any], text: str) -> None:
    sent = await sent_for(rig_factory, [{"role": "user", "content": [block, {"type": "text", "text": "Read it."}]}])
    assert sent["messages"] == [{"role": "user", "content": text + "\n\nRead it."}]


async def test_documents_inside_tool_results(rig_factory: RigFactory) -> None:
    history = [
        {"role": "user", "content": "open it"},
        CALL,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": [DOCUMENTS[0][1]]}]},
    ]
    sent = await sent_for(rig_factory, history)
    assert sent["messages"][2]["content"] == DOCUMENTS[0][2]


CLIENT_TOOLS: Any = [
    {"type": "bash_20250124", "name": "bash"},
    {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool", "max_characters": 10000},
    {"type": "text_editor_20250429", "name": "str_replace_based_edit_tool"},
    {"type": "text_editor_20250124", "name": "str_replace_editor"},
    {"type": "computer_20250124", "name": "computer", "display_width_px": 1280, "display_height_px": 800},
    {"type": "code_execution_20250825", "name": "code_execution"},
]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_client_tools_reach_the_engine_as_functions(rig_factory: RigFactory, dialect: str) -> None:
    rig = await rig_factory(dialect)
    rig.engine.push(Answer(tool_calls=[("bash", {"command": "ls -la"})]))
    # (web_search is emulated by the bridge itself: see test_websearch.py)
    for tools in ([CLIENT_TOOLS[0], CLIENT_TOOLS[1], *CLIENT_TOOLS[4:]], [CLIENT_TOOLS[2]], [CLIENT_TOOLS[3]]):
        message = await rig.client().messages.create(
            model="m", max_tokens=100, tools=tools, messages=[{"role": "user", "content": "list files"}]
        )
        if tools[0]["name"] == "bash":
            assert message.content[-1].type == "tool_use" and message.content[-1].name == "bash"
            assert message.content[-1].input == {"command": "ls -la"}
    first, second, third = (r["tools"] for r in rig.engine.requests)
    names = [t["function"]["name"] for t in first]
    assert names == ["bash", "str_replace_based_edit_tool", "computer"]  # server tools stay server-side
    bash, editor, computer = (t["function"] for t in first)
    assert bash["parameters"]["properties"]["command"]["type"] == "string"
    assert editor["parameters"]["required"] == ["command", "path"]
    assert editor["parameters"]["properties"]["command"]["enum"] == ["view", "create", "str_replace", "insert"]
    assert {"old_str", "new_str", "file_text", "insert_line", "view_range"} <= set(editor["parameters"]["properties"])
    assert "1280x800" in computer["description"]
    assert "scroll" in computer["parameters"]["properties"]["action"]["enum"]
    assert second[0]["function"]["parameters"]["properties"]["command"]["enum"] == [
        "view",
        "create",
        "str_replace",
        "insert",
    ]
    assert third[0]["function"]["name"] == "str_replace_editor"
    assert "undo_edit" in third[0]["function"]["parameters"]["properties"]["command"]["enum"]
    assert all(t["function"]["description"] for t in first)


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
EXPECTED_FORMAT = {"type": "json_schema", "json_schema": {"name": "output", "schema": SCHEMA, "strict": False}}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_structured_output_maps_to_a_json_schema_response_format(rig_factory: RigFactory, dialect: str) -> None:
    rig = await rig_factory(dialect)
    rig.engine.push(Answer(text='{"name": "Ada", "age": 36}'), Answer(text='{"name": "Bo", "age": 3}'))
    client = rig.client()
    message = await client.messages.create(
        model="m",
        max_tokens=100,
        messages=[{"role": "user", "content": "Ada, 36"}],
        output_config={"format": {"type": "json_schema", "schema": SCHEMA}},
    )
    assert message.content[0].type == "text" and message.content[0].text == '{"name": "Ada", "age": 36}'
    beta = await client.beta.messages.create(
        model="m",
        max_tokens=100,
        messages=[{"role": "user", "content": "Bo"}],
        betas=["structured-outputs-2025-11-13"],
        extra_body={"output_format": {"type": "json_schema", "schema": SCHEMA}},
    )
    assert beta.content[0].type == "text"
    assert [r.get("response_format") for r in rig.engine.requests] == [EXPECTED_FORMAT, EXPECTED_FORMAT]


def test_structured_output_schema_is_sanitized_for_strict_backends() -> None:
    from ccb.proxy.config import dialect_for
    from ccb.proxy.translate.request import translate

    schema = {
        **SCHEMA,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "properties": {"name": {"type": "string", "format": "email"}, "age": {"type": "integer"}},
    }
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "x"}],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    strict = dialect_for("openai", frozenset({"sanitize_schema"}))
    sent = translate(body, model="m", dialect=strict, stream=False).body["response_format"]["json_schema"]["schema"]
    assert sent == {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    plain = translate(body, model="m", dialect=dialect_for("vllm"), stream=False).body
    assert plain["response_format"]["json_schema"]["schema"] == schema
