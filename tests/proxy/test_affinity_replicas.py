"""Two genuine llama.cpp replicas behind a hash-by-header router: with affinity, turn 2 of every session lands
on the replica that served turn 1 and reuses its cached prefix; without it, the router spreads turns around."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import anthropic
import pytest
import pytest_asyncio
from aiohttp import web

from ccb.proxy.config import BridgeConfig, ModelMap, dialect_for
from ccb.proxy.runner import start_bridge
from tests.support.processes import llama_server

pytestmark = [pytest.mark.engine, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

TOKEN = "affinity-token"
ROUTER_HEADER = "x-session-id"


@dataclass
class Router:
    """A minimal router: hash of the session header picks the replica; without it, round robin."""

    replicas: list[str]
    served: list[tuple[str | None, int]] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    _next: itertools.count = field(default_factory=itertools.count)

    def pick(self, key: str | None) -> int:
        if key:
            return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % len(self.replicas)
        return next(self._next) % len(self.replicas)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get(ROUTER_HEADER)
        index = self.pick(key)
        self.served.append((key, index))
        assert self.session is not None
        async with self.session.post(
            self.replicas[index] + "/v1/chat/completions",
            data=await request.read(),
            headers={"Content-Type": "application/json"},
        ) as upstream:
            out = web.StreamResponse(
                status=upstream.status, headers={"Content-Type": upstream.headers.get("Content-Type", "")}
            )
            await out.prepare(request)
            async for data in upstream.content.iter_any():
                await out.write(data)
            await out.write_eof()
            return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def replicas() -> AsyncIterator[list[str]]:
    async with contextlib.AsyncExitStack() as stack:  # both start at once
        yield list(await asyncio.gather(*(stack.enter_async_context(llama_server(8192)) for _ in range(2))))


SYSTEM = "You are a terse assistant for a code base. Answer in a few words."


def _pasted(sid: str) -> str:
    """A different file per session: the conversation, not the shared system prompt, is most of the prefix."""
    seed = int(hashlib.sha256(sid.encode()).hexdigest()[:8], 16)
    rng = random.Random(seed)
    words = [
        "parser",
        "socket",
        "buffer",
        "thread",
        "module",
        "vector",
        "cursor",
        "record",
        "signal",
        "tensor",
        "kernel",
        "branch",
        "commit",
        "output",
        "filter",
        "stream",
    ]
    lines = [
        f"def f{seed}_{i}({rng.choice(words)}, {rng.choice(words)}): return {rng.choice(words)}" for i in range(30)
    ]
    return "\n".join(lines)


async def _conversations(router: Router, affinity: tuple[str, ...], sessions: list[str]) -> list[float]:
    """Turn 1 of every session, then turn 2 of every session; per session, the share of turn 1's prompt
    that turn 2 read from the engine's cache."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", router.forward)
    session = router.session = aiohttp.ClientSession()
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    router_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    config = BridgeConfig(
        upstream=router_url,
        models=ModelMap(default="smollm2"),
        auth_token=TOKEN,
        dialect=dialect_for("llamacpp"),
        context_length=8192,
        affinity_headers=affinity,
    )
    bridge = await start_bridge(config)
    client = anthropic.AsyncAnthropic(base_url=bridge.url, api_key=TOKEN, max_retries=0, timeout=300)
    try:
        first: dict[str, tuple[list[dict[str, str]], int]] = {}
        for sid in sessions:
            messages = [{"role": "user", "content": f"Here is a file:\n{_pasted(sid)}\nWhat does it define?"}]
            reply = await client.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=8,
                system=SYSTEM,
                messages=messages,
                extra_headers={"X-Claude-Code-Session-Id": sid},
            )
            text = "".join(b.text for b in reply.content if b.type == "text") or "Functions."
            prompt = reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0)
            first[sid] = ([*messages, {"role": "assistant", "content": text}], prompt)
        shares = []
        for sid in sessions:
            history, prompt = first[sid]
            reply = await client.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=8,
                system=SYSTEM,
                messages=[*history, {"role": "user", "content": "Which one is first?"}],
                extra_headers={"X-Claude-Code-Session-Id": sid},
            )
            shares.append((reply.usage.cache_read_input_tokens or 0) / prompt)
        return shares
    finally:
        await client.close()
        await bridge.stop()
        await runner.cleanup()
        await session.close()


async def test_turn_two_reuses_the_prefix_with_affinity(replicas: list[str]) -> None:
    sessions = [f"session-{i}-{random.Random(i).getrandbits(64):x}" for i in range(3)]
    router = Router(replicas)
    shares = await _conversations(router, ("x-session-id",), sessions)
    # Each session's two turns went to one replica, chosen by its id.
    for sid in sessions:
        assert len({index for key, index in router.served if key == sid}) == 1
    assert all(key in sessions for key, _ in router.served)
    assert min(shares) >= 0.9, shares


async def test_without_affinity_turns_scatter_and_lose_the_prefix(replicas: list[str]) -> None:
    # Three sessions over two replicas by round robin: every turn 2 lands on the other replica.
    sessions = [f"other-{i}" for i in range(3)]
    router = Router(replicas)
    shares = await _conversations(router, (), sessions)
    assert all(key is None for key, _ in router.served)
    assert max(shares) < 0.5, shares
