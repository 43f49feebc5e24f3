"""Connection limits for the bridge: no local peer can hold it hostage with idle or half-sent connections.

aiohttp closes an idle keep-alive connection only after an hour and has no limit on how long a request
head may take to arrive, so any local user could open connections that send a few header bytes and stop
(each held buffers of up to ~1.7 MiB) until the bridge ran out of memory or file descriptors and refused its
real user. The guard closes a connection whose request head has not arrived within HEADER_TIMEOUT, one idle
between requests for longer than IDLE_LIMIT, and, past MAX_IDLE idle connections, the oldest idle ones;
a connection inside a request (reading its body, streaming an answer) is never touched. Does network I/O.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

log = logging.getLogger("ccb.bridge")

HEADER_TIMEOUT = 20.0  # from accepting a connection to its first complete request head
IDLE_LIMIT = 120.0  # between two requests on one connection (aiohttp's keep-alive closes it at 75 s anyway)
MAX_IDLE = 64  # connections with no request in progress; beyond this the oldest idle ones are closed
MIN_IDLE_AGE = 2.0  # ...but only those idle this long: a burst of new clients is about to send its requests
KEEPALIVE = 75.0
SWEEP_EVERY = 1.0


class ConnectionGuard:
    def __init__(self) -> None:
        self._busy: dict[Any, int] = {}  # transport -> requests in progress on it
        self._since: dict[Any, float] = {}  # transport -> when it was accepted or last finished a request
        self._served: set[Any] = set()
        self._timer: asyncio.TimerHandle | None = None  # a timer, not a task: nothing lingers among the tasks

    def request_started(self, request: web.Request) -> None:
        transport = request.transport
        if transport is not None:
            self._busy[transport] = self._busy.get(transport, 0) + 1

    def request_done(self, request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            return
        left = self._busy.get(transport, 1) - 1
        if left > 0:
            self._busy[transport] = left
        else:
            self._busy.pop(transport, None)
        self._served.add(transport)
        self._since[transport] = asyncio.get_running_loop().time()

    def start(self, server: web.Server) -> None:
        loop = asyncio.get_running_loop()

        def tick() -> None:
            try:
                self.sweep(server, loop.time())
            except Exception:  # the guard must keep running whatever one sweep met
                log.exception("connection sweep failed")
            self._timer = loop.call_later(SWEEP_EVERY, tick)

        self._timer = loop.call_later(SWEEP_EVERY, tick)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def sweep(self, server: web.Server, now: float) -> int:
        """Close what overstayed; returns how many connections were closed."""
        idle: list[tuple[float, Any]] = []
        present = set()
        closed = 0
        for handler in server.connections:
            transport = handler.transport
            if transport is None or transport.is_closing():
                continue
            present.add(transport)
            if self._busy.get(transport):
                continue
            since = self._since.setdefault(transport, now)
            limit = IDLE_LIMIT if transport in self._served else HEADER_TIMEOUT
            if now - since > limit:
                transport.close()
                closed += 1
            else:
                idle.append((since, transport))
        if len(idle) > MAX_IDLE:
            idle.sort(key=lambda pair: pair[0])
            for since, transport in idle[: len(idle) - MAX_IDLE]:
                if now - since < MIN_IDLE_AGE:
                    break
                transport.close()
                closed += 1
        for table in (self._since, self._busy):
            for gone in [t for t in table if t not in present]:
                del table[gone]
        self._served &= present
        if closed:
            log.info("closed %d connection(s) that sent no complete request in time or sat idle", closed)
        return closed


GUARD = web.AppKey("connection_guard", ConnectionGuard)
