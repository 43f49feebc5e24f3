"""Fixtures for bridge tests: a fake engine and a bridge in front of it, both on real loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import anthropic
import pytest
from aiohttp import web

from ccb.proxy.config import BridgeConfig, ModelMap, dialect_for
from ccb.proxy.runner import RunningBridge, start_bridge
from tests.fakes.openai_engine import FakeEngine

TOKEN = "test-token-123"


@dataclass
class Rig:
    engine: FakeEngine
    bridge: RunningBridge
    engine_url: str
    _client: anthropic.AsyncAnthropic | None = None

    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = anthropic.AsyncAnthropic(base_url=self.bridge.url, api_key=TOKEN, max_retries=0)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig_factory() -> AsyncIterator[RigFactory]:
    started: list[tuple[web.AppRunner, Rig]] = []

    async def make(dialect: str = "vllm", *, context: int = 32768, **config: Any) -> Rig:
        engine = FakeEngine(dialect, context=context)
        runner = web.AppRunner(engine.app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        cfg = BridgeConfig(
            upstream=url, models=ModelMap(default="fake-model"), auth_token=TOKEN, dialect=dialect_for(dialect)
        )
        cfg = replace(cfg, **config)
        rig = Rig(engine, await start_bridge(cfg), url)
        started.append((runner, rig))
        return rig

    yield make
    for runner, rig in started:
        await rig.close()
        await rig.bridge.stop()
        await runner.cleanup()


@pytest.fixture
async def rig(rig_factory: RigFactory) -> Rig:
    return await rig_factory("vllm")
