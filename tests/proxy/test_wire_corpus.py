"""Every request a real Claude Code release sent (tests/fixtures/wire/<version>/, recorded by
tests/record_wire.py) through the translator, for every engine dialect.

A new release is checked by recording it and running these tests again (`tests/run.sh --new-release VERSION`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccb.proxy.config import DIALECTS
from ccb.proxy.translate.request import estimate_tokens, translate, validate
from tests.record_wire import FIXTURES, SCENARIOS
from tests.support.claude import CLAUDE_VERSIONS

pytestmark = pytest.mark.wire

RECORDS = sorted(FIXTURES.glob("*/*.json"))
MESSAGES = [p for p in RECORDS if json.loads(p.read_text())["path"] == "/v1/messages"]
COUNTS = [p for p in RECORDS if json.loads(p.read_text())["path"] == "/v1/messages/count_tokens"]
# Anthropic-only request fields that must never reach an OpenAI engine (outside tool schemas, whose
# properties may have any name).
ANTHROPIC_ONLY = frozenset(
    {
        "cache_control",
        "defer_loading",
        "safeguards",
        "context_management",
        "output_config",
        "metadata",
        "thinking",
        "input_schema",
        "tool_reference",
        "tool_use_id",
        "system",
    }
)


def _keys(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    return set()


def _body(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text())["body"]
    return body


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_every_pinned_version_has_a_complete_recording() -> None:
    for version in CLAUDE_VERSIONS:
        folder = FIXTURES / version
        scenarios = {p.stem.rsplit("-", 1)[0] for p in folder.glob("*.json")}
        assert scenarios == set(SCENARIOS), f"{folder}: recorded {sorted(scenarios)}"
        assert any(p.parent == folder for p in MESSAGES)
        for path in folder.glob("*.json"):
            headers = {k.lower() for k in json.loads(path.read_text())["headers"]}
            assert not headers & {"authorization", "x-api-key"}, path
            assert "ccb-wire-" not in path.read_text(), f"{path}: temporary paths are not normalized"


def test_the_corpus_holds_the_shapes_it_exists_for() -> None:
    """What makes the corpus worth replaying: a tool round trip everywhere, and 2.1.332's tool search shapes."""
    for version in CLAUDE_VERSIONS:
        bodies = [_body(p) for p in MESSAGES if p.parent.name == version]
        results = [
            b
            for m in (x["messages"] for x in bodies)
            for msg in m
            if isinstance(msg["content"], list)
            for b in msg["content"]
            if b.get("type") == "tool_result"
        ]
        assert results, version
    newest = [_body(p) for p in MESSAGES if p.parent.name == "2.1.332"]
    text = json.dumps(newest)
    assert '"tool_reference"' in text and '"defer_loading": true' in text
    assert any(isinstance(m["content"], list) for b in newest for m in b["messages"] if m["role"] == "system")
    assert any(b.get("safeguards") for b in newest), "no interactive request (with safeguards) was recorded"
    assert COUNTS, "no count_tokens request was recorded"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("path", MESSAGES, ids=_name)
def test_recorded_request_translates(path: Path, dialect: str) -> None:
    body = _body(path)
    validate(body)
    out = translate(body, model="engine-model", dialect=DIALECTS[dialect], stream=bool(body.get("stream"))).body
    schemaless = {
        **out,
        "tools": [{**t, "function": {**t["function"], "parameters": {}}} for t in out.get("tools", [])],
    }
    assert not _keys(schemaless) & ANTHROPIC_ONLY
    assert '"type": "tool_reference"' not in json.dumps(out["messages"])
    messages = out["messages"]
    assert messages[0]["role"] == "system" and messages[0]["content"]
    assert all(m["role"] in ("system", "user", "assistant", "tool") for m in messages)
    assert [m["role"] for m in messages].count("system") == 1  # role:"system" turns are folded in
    # Every tool answer follows the call it answers, and every call is answered.
    called: list[str] = []
    for message in messages:
        called += [c["id"] for c in message.get("tool_calls") or []]
        if message["role"] == "tool":
            assert message["tool_call_id"] in called
    answered = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
    assert set(called) == answered
    sent = [
        b["id"]
        for m in body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_use"
    ]
    assert len(called) == len(sent)
    tools = out.get("tools", [])
    names = [t["function"]["name"] for t in tools]
    assert len(names) == len(set(names))
    assert all(t["type"] == "function" and t["function"]["parameters"].get("type") == "object" for t in tools)
    assert out.get("max_tokens", out.get("max_completion_tokens")) == body["max_tokens"]
    # Tool search: the placeholder never reaches an engine; a deferred tool only once a reference names it,
    # and then the tool message carries its definition.
    assert "DeferredToolPlaceholder" not in names
    references = [
        r["tool_name"]
        for m in body["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result" and isinstance(b.get("content"), list)
        for r in b["content"]
        if r.get("type") == "tool_reference"
    ]
    deferred = {t["name"] for t in body.get("tools", []) if t.get("defer_loading")}
    assert set(names) & deferred <= set(references)
    tool_text = "\n".join(
        m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
        for m in messages
        if m["role"] == "tool"
    )
    for name in references:
        definition = next(t for t in body["tools"] if t["name"] == name)
        assert name in names
        assert json.dumps(definition["description"], ensure_ascii=False)[1:60] in tool_text


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("path", COUNTS, ids=_name)
def test_recorded_count_tokens_request_is_estimated(path: Path, dialect: str) -> None:
    body = _body(path)
    validate(body, require_max_tokens=False)
    assert estimate_tokens(body, DIALECTS[dialect]) > len(json.dumps(body["tools"])) // 8
