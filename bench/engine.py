"""A fast fake OpenAI engine for the benchmark: pre-rendered answers, no delay. Does network I/O.

Run as its own process (its CPU is not the bridge's): `python bench/engine.py --port 0` prints
`PORT <n>` once it listens. It reads the whole request body, then answers

- `"stream": true` in the body: the pre-rendered SSE stream, one write per chunk (or one write in all
  with `--burst`), a tool-call stream when the body holds the tool marker. Without a pause the chunks
  reach the reader in a few large reads; with the pace marker the engine sleeps `--gap-ms` between
  chunks, so every chunk arrives on its own, as tokens from a real model do;
- otherwise the ≈450-byte completion.

It never parses the JSON: a byte search is enough, and keeps the engine's CPU small on a 2-core box.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys

import payloads
from aiohttp import web

_STREAM = re.compile(rb'"stream"\s*:\s*true')
_MARKER = payloads.TOOL_MARKER.encode()
_PACE = payloads.PACE_MARKER.encode()


def make_app(burst: bool, gap: float) -> web.Application:
    text = payloads.text_stream()
    tool = payloads.tool_stream()
    text_whole, tool_whole = b"".join(text), b"".join(tool)
    completion = payloads.completion()
    models = web.json_response(
        {
            "object": "list",
            "data": [
                {"id": payloads.ENGINE_MODEL, "object": "model", "owned_by": "bench", "max_model_len": 262144}
            ],
        }
    )

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not _STREAM.search(body):
            return web.Response(body=completion, content_type="application/json")
        is_tool = _MARKER in body
        paced = _PACE in body
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await out.prepare(request)
        if burst and not paced:
            await out.write(tool_whole if is_tool else text_whole)
        else:
            for chunk in tool if is_tool else text:
                await out.write(chunk)
                if paced:
                    await asyncio.sleep(gap)
        await out.write_eof()
        return out

    async def list_models(request: web.Request) -> web.Response:
        return web.Response(body=models.body, content_type="application/json")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", list_models)
    return app


async def serve(port: int, burst: bool, gap: float) -> None:
    runner = web.AppRunner(make_app(burst, gap), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--burst", action="store_true", help="send a whole stream in one write")
    parser.add_argument("--gap-ms", type=float, default=1.0, help="pause between chunks of a paced stream")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        print("engine: uvloop not installed, using asyncio's loop (slower fake)", file=sys.stderr)
        asyncio.run(serve(args.port, args.burst, args.gap_ms / 1000))
    else:
        uvloop.run(serve(args.port, args.burst, args.gap_ms / 1000))


if __name__ == "__main__":
    main()
