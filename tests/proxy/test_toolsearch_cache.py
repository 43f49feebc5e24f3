"""What a ToolSearch turn costs the engine's prefix (KV) cache, on the real llama.cpp server.

The real Claude Code (default system prompt and tools) is recorded against a scripted Anthropic server while
it calls ToolSearch("select:CronList"), then CronList; its three requests are then replayed through the bridge
to llama.cpp (xllamacpp + SmolLM2, with a chat template that renders tools the way tool-capable templates
do: in the system turn, before the conversation). The engine's own count of cached prompt tokens on the
request after the search must cover at least 90% of that request. docs/tool-search.md has the figures.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from ccb.proxy.config import BridgeConfig, ModelMap, dialect_for
from ccb.proxy.runner import start_bridge
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_engine import Answer
from tests.support.claude import ROOT, claude_env, run_claude
from tests.support.processes import llama_server

pytestmark = [pytest.mark.engine, pytest.mark.claude, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

TEMPLATE = ROOT / "tests" / "fixtures" / "templates" / "chatml-tools.jinja"
N_CTX = 16384  # Claude Code's prompt with its tools rendered is ≈12k SmolLM2 tokens
SLOW = 3600  # seconds: a 12k-token prefill on two busy cores can take many minutes


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def llama_tools() -> AsyncIterator[str]:
    async with llama_server(N_CTX, TEMPLATE) as url:
        yield url + "/v1"


async def record(home: Path, work: Path, version: str) -> list[dict[str, Any]]:
    """Claude Code's three requests of a search-then-call turn, as it sends them."""
    upstream = FakeAnthropic()
    upstream.push(
        Answer(tool_calls=[("ToolSearch", {"query": "select:CronList"})]),
        Answer(tool_calls=[("CronList", {})]),
        Answer(text="No jobs."),
    )
    runner = web.AppRunner(upstream.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    extra = {"ENABLE_TOOL_SEARCH": "true"} if version == "2.1.197" else {}
    try:
        env = claude_env(
            home,
            f"http://127.0.0.1:{runner.addresses[0][1]}",
            "tok",
            model="smollm2",
            CLAUDE_CODE_ATTRIBUTION_HEADER="0",
            **extra,
        )
        done = await run_claude(
            ["-p", "list my cron jobs", "--dangerously-skip-permissions", "--max-turns", "5"], env, work
        )
    finally:
        await runner.cleanup()
    assert done.returncode == 0, done
    assert len(upstream.requests) == 3
    return upstream.requests


async def test_prefix_cache_survives_a_tool_search(
    llama_tools: str, tmp_path: Path, isolated_home: Path, claude_version: str
) -> None:
    requests = await record(isolated_home, tmp_path, claude_version)
    assert any(
        b.get("type") == "tool_reference"
        for m in requests[1]["messages"]
        if isinstance(m["content"], list)
        for r in m["content"]
        if isinstance(r.get("content"), list)
        for b in r["content"]
    )
    bridge = await start_bridge(
        BridgeConfig(
            upstream=llama_tools,
            models=ModelMap(default="smollm2"),
            auth_token="tok",
            dialect=dialect_for("llamacpp"),
            first_byte_timeout=SLOW,
            idle_timeout=SLOW,
        )
    )
    usage: list[dict[str, int]] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SLOW)) as session:
            for sent in requests:
                body = copy.deepcopy(sent)
                body.pop("stream", None)
                body["max_tokens"] = 1  # the prompt is what is measured; generation only costs time
                async with session.post(bridge.url + "/v1/messages", json=body, headers={"x-api-key": "tok"}) as resp:
                    answer = await resp.json()
                    assert resp.status == 200, answer
                usage.append(answer["usage"])
    finally:
        await bridge.stop()
    prompt = [u["input_tokens"] + u["cache_read_input_tokens"] for u in usage]
    cached = [u["cache_read_input_tokens"] for u in usage]
    print(f"Claude Code {claude_version}: prompt tokens {prompt}, cached {cached}")
    assert prompt[0] > 4000  # the real prompt with its tools rendered, not a toy
    assert cached[1] >= 0.9 * prompt[1], (prompt, cached)  # the request right after the ToolSearch turn
    assert cached[2] >= 0.9 * prompt[2], (prompt, cached)
