"""Tool search end to end: the official anthropic SDK through the bridge, and the real Claude Code CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_engine import Answer, FakeEngine
from tests.proxy.conftest import RigFactory
from tests.proxy.test_claude_code import start_engine
from tests.proxy.translate.test_toolsearch import BASH, CRON, PLACEHOLDER, SEARCH
from tests.support.claude import claude_env, run_claude
from tests.support.processes import ServeProcess


def definitions(text: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in map(json.loads, re.findall(r"<function>(.*?)</function>", text))}


def tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools", [])]


@pytest.mark.parametrize("dialect", ["vllm", "llamacpp"])
async def test_sdk_search_then_call(rig_factory: RigFactory, dialect: str) -> None:
    rig = await rig_factory(dialect)
    client = rig.client()
    rig.engine.push(
        Answer(tool_calls=[("ToolSearch", {"query": "select:CronList"})]),
        Answer(tool_calls=[("CronList", {})]),
        Answer(text="No jobs."),
    )
    tools: Any = [BASH, SEARCH, PLACEHOLDER]
    history: Any = [{"role": "user", "content": "list my cron jobs"}]
    first = await client.messages.create(model="m", max_tokens=100, messages=history, tools=tools)
    search = first.content[0]
    assert search.type == "tool_use" and search.name == "ToolSearch"
    # As Claude Code does: the found tool joins `tools` (deferred), the result is a tool_reference.
    tools = [BASH, CRON, SEARCH, PLACEHOLDER]
    history += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": search.id,
                    "content": [{"type": "tool_reference", "tool_name": "CronList"}],
                }
            ],
        },
    ]
    second = await client.messages.create(model="m", max_tokens=100, messages=history, tools=tools)
    call = second.content[0]
    assert call.type == "tool_use" and call.name == "CronList"
    history += [
        {"role": "assistant", "content": [b.model_dump() for b in second.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "none"}]},
    ]
    third = await client.messages.create(model="m", max_tokens=100, messages=history, tools=tools)
    assert third.content[0].text == "No jobs."

    one, two, three = rig.engine.requests
    assert tool_names(one) == ["Bash", "ToolSearch"]
    assert tool_names(two) == tool_names(three) == ["Bash", "ToolSearch", "CronList"]
    result = next(m for m in two["messages"] if m["role"] == "tool")
    assert definitions(result["content"])["CronList"]["parameters"]["additionalProperties"] is False
    assert "DeferredToolPlaceholder" not in json.dumps(rig.engine.requests)


@pytest.mark.claude
async def test_claude_code_finds_a_deferred_tool_and_runs_it(
    tmp_path: Path, isolated_home: Path, claude_version: str
) -> None:
    """The engine calls ToolSearch("select:CronList"), then CronList; Claude Code runs it."""
    engine = FakeEngine("vllm", context=131072)
    engine.push(
        Answer(tool_calls=[("ToolSearch", {"query": "select:CronList"})]),
        Answer(tool_calls=[("CronList", {})]),
        Answer(text="You have no scheduled jobs."),
    )
    runner, url = await start_engine(engine)
    # 2.1.197 defers tools only when asked to; 2.1.304 and later do it by default on any base URL.
    extra = {"ENABLE_TOOL_SEARCH": "true"} if claude_version == "2.1.197" else {}
    try:
        async with ServeProcess(
            "--upstream", url, "--model", "fake-model", "--auth-token", "t0k", "--engine", "vllm"
        ) as serve:
            env = claude_env(isolated_home, serve.url, "t0k", **extra)
            done = await run_claude(
                ["-p", "list my cron jobs", "--dangerously-skip-permissions", "--max-turns", "5"], env, tmp_path
            )
    finally:
        await runner.cleanup()
    assert done.returncode == 0, done
    assert done.result["is_error"] is False
    assert done.result["result"] == "You have no scheduled jobs."
    first, second, third = engine.requests
    assert "CronList" not in tool_names(first) and "ToolSearch" in tool_names(first)
    # The engine's second request offers CronList, after the tools it already had, and the ToolSearch result
    # carries CronList's complete definition.
    assert tool_names(second)[-1] == "CronList"
    assert second["tools"][:-1] == first["tools"]
    result = second["messages"][-1] if second["messages"][-1]["role"] == "tool" else second["messages"][-2]
    found = definitions(result["content"])["CronList"]
    assert found["description"] and found["parameters"]["type"] == "object"
    assert found == second["tools"][-1]["function"]
    # Claude Code ran CronList: its result (not an error) reached the engine with the third request.
    call = third["messages"][-2]["tool_calls"][0]
    assert call["function"]["name"] == "CronList"
    answer = third["messages"][-1]
    assert answer["tool_call_id"] == call["id"] and not answer["content"].startswith("Error")
    assert "DeferredToolPlaceholder" not in json.dumps(engine.requests)
