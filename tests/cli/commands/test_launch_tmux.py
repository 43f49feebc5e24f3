"""`ccb launch` in a real terminal (tmux) with the real Claude Code: what an interactive user sees."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_engine import Answer, FakeEngine
from tests.support.claude import claude_path
from tests.support.cli import add_anthropic_profile, ccb
from tests.support.processes import run_ccb
from tests.support.servers import serving
from tests.support.tmux import Terminal

pytestmark = [pytest.mark.claude, pytest.mark.slow]
KEY = "sk-native-abcdef123456"


def terminal_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "CCB_HOME": str(home / ".ccb"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "NO_PROXY": "127.0.0.1,localhost",
        "IS_SANDBOX": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    return {**env, **extra}


def launch_argv(profile: str) -> list[str]:
    return [sys.executable, "-m", "ccb.cli", "launch", profile, "--claude", str(claude_path())]


async def test_model_lists_the_profiles_models(tmp_path: Path, isolated_home: Path, claude_version: str) -> None:
    """`/model` offers the profile's models (2.1.332's modelPicker, the tier names before it) and picking one
    switches to it; a 64k window brings no auto-compact warning."""
    project = tmp_path / "project"
    project.mkdir()
    upstream = FakeAnthropic(key=KEY)
    async with serving(upstream.app) as url:
        add_anthropic_profile(
            "nat", url, api_key_env="NATIVE_KEY", model="kimi-k3", haiku_model="kimi-mini", context_length=65536
        )
        with Terminal(launch_argv("nat"), env=terminal_env(isolated_home, NATIVE_KEY=KEY), cwd=project) as term:
            await term.trust_folder()
            start = await term.wait_for("? for shortcuts", "for agents", timeout=90)
            assert "AUTO_COMPACT_WINDOW" not in start
            term.type("/model")
            await asyncio.sleep(0.8)
            term.keys("Enter")
            picker = await term.wait_for("Select model")
            rows = picker[picker.index("Select model") :]
            assert "kimi-k3" in rows and "kimi-mini" in rows, picker
            assert "ccb profile nat" in rows
            if claude_version != "2.1.197":  # the modelPicker rows: one per model, naming its slots
                assert "haiku · ccb profile nat" in rows, picker
            # Picking a row sends the next prompt to that model.
            await term.select("kimi-mini")
            term.keys("Enter")
            await asyncio.sleep(0.8)
            term.type("hello")
            await asyncio.sleep(0.5)
            term.keys("Enter")
            await term.wait_for("Hello from the native endpoint.")
            turns = [r for r in upstream.requests if r.get("tools")]  # not 2.1.197's title request
            assert turns and turns[-1]["model"] == "kimi-mini", [r["model"] for r in upstream.requests]
            term.type("/exit")
            await asyncio.sleep(0.8)
            term.keys("Enter")
            await term.wait_for("[exit 0]", timeout=30)


def _cron_engine(body: dict[str, Any]) -> Answer:
    """The scripted model: ToolSearch for CronList, then CronList, then the answer. Requests without tools
    (2.1.197's session title, asked alongside the first turn) get a title."""
    if not body.get("tools"):
        return Answer(text='{"title": "Scheduled cron jobs"}')
    answered = sum(1 for m in body["messages"] if m["role"] == "tool")
    if answered == 0:
        return Answer(tool_calls=[("ToolSearch", {"query": "select:CronList", "max_results": 5})])
    if answered == 1:
        return Answer(tool_calls=[("CronList", {})])
    return Answer(text="Nothing is scheduled: the cron list is empty.")


async def test_a_deferred_tool_works_through_toolsearch_in_a_real_terminal(
    tmp_path: Path, isolated_home: Path, claude_version: str
) -> None:
    """`ccb launch` through the bridge, interactive: the engine finds CronList with ToolSearch, gets its definition,
    calls it, and the answer reaches the screen. 2.1.197 defers tools only when asked (ENABLE_TOOL_SEARCH)."""
    project = tmp_path / "project"
    project.mkdir()
    engine = FakeEngine("vllm", context=131072)
    engine.choose = _cron_engine
    extra = {"ENABLE_TOOL_SEARCH": "true"} if claude_version == "2.1.197" else {}
    async with serving(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3-coder")
        with Terminal(launch_argv("local"), env=terminal_env(isolated_home, **extra), cwd=project) as term:
            await term.trust_folder()
            await term.wait_for("? for shortcuts", "for agents", timeout=90)
            term.type("Which cron jobs are scheduled?")
            await asyncio.sleep(0.5)
            term.keys("Enter")
            await term.wait_for("the cron list is empty", timeout=180)
            term.type("/exit")
            await asyncio.sleep(0.8)
            term.keys("Enter")
            await term.wait_for("[exit 0]", timeout=30)
    turns = [r for r in engine.requests if r.get("tools")]
    assert len(turns) == 3, [(len(r["messages"]), len(r["tools"])) for r in turns]
    offered = [{t["function"]["name"] for t in r["tools"]} for r in turns]
    assert "ToolSearch" in offered[0] and "CronList" not in offered[0]
    assert "CronList" in offered[1] and "CronList" in offered[2]
    assert not any("DeferredToolPlaceholder" in names for names in offered)
    # ToolSearch's result reached the engine as CronList's definition, not as an empty answer.
    found = [m for m in turns[1]["messages"] if m["role"] == "tool"][-1]
    assert "<functions>" in found["content"] and '"name": "CronList"' in found["content"], found
    listed = [m for m in turns[2]["messages"] if m["role"] == "tool"][-1]
    assert listed["content"] and "<functions>" not in listed["content"]


async def test_after_a_switch_plain_claude_lists_the_profiles_models(
    tmp_path: Path, isolated_home: Path, claude_version: str
) -> None:
    """`ccb profile switch` puts the profile (env and modelPicker) into ~/.claude/settings.json: plain `claude`
    in a terminal offers its models in `/model` and answers from it; `ccb restore` gives the file back."""
    project = tmp_path / "project"
    project.mkdir()
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(
        json.dumps({"modelPicker": {"options": [{"model": "claude-opus-5-5", "label": "Mine"}]}, "theme": "dark"})
    )
    original = settings.read_bytes()
    upstream = FakeAnthropic(key=KEY)
    async with serving(upstream.app) as url:
        add_anthropic_profile("nat", url, api_key=KEY, model="kimi-k3", haiku_model="kimi-mini")
        code, _, err = await run_ccb("profile", "switch", "nat", env=dict(os.environ), cwd=tmp_path)
        assert code == 0, err
        with Terminal([str(claude_path())], env=terminal_env(isolated_home), cwd=project) as term:
            await term.trust_folder()
            await term.wait_for("? for shortcuts", "for agents", timeout=90)
            term.type("/model")
            await asyncio.sleep(0.8)
            term.keys("Enter")
            picker = await term.wait_for("Select model")
            rows = picker[picker.index("Select model") :]
            assert "kimi-k3" in rows and "kimi-mini" in rows and "Mine" not in rows, picker
            term.keys("Escape")
            await asyncio.sleep(0.8)
            term.type("hello")
            await asyncio.sleep(0.5)
            term.keys("Enter")
            await term.wait_for("Hello from the native endpoint.")
            term.type("/exit")
            await asyncio.sleep(0.8)
            term.keys("Enter")
            await term.wait_for("[exit 0]", timeout=30)
    assert [r["model"] for r in upstream.requests if r.get("tools")] == ["kimi-k3"]
    code, _, err = await run_ccb("restore", env=dict(os.environ), cwd=tmp_path)
    assert code == 0, err
    assert json.loads(settings.read_text()) == json.loads(original)
