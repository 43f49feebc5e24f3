"""Session affinity: Claude Code's session id reaches the engine in the header routers hash on."""

from __future__ import annotations

import json

import pytest

from ccb.proxy.affinity import engine_headers, header_name_problem, session_id
from tests.fakes.openai_engine import Answer
from tests.proxy.conftest import RigFactory

SID = "5f0c7a52-3a5e-4a4e-9d56-0d1f4c2b9e11"


def _user_id(sid: str) -> str:
    return json.dumps({"device_id": "ab" * 32, "account_uuid": "", "session_id": sid})


def test_session_id_from_claude_codes_header() -> None:
    assert session_id({"X-Claude-Code-Session-Id": SID}, {}) == SID


def test_session_id_from_metadata_when_a_gateway_dropped_the_header() -> None:
    assert session_id({}, {"metadata": {"user_id": _user_id(SID)}}) == SID


@pytest.mark.parametrize("value", ["a\nb", "x" * 200, "", "two words"])
def test_unsafe_session_ids_are_not_sent(value: str) -> None:
    assert session_id({"X-Claude-Code-Session-Id": value}, {}) is None
    assert session_id({}, {"metadata": {"user_id": _user_id(value)}}) is None


@pytest.mark.parametrize("user_id", ["not json", '{"session_id": 5}', "[1]", '"session_id"'])
def test_odd_metadata_gives_no_session(user_id: str) -> None:
    assert session_id({}, {"metadata": {"user_id": user_id}}) is None


def test_engine_headers() -> None:
    base = {"Content-Type": "application/json"}
    assert engine_headers(base, ("x-session-id",), None) is base
    assert engine_headers(base, (), SID) is base
    assert engine_headers(base, ("x-session-id", "x-smg-routing-key"), SID) == {
        **base,
        "x-session-id": SID,
        "x-smg-routing-key": SID,
    }


def test_header_names_checked() -> None:
    assert header_name_problem("x-session-id") is None
    assert header_name_problem("bad header") is not None
    assert header_name_problem("Authorization") is not None


async def test_engine_receives_the_session_id(rig_factory: RigFactory) -> None:
    rig = await rig_factory("vllm")
    rig.engine.push(Answer(text="one"), Answer(text="two"), Answer(text="three"))
    client = rig.client()
    await client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"X-Claude-Code-Session-Id": SID},
    )
    assert rig.engine.headers[-1]["x-session-id"] == SID
    await client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
        metadata={"user_id": _user_id("other-session")},
    )
    assert rig.engine.headers[-1]["x-session-id"] == "other-session"
    await client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert "x-session-id" not in {k.lower() for k in rig.engine.headers[-1]}


async def test_affinity_header_names_configurable(rig_factory: RigFactory) -> None:
    rig = await rig_factory("sglang", affinity_headers=("x-smg-routing-key",))
    rig.engine.push(Answer(text="one"))
    await rig.client().messages.create(
        model="m",
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"X-Claude-Code-Session-Id": SID},
    )
    sent = {k.lower(): v for k, v in rig.engine.headers[-1].items()}
    assert sent["x-smg-routing-key"] == SID
    assert "x-session-id" not in sent
