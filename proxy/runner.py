"""Start and stop a bridge on a host and port, in the current event loop. Does network I/O."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from aiohttp import web

from ccb.proxy.config import BridgeConfig
from ccb.proxy.connguard import GUARD, KEEPALIVE, ConnectionGuard
from ccb.proxy.metrics import Metrics
from ccb.proxy.server import make_app
from ccb.proxy.wire_errors import BridgeRunner


@dataclass(slots=True)
class RunningBridge:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_bridge(
    config: BridgeConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    sock: socket.socket | None = None,
    figures: Metrics | None = None,
) -> RunningBridge:
    """Bind and serve (or serve on `sock`, already listening); port 0 picks a free port. Returns once the socket
    accepts connections. `figures`: where the metrics go (shared between `ccb serve --workers`), else in memory."""
    # handler_cancellation: a client that disconnects cancels its handler, which closes the engine request.
    app = make_app(config, figures)
    guard = app[GUARD] = ConnectionGuard()

    async def stop_guard(_: web.Application) -> None:
        await guard.stop()

    app.on_cleanup.append(stop_guard)
    runner = BridgeRunner(app, handler_cancellation=True, access_log=None, keepalive_timeout=KEEPALIVE)
    await runner.setup()
    site: web.BaseSite = (
        web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, host, port, reuse_address=True)
    )
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    assert runner.server is not None
    guard.start(runner.server)
    bound = runner.addresses[0][1] if runner.addresses else port
    return RunningBridge(runner, host, int(bound))
