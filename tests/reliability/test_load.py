"""Load and soak through a real `ccb serve` process: nothing lost, nothing mixed up, memory bounded and flat.

The bridge runs as its own process, as users start it, so its RSS is measured alone; the fake engine and
the clients share the test process. These are correctness and leak tests: no speed is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Self

import aiohttp
import pytest

from tests.fakes.faulty_engine import Echo, FaultyEngine, Reply, Stream, sse
from tests.fakes.openai_engine import Answer, render_stream
from tests.reliability.helpers import AUTH, TOKEN, ask, error_of
from tests.support.processes import ServeProcess
from tests.support.sse import text as stream_text

MiB = 2**20


@contextlib.asynccontextmanager
async def bridge_process(tmp_path: Path, engine: FaultyEngine) -> AsyncIterator[ServeProcess]:
    async with ServeProcess(
        "--upstream",
        engine.url,
        "--model",
        "fake-model",
        "--engine",
        "vllm",
        "--context-length",
        "32768",
        "--auth-token",
        TOKEN,
        workdir=tmp_path,
    ) as serve:
        yield serve


class PeakRss:
    """Samples a process's RSS in the background; `peak` is the largest value seen."""

    def __init__(self, serve: ServeProcess, every: float = 0.02) -> None:
        self.serve, self.every, self.peak = serve, every, 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.serve.rss())
            await asyncio.sleep(self.every)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.peak = max(self.peak, self.serve.rss())


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    async with session.post(url + "/v1/messages", json=body, headers=AUTH) as resp:
        return resp.status, await resp.read()


async def test_200_concurrent_streams_all_complete_and_well_formed(tmp_path: Path, record_property: Any) -> None:
    clients = 200
    async with FaultyEngine() as engine, bridge_process(tmp_path, engine) as serve:
        # The engine holds every answer until all 200 requests are in: they are truly concurrent.
        engine.default = Echo(together=clients, repeat=3)
        idle_rss = serve.rss()
        timeout = aiohttp.ClientTimeout(total=120)  # hang guard only
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session,
            PeakRss(serve) as sampler,
        ):
            results = await asyncio.gather(
                *(post(session, serve.url, ask(f"client {i} says hello")) for i in range(clients))
            )
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: clients}
    for i, (_, raw) in enumerate(results):
        # Complete, in order, and this client's own answer (no cross-talk between streams).
        assert stream_text(raw) == " ".join([f"echo: client {i} says hello"] * 3)
    assert engine.peak_connections >= clients
    print(
        f"\n{clients} concurrent streams: bridge RSS idle {idle_rss / MiB:.0f} MiB, peak {sampler.peak / MiB:.0f} MiB"
    )
    record_property("load_bridge_idle_rss_mib", round(idle_rss / MiB))
    record_property("load_bridge_peak_rss_mib", round(sampler.peak / MiB))
    assert sampler.peak - idle_rss < 150 * MiB  # generous: ~0.75 MiB per open stream


SOAK_REQUESTS = 10_000
SOAK_WARMUP = 2000
SOAK_CONCURRENCY = 16
DROP = sse(render_stream(Answer(text="cut off here"), "vllm"))[:3]


def soak_case(i: int) -> tuple[str, dict[str, Any]]:
    """Request `i` of the soak: mostly healthy streams, some whole answers, some engine failures."""
    kind = ("stream", "stream", "stream", "stream", "stream", "stream", "json", "json", "drop", "error")[i % 10]
    text = {"drop": "please drop", "error": "please fail"}.get(kind, f"soak {i}")
    return kind, ask(text, stream=kind != "json")


def check_soak_answer(kind: str, body: dict[str, Any], status: int, raw: bytes) -> None:
    text = body["messages"][0]["content"]
    if kind == "stream":
        assert status == 200 and stream_text(raw) == f"echo: {text}"
    elif kind == "json":
        assert status == 200 and raw.count(f"echo: {text}".encode()) == 1
    elif kind == "drop":
        assert status == 200 and "closed the connection" in error_of(raw)["error"]["message"]
    else:
        assert status == 500 and b"engine on fire" in raw


@pytest.mark.slow
async def test_soak_rss_stays_flat(tmp_path: Path, record_property: Any) -> None:
    async with FaultyEngine() as engine, bridge_process(tmp_path, engine) as serve:
        engine.keep_requests = False
        engine.rules = {
            "please drop": Stream(DROP, then="rst"),
            "please fail": Reply(500, b'{"error": {"message": "engine on fire"}}'),
        }
        samples: dict[int, int] = {}
        done = 0
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(SOAK_REQUESTS):
            queue.put_nowait(i)

        async def worker(session: aiohttp.ClientSession) -> None:
            nonlocal done
            while not queue.empty():
                i = queue.get_nowait()
                kind, body = soak_case(i)
                status, raw = await post(session, serve.url, body)
                check_soak_answer(kind, body, status, raw)
                done += 1
                if done % 500 == 0:
                    samples[done] = serve.rss()

        timeout = aiohttp.ClientTimeout(total=60)  # per request: hang guard only
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(worker(session) for _ in range(SOAK_CONCURRENCY)))
    assert done == SOAK_REQUESTS
    mib = {n: round(v / MiB, 1) for n, v in sorted(samples.items())}
    growth = samples[max(samples)] - samples[SOAK_WARMUP]
    print(f"\nsoak of {SOAK_REQUESTS} requests, bridge RSS (MiB) by requests done: {mib}")
    record_property("soak_bridge_rss_mib", mib)
    # Flat after warm-up: a leak of 1 KiB per request would already add 8 MiB here.
    assert growth < 8 * MiB, mib


@pytest.fixture(autouse=True)
def _no_inherited_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCB_UPSTREAM_KEY", raising=False)
    monkeypatch.delenv("CCB_AUTH_TOKEN", raising=False)
