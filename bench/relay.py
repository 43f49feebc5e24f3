"""The "do-little" baseline: an aiohttp server that forwards bytes to the engine unchanged. Does network I/O.

It does what any aiohttp bridge must do and nothing more: read the request body, post it to the
engine over one shared keep-alive session, and pass the answer back (a stream read by read, or a
whole body). No JSON is parsed or built. The bridge's CPU is reported as a ratio to this one's,
measured in the same run with the same loop and the same client.

`python bench/relay.py --upstream http://127.0.0.1:PORT/v1 --port 0` prints `PORT <n>`.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
from aiohttp import web

SSE = "text/event-stream"


def make_app(upstream: str) -> web.Application:
    url = upstream.rstrip("/") + "/chat/completions"
    state: dict[str, aiohttp.ClientSession] = {}

    async def start(_: web.Application) -> None:
        state["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(total=None),
            skip_auto_headers=("User-Agent",),
        )

    async def stop(_: web.Application) -> None:
        await state["session"].close()

    async def messages(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with state["session"].post(
            url, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            if not resp.headers.get("Content-Type", "").startswith(SSE):
                return web.Response(
                    status=resp.status, body=await resp.read(), content_type="application/json"
                )
            out = web.StreamResponse(
                status=resp.status, headers={"Content-Type": SSE, "Cache-Control": "no-cache"}
            )
            await out.prepare(request)
            async for data in resp.content.iter_any():
                await out.write(data)
            await out.write_eof()
            return out

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/v1/messages", messages)
    return app


async def serve(upstream: str, port: int) -> None:
    runner = web.AppRunner(make_app(upstream), handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.upstream, args.port))
    else:
        asyncio.run(serve(args.upstream, args.port))


if __name__ == "__main__":
    main()
