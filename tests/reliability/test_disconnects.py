"""A client that hangs up stops the engine's work at once, and a thousand of them leak nothing.

The client here is a raw socket: it sends a request, waits until the engine has it (or until the stream
has started), then closes. The fake engine notices its own connection being closed by the bridge.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
import tracemalloc
from collections import Counter

import aiohttp
import psutil
import pytest
from aiohttp import web

from ccb.proxy.translate.stream import StreamTranslator
from tests.fakes.faulty_engine import Silent, Stream, sse
from tests.fakes.openai_engine import Answer, render_stream
from tests.reliability.conftest import FaultRig, RigFactory
from tests.reliability.helpers import TOKEN, ask

PARTIAL = sse(render_stream(Answer(text="an answer the client never waits for"), "vllm"))[:4]
# Objects one request creates. (Finished tasks are left out: asyncio drops cancelled timer handles, which
# point at their tasks, only in batches of 100, so a few finished tasks may briefly outlive their work.
# Unfinished tasks are counted with asyncio.all_tasks instead.)
TRACKED = (aiohttp.ClientResponse, web.StreamResponse, web.BaseRequest, StreamTranslator)


def raw_request(body: dict[str, object]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def until(predicate: object, within: float = 10.0) -> None:
    """Poll `predicate()` until true; a hang guard, not a timing requirement."""
    async with asyncio.timeout(within):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def hang_up(rig: FaultRig, text: str, *, after: bytes | None, sent_before: int) -> None:
    """Send one request and close the connection: once the stream shows `after`, or once the engine has
    received `sent_before + 1` requests in all."""
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.bridge.port)
    try:
        writer.write(raw_request(ask(text, stream=True)))
        await writer.drain()
        if after is not None:
            await reader.readuntil(after)
        else:
            await until(lambda: rig.engine.received > sent_before)
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize(
    ("behaviour", "after"),
    [
        (Silent(), None),  # before the engine's first byte
        (Stream(PARTIAL, then="hang"), b"content_block_delta"),  # in the middle of the stream
    ],
    ids=["before-first-byte", "mid-stream"],
)
async def test_client_disconnect_cancels_the_engine_request_within_a_second(
    faulty_rig: RigFactory, behaviour: object, after: bytes | None
) -> None:
    rig = await faulty_rig()
    rig.engine.push(behaviour)  # type: ignore[arg-type]
    await hang_up(rig, "bye", after=after, sent_before=0)
    await rig.engine.wait_cut_short(1, within=1.0)  # the guarantee: the engine is told within a second
    await until(lambda: rig.engine.open_connections == 0)


async def test_non_streaming_client_disconnect_cancels_the_engine_request(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig()
    rig.engine.push(Silent())
    _, writer = await asyncio.open_connection("127.0.0.1", rig.bridge.port)
    writer.write(raw_request(ask("bye", stream=False)))
    await writer.drain()
    await until(lambda: rig.engine.received == 1)
    writer.close()
    await writer.wait_closed()
    await rig.engine.wait_cut_short(1, within=1.0)


def _tracked_objects() -> Counter[str]:
    gc.collect()
    return Counter(type(o).__name__ for o in gc.get_objects() if isinstance(o, TRACKED))


def _sockets_to(port: int) -> int:
    """This process's TCP sockets connected to `port`, any state (the bridge and its engine run here)."""
    return sum(1 for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port)


async def _disconnect_many(rig: FaultRig, count: int, batch: int = 50) -> None:
    for start in range(0, count, batch):
        sent = rig.engine.received
        cut = rig.engine.cut_short
        jobs = []
        for i in range(start, min(start + batch, count)):
            # Alternate the two moments a client can vanish: before the first byte and mid-stream.
            mid = i % 2 == 1
            jobs.append(
                hang_up(rig, "mid" if mid else "early", after=b"content_block_delta" if mid else None, sent_before=sent)
            )
        await asyncio.gather(*jobs)
        want = cut + len(jobs)
        await until(lambda want=want: rig.engine.cut_short >= want)


async def _settled(rig: FaultRig) -> None:
    """Wait until nothing of the bridge's or the engine's is running: only this test's own task is left,
    and no socket of this process is connected to either of them."""
    await until(
        lambda: (
            len(asyncio.all_tasks()) == 1
            and rig.engine.open_connections == 0
            and _sockets_to(rig.engine.port) == 0
            and _sockets_to(rig.bridge.port) == 0
        )
    )


async def test_a_thousand_disconnects_leak_no_task_connection_or_memory(
    faulty_rig: RigFactory, record_property: object
) -> None:
    rig = await faulty_rig()
    rig.engine.rules = {"early": Silent(), "mid": Stream(PARTIAL, then="hang")}
    rig.engine.keep_requests = False  # the test's own records would look like a leak
    await _disconnect_many(rig, 100)  # warm-up: caches, pools and lazy imports settle
    await _settled(rig)
    objects_before = _tracked_objects()
    rss_before = psutil.Process(os.getpid()).memory_info().rss
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    started = time.monotonic()

    await _disconnect_many(rig, 1000)

    elapsed = time.monotonic() - started
    await _settled(rig)  # fails (after a 10 s guard) if any task, socket or engine connection is left
    gc.collect()
    traced_growth = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    rss_growth = psutil.Process(os.getpid()).memory_info().rss - rss_before
    objects_after = _tracked_objects()
    print(
        f"\n1000 disconnects in {elapsed:.1f} s: traced memory {traced_growth / 1024:+.0f} KiB, "
        f"RSS {rss_growth / 2**20:+.1f} MiB, objects {dict(objects_after)}"
    )
    record_property("disconnects_traced_growth_kib", round(traced_growth / 1024))  # type: ignore[operator]
    record_property("disconnects_rss_growth_mib", round(rss_growth / 2**20, 1))  # type: ignore[operator]

    assert rig.engine.cut_short == 1100  # every abandoned answer was noticed by the engine
    assert objects_after == objects_before, (objects_before, objects_after)
    # Generous bounds: a leak of even 1 KiB per request would show as 1,000 KiB.
    assert traced_growth < 512 * 1024
    assert rss_growth < 32 * 2**20
