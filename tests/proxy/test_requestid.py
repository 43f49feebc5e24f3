"""Request ids: fresh per request, visible to the tasks it starts, stamped into error bodies. No I/O."""

from __future__ import annotations

import asyncio
import contextvars
import re

from ccb.proxy import requestid


def test_new_ids_look_like_anthropics_and_differ() -> None:
    ids = {requestid.new() for _ in range(100)}
    assert len(ids) == 100 and all(re.fullmatch(r"req_[0-9a-f]{24}", i) for i in ids)


def test_begin_sets_the_id_for_this_context_only() -> None:
    def handle() -> tuple[str, str | None, dict[str, object]]:
        rid = requestid.begin()
        return rid, requestid.current(), requestid.stamp({"type": "error"})

    rid, current, stamped = contextvars.copy_context().run(handle)
    assert current == rid and stamped == {"type": "error", "request_id": rid}
    assert requestid.current() is None  # the test's own context never saw it
    assert requestid.stamp({"type": "error"}) == {"type": "error"}


async def test_tasks_started_by_a_request_see_its_id() -> None:
    async def child() -> str | None:
        return requestid.current()

    async def request() -> tuple[str, str | None]:
        rid = requestid.begin()
        return rid, await asyncio.create_task(child())

    rid, seen = await asyncio.create_task(request())
    assert seen == rid
