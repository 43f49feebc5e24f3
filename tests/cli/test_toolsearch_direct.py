"""Routes to an upstream that implements tool search itself pass it through untouched: `ccb launch` on a
native Anthropic profile, the real Claude Code, a ToolSearch round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_engine import Answer
from tests.support.claude import launch_env
from tests.support.cli import add_anthropic_profile
from tests.support.processes import run_ccb
from tests.support.servers import serving

pytestmark = pytest.mark.claude

KEY = "sk-native-abcdef123456"


async def test_tool_search_reaches_a_native_upstream_untouched(tmp_path: Path, claude_version: str) -> None:
    upstream = FakeAnthropic(key=KEY)
    upstream.push(
        Answer(tool_calls=[("ToolSearch", {"query": "select:CronList"})]),
        Answer(tool_calls=[("CronList", {})]),
        Answer(text="No jobs."),
    )
    # 2.1.197 defers tools only when asked to; 2.1.304 and later do it by default.
    extra = {"ENABLE_TOOL_SEARCH": "true"} if claude_version == "2.1.197" else {}
    async with serving(upstream.app) as url:
        add_anthropic_profile("nat", url, api_key_env="NATIVE_KEY", model="native-model")
        code, out, err = await run_ccb(
            "launch",
            "nat",
            "--",
            "-p",
            "list my cron jobs",
            "--dangerously-skip-permissions",
            "--max-turns",
            "5",
            env=launch_env(NATIVE_KEY=KEY, **extra),
            cwd=tmp_path,
            timeout=180,
        )
    assert code == 0, err
    assert out.strip() == "No jobs."
    first, second, third = upstream.requests
    assert "CronList" not in [t["name"] for t in first["tools"]]
    if claude_version != "2.1.197":
        assert {"name": "DeferredToolPlaceholder", "defer_loading": True}.items() <= next(
            t for t in first["tools"] if t["name"] == "DeferredToolPlaceholder"
        ).items()
    # The search result is Anthropic's own shape, and the found tool arrives deferred, as Claude Code sent them.
    result = next(
        b
        for m in second["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    )
    assert result["content"] == [{"type": "tool_reference", "tool_name": "CronList"}]
    cron = next(t for t in second["tools"] if t["name"] == "CronList")
    assert cron["defer_loading"] is True and cron["input_schema"]["type"] == "object"
    assert any(
        b.get("type") == "tool_use" and b.get("name") == "CronList"
        for m in third["messages"]
        if m["role"] == "assistant"
        for b in m["content"]
    )
