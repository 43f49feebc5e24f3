"""A genuine engine: llama.cpp's own server (xllamacpp) with SmolLM2-135M, both from PyPI, behind `ccb serve`."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support.claude import claude_env, run_claude
from tests.support.processes import ServeProcess, llama_server

# One server for the module: its event loop must live as long as the fixture does.
pytestmark = [pytest.mark.engine, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def llama() -> AsyncIterator[str]:
    async with llama_server(8192) as url:
        yield url + "/v1"


async def test_claude_gets_a_real_answer(llama: str, tmp_path: Path, isolated_home: Path) -> None:
    async with ServeProcess(
        "--upstream", llama, "--model", "smollm2", "--auth-token", "tok", "--engine", "llamacpp"
    ) as serve:
        done = await run_claude(
            ["--bare", "-p", "Say hello in one short sentence."],
            claude_env(isolated_home, serve.url, "tok", model="smollm2"),
            tmp_path,
        )
    assert done.returncode == 0, done
    assert done.result["is_error"] is False
    assert done.result["result"].strip()
    assert done.result["usage"]["output_tokens"] > 0


async def test_overflowing_prompt_is_prompt_too_long(llama: str, tmp_path: Path, isolated_home: Path) -> None:
    rng = random.Random(7)
    words = ["alpha", "river", "stone", "cloud", "market", "window", "silver", "engine", "garden", "paper"]
    pasted = " ".join(rng.choice(words) for _ in range(9000))  # ≈58 KB, past the 8192-token window
    # No --engine: the bridge identifies llama.cpp and its window by probing it.
    async with ServeProcess("--upstream", llama, "--model", "smollm2", "--auth-token", "tok") as serve:
        done = await run_claude(
            ["--bare", "-p", f"Summarise this:\n{pasted}"],
            claude_env(isolated_home, serve.url, "tok", model="smollm2"),
            tmp_path,
        )
    assert done.returncode == 1
    assert done.result["is_error"] is True
    assert done.result["api_error_status"] == 400
    assert done.result.get("terminal_reason") == "prompt_too_long"
    assert "Prompt is too long" in done.result["result"]


async def test_prefill_is_continued_and_never_repeated(llama: str) -> None:
    """llama.cpp continues a final assistant message by itself; its whole (non-streamed) answer restates the
    prefill, its stream does not. Through the bridge, both answers are the continuation alone."""
    import anthropic

    prefill = "one, two, three,"
    history: Any = [
        {"role": "user", "content": "Count from one to ten in words."},
        {"role": "assistant", "content": prefill},
    ]
    async with (
        ServeProcess("--upstream", llama, "--model", "smollm2", "--auth-token", "tok", "--engine", "llamacpp") as serve,
        anthropic.AsyncAnthropic(base_url=serve.url, api_key="tok", max_retries=0) as client,
    ):
        whole = await client.messages.create(
            model="smollm2", max_tokens=8, messages=history, extra_body={"temperature": 0}
        )
        async with client.messages.stream(
            model="smollm2", max_tokens=8, extra_body={"temperature": 0}, messages=history
        ) as stream:
            streamed = await stream.get_final_message()
    texts = ["".join(b.text for b in m.content if b.type == "text") for m in (whole, streamed)]
    assert texts[0] == texts[1], texts
    assert texts[0].strip() and not texts[0].lstrip().startswith(prefill), texts
