"""The real Claude Code CLI (npm, pinned) through `ccb serve` against scripted fake engines of each dialect."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from tests.fakes.openai_engine import DIALECTS, Answer, FakeEngine
from tests.support.claude import claude_env, run_claude
from tests.support.processes import ServeProcess

pytestmark = pytest.mark.claude


async def start_engine(engine: FakeEngine) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(engine.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_tool_round_trip_writes_a_file(dialect: str, tmp_path: Path, isolated_home: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    target = work / "hello.txt"
    engine = FakeEngine(dialect, context=131072)
    engine.push(
        Answer(
            text="I'll create the file.",
            reasoning="The user wants a file written.",
            tool_calls=[("Write", {"file_path": str(target), "content": "hello from ccb\n"})],
        ),
        Answer(text="Created hello.txt."),
    )
    runner, url = await start_engine(engine)
    try:
        async with ServeProcess(
            "--upstream", url, "--model", "fake-model", "--auth-token", "t0k", "--engine", dialect
        ) as serve:
            env = claude_env(isolated_home, serve.url, "t0k")
            done = await run_claude(
                ["-p", "create hello.txt", "--dangerously-skip-permissions", "--max-turns", "4"], env, work
            )
            assert await serve.stop() == 0  # SIGTERM shuts the bridge down cleanly
    finally:
        await runner.cleanup()
    assert done.returncode == 0, done
    assert done.result["is_error"] is False
    assert done.result["num_turns"] == 2
    assert done.result["result"] == "Created hello.txt."
    assert target.read_text() == "hello from ccb\n"
    # The second turn carried the tool result back to the engine as an OpenAI tool message.
    second = engine.requests[1]["messages"]
    call_id = next(m for m in second if m.get("tool_calls"))["tool_calls"][0]["id"]
    assert any(m["role"] == "tool" and m["tool_call_id"] == call_id for m in second)
    assert all(m["role"] != "system" for m in second[1:])
    assert not any("x-anthropic-billing-header" in str(m.get("content")) for m in second)


async def test_wrong_token_is_an_authentication_failure(tmp_path: Path, isolated_home: Path) -> None:
    engine = FakeEngine("vllm")
    runner, url = await start_engine(engine)
    try:
        async with ServeProcess("--upstream", url, "--model", "fake-model", "--auth-token", "right") as serve:
            done = await run_claude(["-p", "hi"], claude_env(isolated_home, serve.url, "wrong"), tmp_path)
    finally:
        await runner.cleanup()
    assert done.returncode == 1 and done.result["is_error"] is True
    assert done.result["api_error_status"] == 401
    assert engine.requests == []


@pytest.mark.parametrize(
    "capabilities", [["completion", "tools"], ["completion", "tools", "thinking"]], ids=["no-thinking", "thinking"]
)
async def test_ollama_models_get_a_thinking_switch_only_when_they_think(
    capabilities: list[str], tmp_path: Path, isolated_home: Path
) -> None:
    """Claude Code asks for thinking on every turn; an Ollama model without the capability answers a switch with
    400 "does not support thinking", which used to fail every turn."""
    engine = FakeEngine("ollama", context=131072)
    engine.capabilities = capabilities
    engine.push(Answer(text="Hello there."))
    runner, url = await start_engine(engine)
    try:
        async with ServeProcess(
            "--upstream", url, "--model", "fake-model", "--auth-token", "t0k", "--engine", "ollama"
        ) as serve:
            env = claude_env(isolated_home, serve.url, "t0k", MAX_THINKING_TOKENS="4096")
            done = await run_claude(["-p", "say hello"], env, tmp_path)
    finally:
        await runner.cleanup()
    assert done.returncode == 0, done
    assert done.result["is_error"] is False and done.result["result"] == "Hello there."
    efforts = [r.get("reasoning_effort") for r in engine.requests]
    if "thinking" in capabilities:
        assert "low" in efforts or "medium" in efforts or "high" in efforts, efforts  # Claude Code asked to think
    else:
        assert efforts == [None] * len(engine.requests), efforts
    assert engine.shows == ["fake-model"]  # learned once, not per request
