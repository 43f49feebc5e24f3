"""Request shapes Claude Code 2.1.332 sends (claude-code-2.1.332.md §3): system messages as blocks,
thinking.display, safeguards, schemas strict validators reject, HEAD /api/hello, new betas."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest

from ccb.proxy.config import dialect_for
from ccb.proxy.translate.request import translate
from ccb.proxy.translate.tools import portable, portable_pattern
from tests.fakes.openai_engine import Answer
from tests.proxy.conftest import TOKEN, RigFactory

ROLE_SYSTEM = "# Environment\nYou are powered by the model fake-model.\nDeferred tools: CronList WebFetch"
SAFEGUARDS = [
    {
        "type": "dangerous_tool_use",
        "classifier_context": {
            "v": 1,
            "permission_mode": "auto",
            "live_cwd": "/home/alice/secret-project",
            "home_dir": "/home/alice",
            "rule_roots": {"user": ["Bash(rm -rf *)"]},
        },
    }
]


def body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


def test_system_message_as_blocks_or_string_gives_the_same_prompt() -> None:
    """Turn 1 sends the role:system message as blocks with cache_control, later turns as a string: the
    engine's system prompt must not change between them (its prefix cache depends on it)."""
    as_blocks = body(
        messages=[
            {"role": "user", "content": "hi"},
            {
                "role": "system",
                "content": [{"type": "text", "text": ROLE_SYSTEM, "cache_control": {"type": "ephemeral"}}],
            },
        ]
    )
    as_string = body(
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "system", "content": ROLE_SYSTEM},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "more"},
        ]
    )
    first = translate(as_blocks, model="up", dialect=dialect_for("vllm"), stream=True).body["messages"]
    later = translate(as_string, model="up", dialect=dialect_for("vllm"), stream=True).body["messages"]
    assert first[0] == later[0] == {"role": "system", "content": "You are Claude Code.\n\n" + ROLE_SYSTEM}
    assert [m["role"] for m in later] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize("dialect", ["vllm", "ollama", "llamacpp", "openai"])
def test_display_and_safeguards_never_reach_an_engine(dialect: str) -> None:
    out = translate(
        body(
            thinking={"type": "adaptive", "display": "omitted"}, safeguards=SAFEGUARDS, output_config={"effort": "high"}
        ),
        model="up",
        dialect=dialect_for(dialect),
        stream=True,
    ).body
    text = json.dumps(out)
    assert "display" not in text and "safeguards" not in text and "/home/alice" not in text


# The Artifact tool's kind of pattern (Unicode property escape plus a lookahead), and SendMessage.to's allOf.
ARTIFACT = r"^(?!\s)[^\p{Cc}\p{Cs}]{1,80}$"
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "title": {"type": "string", "pattern": ARTIFACT},
        "to": {"type": "string", "allOf": [{"pattern": "^[^\\n\\r]*$"}, {"pattern": "^[\\s\\S]{0,300}$"}]},
        "id": {"type": "string", "pattern": "^wf_[a-z0-9-]{6,}$"},
        "pattern": {"type": "string", "description": "a property named like the keyword"},
        "list": {"type": "array", "items": {"type": "string", "pattern": "(?<=a)b"}},
    },
    "required": ["title"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("pattern", "ok"),
    [
        (ARTIFACT, False),
        (r"\p{L}+", False),
        ("(?=x)y", False),
        ("(?<name>a)", False),
        (r"(a)\1", False),
        ("(?P<n>a)", False),
        ("[", False),
        ("^wf_[a-z0-9-]{6,}$", True),
        ("^[^\\n\\r]*$", True),
        ("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", True),
    ],
)
def test_portable_patterns(pattern: str, ok: bool) -> None:
    assert portable_pattern(pattern) is ok


def test_schema_made_portable_for_openai_style_engines() -> None:
    out = translate(
        body(tools=[{"name": "Artifact", "description": "d", "input_schema": SCHEMA}]),
        model="up",
        dialect=dialect_for("openai"),
        stream=False,
    ).body
    params = out["tools"][0]["function"]["parameters"]
    props = params["properties"]
    assert "$schema" not in params and params["additionalProperties"] is False
    assert props["title"] == {"type": "string"}
    assert props["to"] == {"type": "string", "pattern": "^[^\\n\\r]*$"}  # allOf folded, first pattern kept
    assert props["id"]["pattern"] == "^wf_[a-z0-9-]{6,}$"
    assert props["pattern"] == SCHEMA["properties"]["pattern"]
    assert props["list"] == {"type": "array", "items": {"type": "string"}}
    assert "allOf" not in json.dumps(params)
    assert portable(SCHEMA) == portable(portable(SCHEMA))


async def test_safeguards_stay_out_of_the_engine_and_the_log(
    rig_factory: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await rig_factory("vllm", log_bodies=True)
    caplog.set_level(logging.DEBUG, logger="ccb.bridge")  # its own level, whatever ran before
    rig.engine.push(Answer(text="ok"))
    raw: Any = body(thinking={"type": "adaptive", "display": "updates"})
    message = await rig.client().messages.create(**raw, extra_body={"safeguards": SAFEGUARDS})
    assert message.content[0].text == "ok"
    assert "upstream request" in caplog.text  # bodies are being logged, yet without the safeguards
    assert "/home/alice" not in caplog.text and "safeguards" not in caplog.text
    assert "/home/alice" not in json.dumps(rig.engine.requests)


NEW_BETAS = (
    "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,"
    "mid-conversation-tool-changes-2026-07-01,thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,"
    "effort-2025-11-24,dangerous-tool-use-2026-09-03,thinking-display-updates-2026-08-18,"
    "afk-mode-2026-01-31,per-turn-control-2026-07-01,inline-tools-2026-09-15,cache-keepalive-2026-09-03"
)


async def test_new_betas_are_accepted(rig_factory: RigFactory) -> None:
    rig = await rig_factory("vllm")
    rig.engine.push(Answer(text="ok"))
    message = await rig.client().messages.create(**body(), extra_headers={"anthropic-beta": NEW_BETAS})
    assert message.content[0].text == "ok"
    assert "anthropic-beta" not in {k.lower() for k in rig.engine.headers[-1]}


@pytest.mark.parametrize("method", ["HEAD", "GET"])
async def test_api_hello_prewarm_is_answered_without_a_token(rig_factory: RigFactory, method: str) -> None:
    rig = await rig_factory("vllm")
    async with aiohttp.ClientSession() as session:
        async with session.request(method, rig.bridge.url + "/api/hello", headers={"User-Agent": "Bun/1.4.6"}) as resp:
            assert resp.status == 200
        async with session.get(rig.bridge.url + "/v1/models") as resp:
            assert resp.status == 401  # everything else still wants the token
        async with session.get(rig.bridge.url + "/v1/models", headers={"x-api-key": TOKEN}) as resp:
            assert resp.status == 200
