"""Thinking and effort through the bridge: a switch only where the model takes one, effort as the engine spells it.

Claude Code asks for thinking (adaptive, with an effort) on every turn; an Ollama model without the
thinking capability answers any reasoning_effort with 400 "does not support thinking" (engines.md).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccb.proxy.config import ModelMap, dialect_for
from ccb.proxy.translate.thinking import GPT_OSS_EFFORTS, OLLAMA_EFFORTS, map_effort, refuses_switch, strip_switch
from tests.fakes.openai_engine import Raw
from tests.proxy.conftest import RigFactory

HI: Any = [{"role": "user", "content": "hi"}]
ADAPTIVE: dict[str, Any] = {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}
SWITCHES = ("reasoning_effort", "chat_template_kwargs")


def switches(sent: dict[str, Any]) -> dict[str, Any]:
    return {k: sent[k] for k in SWITCHES if k in sent}


async def test_ollama_model_without_thinking_gets_no_switch_learned_once(rig_factory: RigFactory) -> None:
    rig = await rig_factory("ollama")
    rig.engine.capabilities = ["completion", "tools"]  # qwen2.5-coder, devstral, llama3 …
    client = rig.client()
    for _ in range(3):
        message = await client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=HI, **ADAPTIVE)
        assert message.content[0].type == "text"
    assert [switches(r) for r in rig.engine.requests] == [{}, {}, {}]
    assert rig.engine.shows == ["fake-model"]  # asked once, not per request


async def test_ollama_thinking_model_gets_its_effort(rig_factory: RigFactory) -> None:
    rig = await rig_factory("ollama")
    client = rig.client()
    await client.messages.create(
        model="m", max_tokens=100, messages=HI, thinking={"type": "adaptive"}, output_config={"effort": "xhigh"}
    )
    await client.messages.create(model="m", max_tokens=100, messages=HI, thinking={"type": "disabled"})
    await client.messages.create(
        model="m", max_tokens=2000, messages=HI, thinking={"type": "enabled", "budget_tokens": 1024}
    )
    assert [switches(r) for r in rig.engine.requests] == [
        {"reasoning_effort": "high"},
        {"reasoning_effort": "none"},
        {"reasoning_effort": "low"},
    ]
    assert rig.engine.shows == ["fake-model"]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_refused_switch_is_retried_once_without_it_and_remembered(
    rig_factory: RigFactory, stream: bool
) -> None:
    rig = await rig_factory("ollama")
    rig.engine.capabilities = None  # an Ollama too old to report capabilities: the bridge cannot know
    client = rig.client()
    if stream:
        async with client.messages.stream(model="m", max_tokens=100, messages=HI, **ADAPTIVE) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(model="m", max_tokens=100, messages=HI, **ADAPTIVE)
    assert message.content[0].type == "text" and message.content[0].text == "Hello from the fake engine."
    assert [switches(r) for r in rig.engine.requests] == [{"reasoning_effort": "high"}, {}]
    await client.messages.create(model="m", max_tokens=100, messages=HI, **ADAPTIVE)
    assert switches(rig.engine.requests[-1]) == {} and len(rig.engine.requests) == 3


async def test_vllm_refusing_template_kwargs_answers_without_them(rig_factory: RigFactory) -> None:
    rig = await rig_factory("vllm")
    refusal = {
        "error": {
            "message": "chat_template_kwargs is not supported by this model's template",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        }
    }
    rig.engine.push(Raw(400, json.dumps(refusal).encode(), {"Content-Type": "application/json"}))
    message = await rig.client().messages.create(
        model="m", max_tokens=100, messages=HI, thinking={"type": "enabled", "budget_tokens": 2048}
    )
    assert message.content[0].text == "Hello from the fake engine."
    assert [switches(r) for r in rig.engine.requests] == [
        {"chat_template_kwargs": {"enable_thinking": True, "thinking": True}},
        {},
    ]


async def test_other_errors_are_not_retried(rig_factory: RigFactory) -> None:
    rig = await rig_factory("ollama")
    rig.engine.push(
        Raw(
            400,
            b'{"error":{"message":"bad things","type":"invalid_request_error"}}',
            {"Content-Type": "application/json"},
        )
    )
    with pytest.raises(Exception) as info:
        await rig.client().messages.create(model="m", max_tokens=100, messages=HI, **ADAPTIVE)
    assert "bad things" in str(info.value)
    assert len(rig.engine.requests) == 1


GPT_OSS_CASES = [
    ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}, "high"),
    ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}}, "high"),
    ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}}, "medium"),
    ({"output_config": {"effort": "low"}}, "low"),
    ({"thinking": {"type": "enabled", "budget_tokens": 20000}}, "high"),
    ({"thinking": {"type": "disabled"}}, "low"),  # gpt-oss cannot stop reasoning: the least it takes
]


@pytest.mark.parametrize("dialect", ["vllm", "sglang"])
@pytest.mark.parametrize(("extra", "effort"), GPT_OSS_CASES)
async def test_effort_reaches_gpt_oss_as_reasoning_effort(
    rig_factory: RigFactory, dialect: str, extra: dict[str, Any], effort: str
) -> None:
    rig = await rig_factory(dialect, models=ModelMap(default="openai/gpt-oss-120b"))
    await rig.client().messages.create(model="claude-opus-4-8", max_tokens=21000, messages=HI, **extra)
    assert switches(rig.engine.requests[-1]) == {"reasoning_effort": effort}


@pytest.mark.parametrize("dialect", ["vllm", "sglang", "llamacpp"])
async def test_effort_alone_is_not_a_template_switch(rig_factory: RigFactory, dialect: str) -> None:
    """Qwen3-style templates take on/off only: adaptive thinking leaves the model's default."""
    rig = await rig_factory(dialect)
    await rig.client().messages.create(model="m", max_tokens=100, messages=HI, **ADAPTIVE)
    assert switches(rig.engine.requests[-1]) == {}


def test_effort_mapping() -> None:
    table = {
        e: (map_effort(e, OLLAMA_EFFORTS), map_effort(e, GPT_OSS_EFFORTS))
        for e in ("low", "medium", "high", "xhigh", "max", "minimal")
    }
    assert table == {
        "low": ("low", "low"),
        "medium": ("medium", "medium"),
        "high": ("high", "high"),
        "xhigh": ("high", "high"),
        "max": ("high", "high"),
        "minimal": ("low", "low"),
    }
    assert map_effort("max", ("low", "medium", "high", "max")) == "max"


def test_strip_switch_keeps_other_template_kwargs() -> None:
    body = {"reasoning_effort": "high", "chat_template_kwargs": {"enable_thinking": True, "custom": 1}}
    assert strip_switch(body) is True and body == {"chat_template_kwargs": {"custom": 1}}
    assert strip_switch(body) is False


@pytest.mark.parametrize(
    ("status", "message", "refused"),
    [
        (400, '"qwen2.5-coder:7b" does not support thinking', True),
        (400, "invalid reasoning value: 'xhigh'", True),
        (400, "Unrecognized request argument supplied: reasoning_effort", True),
        (400, "prompt is too long", False),
        (500, "does not support thinking", False),
    ],
)
def test_refusals(status: int, message: str, refused: bool) -> None:
    assert refuses_switch(status, message) is refused


def test_dialects_unchanged_for_plain_openai() -> None:
    from ccb.proxy.translate.request import translate

    body = {"model": "m", "max_tokens": 10, "messages": HI, **ADAPTIVE}
    out = translate(body, model="gpt-oss-20b", dialect=dialect_for("openai"), stream=False).body
    assert switches(out) == {}  # hosted OpenAI-style APIs get no engine-specific fields
