"""The real Claude Code CLI (npm, pinned) under `ccb launch`: a tool round trip through the bridge and direct."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_engine import Answer, FakeEngine
from tests.support.claude import launch_env
from tests.support.cli import add_anthropic_profile, ccb
from tests.support.processes import run_ccb
from tests.support.servers import serving

pytestmark = pytest.mark.claude


ARGS = ["--", "-p", "create the file", "--dangerously-skip-permissions", "--max-turns", "4"]


async def test_launch_through_the_bridge(tmp_path: Path) -> None:
    target = tmp_path / "via-bridge.txt"
    engine = FakeEngine("sglang", context=131072)
    engine.push(
        Answer(text="Writing.", tool_calls=[("Write", {"file_path": str(target), "content": "bridge\n"})]),
        Answer(text="Done."),
    )
    async with serving(engine.app) as url:
        ccb("profile", "add", "sg", "--preset", "sglang", "--base-url", url + "/v1", "--model", "qwen3")
        code, out, err = await run_ccb("launch", "sg", *ARGS, env=launch_env(), cwd=tmp_path, timeout=180)
    assert code == 0, err
    assert out.strip() == "Done."
    assert target.read_text() == "bridge\n"
    chats = [r for r in engine.requests if "count_tokens" not in r]  # the probe's read-only count is not a turn
    assert len(chats) == 2 and chats[0]["model"] == "qwen3"


async def test_launch_direct_to_a_native_anthropic_upstream(tmp_path: Path) -> None:
    target = tmp_path / "direct.txt"
    upstream = FakeAnthropic(key="sk-native-abcdef123456")
    upstream.push(
        Answer(text="Writing.", tool_calls=[("Write", {"file_path": str(target), "content": "direct\n"})]),
        Answer(text="Done directly."),
    )
    async with serving(upstream.app) as url:
        add_anthropic_profile("nat", url, api_key_env="NATIVE_KEY", model="kimi-k2.7-code")
        code, out, err = await run_ccb(
            "launch", "nat", *ARGS, env=launch_env(NATIVE_KEY="sk-native-abcdef123456"), cwd=tmp_path, timeout=180
        )
    assert code == 0, err
    assert out.strip() == "Done directly."
    assert target.read_text() == "direct\n"
    assert upstream.requests[0]["model"] == "kimi-k2.7-code"
    assert all(h["Authorization"] == "Bearer sk-native-abcdef123456" for h in upstream.headers)
    # Direct means untouched: the body Claude Code built reaches the provider as it is.
    assert any(m["role"] == "system" for m in upstream.requests[0]["messages"])
    assert os.environ.get("NATIVE_KEY") is None


async def test_launch_gives_claude_the_engines_window_and_an_output_limit_that_fits(tmp_path: Path) -> None:
    """A 64k window: Claude Code plans with it (not its 1M/200k guess) and never asks for more than a quarter
    of it, even when an answer stops at max_tokens (2.1.327+ would otherwise retry asking for 128k)."""
    upstream = FakeAnthropic(key="sk-native-abcdef123456")
    upstream.default = Answer(text="cut off", finish="length")
    async with serving(upstream.app) as url:
        add_anthropic_profile("small", url, api_key_env="NATIVE_KEY", model="small-model", context_length=65536)
        code, out, err = await run_ccb(
            "launch",
            "small",
            "--",
            "-p",
            "write a long essay",
            "--output-format",
            "json",
            "--max-turns",
            "6",
            env=launch_env(NATIVE_KEY="sk-native-abcdef123456"),
            cwd=tmp_path,
            timeout=180,
        )
    result = json.loads(out.strip().splitlines()[-1])
    assert result["modelUsage"]["small-model"]["contextWindow"] == 65536, (code, err)
    sent = [r["max_tokens"] for r in upstream.requests]
    assert len(sent) >= 2 and set(sent) == {16384}, sent


def _explore_engine(body: dict[str, Any]) -> Answer:
    """The main model sends an Explore agent once; the agent (on whatever model) answers at once."""
    if body["model"] != "main-model":
        return Answer(text="Explored: nothing interesting.")
    calls = [c for m in body["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    if not calls:
        return Answer(
            tool_calls=[
                ("Agent", {"description": "Look around", "prompt": "List the files here.", "subagent_type": "Explore"})
            ]
        )
    return Answer(text="The agent has looked around.")


async def test_a_profiles_subagent_model_runs_explore_agents(tmp_path: Path) -> None:
    """A profile's subagent model reaches Explore agents (2.1.332 gives them the main model unless forced)."""
    engine = FakeEngine("sglang", context=131072)
    engine.choose = _explore_engine
    async with serving(engine.app) as url:
        ccb(
            "profile",
            "add",
            "sub",
            "--preset",
            "sglang",
            "--base-url",
            url + "/v1",
            "--model",
            "main-model",
            "--subagent-model",
            "agent-model",
        )
        code, _out, err = await run_ccb(
            "launch",
            "sub",
            "--",
            "-p",
            "explore this folder",
            "--dangerously-skip-permissions",
            "--max-turns",
            "6",
            env=launch_env(),
            cwd=tmp_path,
            timeout=240,
        )
    assert code == 0, err
    models = [r["model"] for r in engine.requests if r.get("messages")]
    assert "agent-model" in models, models
    assert set(models) <= {"main-model", "agent-model"}
