"""Serving aiohttp apps on 127.0.0.1, port 0, for tests. Does network I/O (loopback only).

- `serving(app)`: on the test's own event loop; yields the root URL.
- `ServerThread`: on an event loop of its own in a background thread, for tests that run code which calls
  `asyncio.run` itself (the CLI in-process, through CliRunner) while the servers must keep answering.
  `ServerThread(app)` serves one app (`.url`, `.port`); `.serve(app)` adds more and `.black_hole()` adds a port
  that accepts connections and never answers. `serving_in_thread(app)` is the one-app shorthand.
- `LoopThread`: the bare loop in a thread, for anything else that must live there (`.call(coroutine)`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from aiohttp import web

T = TypeVar("T")


async def start_app(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    """Start `app` on 127.0.0.1 (port 0: any free one); returns its runner and root URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@asynccontextmanager
async def serving(app: web.Application, port: int = 0) -> AsyncIterator[str]:
    """Run an aiohttp app on 127.0.0.1 for the block; yields its root URL."""
    runner, url = await start_app(app, port)
    try:
        yield url
    finally:
        await runner.cleanup()


@dataclass
class BlackHole:
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte."""

    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._swallow, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await reader.read(65536):  # read until the client gives up and closes
                pass
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            for _ in range(3):  # let the per-connection handlers observe EOF and finish
                await asyncio.sleep(0)


class LoopThread:
    """An event loop running in a daemon thread; a context manager. `call` runs a coroutine there and waits."""

    def __init__(self, name: str = "test-loop", timeout: float = 10) -> None:
        self.loop = asyncio.new_event_loop()
        self.timeout = timeout
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=self.timeout)

    def __enter__(self) -> Self:
        self._thread.start()
        try:
            self.started()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.call(self.stopping())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=self.timeout)
            self.loop.close()

    def started(self) -> None:
        """Runs on entering, once the loop runs (override to start servers there)."""

    async def stopping(self) -> None:
        """Runs on the loop on leaving, before it stops (override to stop servers there)."""


class ServerThread(LoopThread):
    """aiohttp apps (and black holes) served on 127.0.0.1 from a loop in a background thread."""

    def __init__(self, app: web.Application | None = None, port: int = 0) -> None:
        super().__init__(name="test-servers")
        self._first = (app, port)
        self._runners: list[web.AppRunner] = []
        self._holes: list[BlackHole] = []
        self.url = ""

    @property
    def port(self) -> int:
        """The port of the app given to the constructor."""
        return int(self.url.rsplit(":", 1)[1])

    def started(self) -> None:
        app, port = self._first
        if app is not None:
            self.url = self.serve(app, port)

    def serve(self, app: web.Application, port: int = 0) -> str:
        """Start one more app; returns its root URL."""
        runner, url = self.call(start_app(app, port))
        self._runners.append(runner)
        return url

    def black_hole(self) -> str:
        """A port that accepts connections and never answers; returns its root URL."""
        hole = BlackHole()
        self._holes.append(hole)
        return f"http://127.0.0.1:{self.call(hole.start())}"

    async def stopping(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        for hole in self._holes:
            await hole.close()


@contextmanager
def serving_in_thread(app: web.Application) -> Iterator[str]:
    """`serving`, on a loop of its own in a thread: for tests that run the CLI in-process."""
    with ServerThread(app) as server:
        yield server.url
