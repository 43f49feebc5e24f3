"""Fixtures for the reliability suite: a bridge on loopback in front of a fault-injecting engine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from ccb.proxy.config import BridgeConfig, ModelMap, dialect_for
from ccb.proxy.runner import RunningBridge, start_bridge
from tests.fakes.faulty_engine import FaultyEngine
from tests.reliability.helpers import AUTH, TOKEN, Answered, ThreadBridge, ask, exchange


@dataclass
class FaultRig:
    engine: FaultyEngine
    bridge: RunningBridge
    config: BridgeConfig

    async def post(
        self,
        body: dict[str, Any],
        *,
        path: str = "/v1/messages",
        guard: float = 20.0,
        headers: dict[str, str] | None = None,
    ) -> Answered:
        """One request on its own connection; `guard` only stops a hang from stalling the suite."""
        timeout = aiohttp.ClientTimeout(total=guard)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(self.bridge.url + path, json=body, headers=headers or AUTH) as resp,
        ):
            return Answered(resp.status, CIMultiDict(resp.headers), await resp.read())


RigFactory = Callable[..., Awaitable[FaultRig]]


@pytest.fixture
async def faulty_rig() -> AsyncIterator[RigFactory]:
    """`await faulty_rig(**config)`: a fresh engine and bridge; config overrides BridgeConfig fields."""
    started: list[FaultRig] = []

    async def make(**overrides: Any) -> FaultRig:
        engine = await FaultyEngine().start()
        config = BridgeConfig(
            upstream=engine.url,
            models=ModelMap(default="fake-model"),
            auth_token=TOKEN,
            dialect=dialect_for("vllm"),
            context_length=32768,
        )
        config = replace(config, **overrides)
        rig = FaultRig(engine, await start_bridge(config), config)
        started.append(rig)
        return rig

    yield make
    for rig in started:
        await rig.bridge.stop()
        await rig.engine.stop()


@pytest.fixture(scope="module")
def bridge() -> Iterator[ThreadBridge]:
    """One engine and bridge in a background thread, shared by a module's synchronous property tests."""
    with ThreadBridge() as running:
        yield running


@pytest.fixture(autouse=True)
def _bridge_survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that used the shared bridge, it still answers a valid request."""
    yield
    if "bridge" in request.fixturenames:
        running: ThreadBridge = request.getfixturevalue("bridge")
        body = json.dumps(ask("alive?", stream=False)).encode()
        answer = exchange(running.port, "POST", "/v1/messages", [("x-api-key", TOKEN)], body)
        assert answer.status == 200 and b"echo: alive?" in answer.body
