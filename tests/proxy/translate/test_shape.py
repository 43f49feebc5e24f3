"""The conversation's shape through the bridge: merged same-role turns, continued prefills (SDK on loopback)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.openai_engine import DIALECTS, Answer
from tests.proxy.conftest import RigFactory

CONTINUE = {"continue_final_message": True, "add_generation_prompt": False}


def roles(sent: dict[str, Any]) -> list[str]:
    return [m["role"] for m in sent["messages"]]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_consecutive_same_role_messages_are_merged(rig_factory: RigFactory, dialect: str) -> None:
    rig = await rig_factory(dialect)
    history: Any = [
        {"role": "user", "content": "first"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
        {"role": "assistant", "content": "Let me look."},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}]},
        {"role": "system", "content": "Agents available: Explore"},
        {"role": "user", "content": "<system-reminder>todo list is empty</system-reminder>"},
        {"role": "user", "content": "and now?"},
    ]
    await rig.client().messages.create(model="m", max_tokens=100, messages=history)
    sent = rig.engine.requests[-1]
    assert roles(sent) == ["system", "user", "assistant", "tool", "user"]
    assert sent["messages"][0]["content"] == "Agents available: Explore"
    assert sent["messages"][1]["content"] == "first\n\nsecond"
    assert sent["messages"][2]["content"] == "Let me look."
    assert sent["messages"][2]["tool_calls"][0]["id"] == "toolu_1"
    assert sent["messages"][3]["content"] == "a.txt"
    assert sent["messages"][4]["content"] == "<system-reminder>todo list is empty</system-reminder>\n\nand now?"
    assert not any(k in sent for k in CONTINUE)


async def test_a_folded_system_message_between_user_turns_leaves_one_user_turn(rig_factory: RigFactory) -> None:
    rig = await rig_factory("vllm")
    history: Any = [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "still there?"},
    ]
    await rig.client().messages.create(model="m", max_tokens=100, messages=history, system="You are helpful.")
    sent = rig.engine.requests[-1]["messages"]
    assert sent == [
        {"role": "system", "content": "You are helpful.\n\nBe terse."},
        {"role": "user", "content": "hi\n\nstill there?"},
    ]


PREFILL: Any = [{"role": "user", "content": "Give me JSON for a=1."}, {"role": "assistant", "content": '{"a":'}]


@pytest.mark.parametrize("dialect", ["vllm", "sglang"])
@pytest.mark.parametrize("stream", [False, True])
async def test_prefill_is_continued_on_engines_with_a_continuation_switch(
    rig_factory: RigFactory, dialect: str, stream: bool
) -> None:
    rig = await rig_factory(dialect)
    rig.engine.push(Answer(text=" 1}"))
    client = rig.client()
    if stream:
        async with client.messages.stream(model="m", max_tokens=100, messages=PREFILL) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(model="m", max_tokens=100, messages=PREFILL)
    assert [b.text for b in message.content if b.type == "text"] == [" 1}"]
    sent = rig.engine.requests[-1]
    assert {k: sent[k] for k in CONTINUE} == CONTINUE
    assert sent["messages"][-1] == {"role": "assistant", "content": '{"a":'}


@pytest.mark.parametrize("dialect", ["ollama", "lmstudio", "llamacpp"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"a": 1}', " 1}"),  # the engine restarted and restated the prefill: the copy is dropped
        (" 1}", " 1}"),  # the engine continued
        ('{"a', '{"a'),  # shorter than the prefill: not a restatement
        ("Sure: 1", "Sure: 1"),
    ],
)
async def test_prefill_is_never_duplicated_in_the_answer(
    rig_factory: RigFactory, dialect: str, stream: bool, answer: str, expected: str
) -> None:
    rig = await rig_factory(dialect)
    rig.engine.push(Answer(text=answer, reasoning="thinking first" if stream else ""))
    client = rig.client()
    if stream:
        async with client.messages.stream(model="m", max_tokens=100, messages=PREFILL) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(model="m", max_tokens=100, messages=PREFILL)
    assert "".join(b.text for b in message.content if b.type == "text") == expected
    sent = rig.engine.requests[-1]
    assert not any(k in sent for k in CONTINUE)
    assert sent["messages"][-1] == {"role": "assistant", "content": '{"a":'}


async def test_an_empty_final_assistant_turn_is_dropped(rig_factory: RigFactory) -> None:
    rig = await rig_factory("vllm")
    history: Any = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}]},
    ]
    rig.engine.push(Answer(text="Hello."))
    message = await rig.client().messages.create(model="m", max_tokens=100, messages=history)
    assert message.content[0].type == "text" and message.content[0].text == "Hello."
    sent = rig.engine.requests[-1]
    assert roles(sent) == ["user"] and not any(k in sent for k in CONTINUE)
