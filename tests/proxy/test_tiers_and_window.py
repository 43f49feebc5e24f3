"""Model tiers (Claude Code 2.1.332's Fable tier) and a window learned from an engine that started late."""

from __future__ import annotations

import socket
from typing import Any

import anthropic
import pytest
from aiohttp import web

from ccb.proxy.config import BridgeConfig, ModelMap, dialect_for
from ccb.proxy.runner import start_bridge
from ccb.proxy.server import UPSTREAM
from tests.fakes.openai_engine import FakeEngine
from tests.proxy.conftest import TOKEN, RigFactory

MAP = ModelMap(default="main", opus="big", sonnet="mid", haiku="small", fable="story")
TIER_CASES = [
    ("claude-fable-5-2", MAP, "story"),  # 2.1.332's fable alias
    ("claude-fable-5", MAP, "story"),  # 2.1.197's
    ("fable", MAP, "story"),
    ("claude-opus-5-5", MAP, "big"),
    ("claude-sonnet-5-5", MAP, "mid"),
    ("claude-haiku-5-5", MAP, "small"),
    ("qwen3-coder", MAP, "main"),
    ("claude-fable-5-2", ModelMap(default="main", opus="big"), "main"),  # no fable slot: the default
]


@pytest.mark.parametrize(("requested", "models", "expected"), TIER_CASES)
def test_tiers(requested: str, models: ModelMap, expected: str) -> None:
    assert models.resolve(requested) == expected


async def test_fable_requests_reach_the_fable_model(rig_factory: RigFactory) -> None:
    rig = await rig_factory("vllm", models=MAP)
    await rig.client().messages.create(
        model="claude-fable-5-2", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert rig.engine.requests[-1]["model"] == "story"
    listed = [m.id async for m in rig.client().models.list()]
    assert "story" in listed
    assert (await rig.client().models.retrieve("claude-fable-5-2")).display_name == "claude-fable-5-2 (served by story)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_window_is_learned_once_a_late_engine_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    bridge = await start_bridge(
        BridgeConfig(upstream=url, models=ModelMap(default="fake-model"), auth_token=TOKEN, dialect=dialect_for("vllm"))
    )
    engine = FakeEngine("vllm", context=4096)
    probes: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "GET":
            probes.append(request.path)
        return await handler(request)

    engine.app.middlewares.append(count)
    runner = web.AppRunner(engine.app)
    client = anthropic.AsyncAnthropic(base_url=bridge.url, api_key=TOKEN, max_retries=0)
    upstream = bridge.runner.app[UPSTREAM]
    hi: Any = [{"role": "user", "content": "hi"}]
    try:
        with pytest.raises(anthropic.APIStatusError) as down:
            await client.messages.create(model="m", max_tokens=20000, messages=hi)
        assert down.value.status_code == 502
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        # Within the retry interval the bridge does not probe again: the request goes out unclamped.
        await client.messages.create(model="m", max_tokens=20000, messages=hi)
        assert engine.requests[-1]["max_tokens"] == 20000 and probes == []
        # Once the interval has passed, the next request learns the window and clamps max_tokens to it.
        monkeypatch.setattr(upstream, "_window_retry_at", 0.0)
        await client.messages.create(model="m", max_tokens=20000, messages=hi)
        assert engine.requests[-1]["max_tokens"] < 4096
        assert probes == ["/v1/models"]
        await client.messages.create(model="m", max_tokens=20000, messages=hi)
        assert probes == ["/v1/models"]  # known now: never asked again
    finally:
        await client.close()
        await bridge.stop()
        await runner.cleanup()
