"""Keys and prompts reach the configured engine only: a redirect is an error, never followed (audit B20).

The engine answers every request with a redirect to a second server that records what reaches it. With
each way of sending the key (Bearer, `api-key` as Azure wants it, `x-api-key`), the second server must see
nothing at all: no request, no header, no body. The same holds for `ccb probe` and `ccb models`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from typer.testing import CliRunner

from ccb.cli.app import app
from ccb.proxy.config import BridgeConfig, ModelMap, dialect_for
from ccb.proxy.runner import start_bridge
from tests.support.servers import serving

KEY = "sk-redirect-secret-ABCDEF987654"
TOKEN = "redirect-test-token"


@dataclass
class Recorder:
    """The other host: records every request and answers like a healthy engine would."""

    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def anything(request: web.Request) -> web.Response:
            self.seen.append((request.method, request.path, dict(request.headers), await request.read()))
            if request.path.endswith("/models"):
                return web.json_response({"object": "list", "data": [{"id": "m", "max_model_len": 4096}]})
            return web.json_response(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "from the other host"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1},
                }
            )

        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", anything)
        return application


def redirector(target: str, status: int) -> web.Application:
    async def anything(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": target + request.path_qs})

    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", anything)
    return application


@asynccontextmanager
async def serving_elsewhere(application: web.Application) -> AsyncIterator[str]:
    """Serve on 127.0.0.2: loopback too, but another host to the client, so a redirect there is cross-origin."""
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.2", 0).start()
    try:
        yield f"http://127.0.0.2:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def other() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    async with serving_elsewhere(recorder.app()) as url:
        yield recorder, url


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("auth_style", ["bearer", "api-key", "x-api-key"])
@pytest.mark.parametrize("engine_kind", ["llamacpp", "ollama"])  # the routes each asks besides chat differ
async def test_bridge_turns_an_engine_redirect_into_an_error_and_sends_nothing_elsewhere(
    other: tuple[Recorder, str], status: int, auth_style: str, engine_kind: str
) -> None:
    recorder, other_url = other
    async with serving(redirector(other_url, status)) as engine:
        config = BridgeConfig(
            upstream=engine + "/v1",
            models=ModelMap(default="m"),
            upstream_key=KEY,
            auth_style=auth_style,
            auth_token=TOKEN,
            dialect=dialect_for(engine_kind),
        )
        bridge = await start_bridge(config)
        try:
            async with aiohttp.ClientSession() as client:
                body = {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 20,
                    "messages": [{"role": "user", "content": "MY PRIVATE CODE"}],
                }
                for stream in (False, True):
                    async with client.post(
                        bridge.url + "/v1/messages", json={**body, "stream": stream}, headers={"x-api-key": TOKEN}
                    ) as resp:
                        answer = await resp.json()
                        assert resp.status == 502, answer
                        assert resp.headers["x-should-retry"] == "true"
                        message = answer["error"]["message"]
                        assert f"HTTP {status}" in message and "redirect" in message and other_url in message
                        assert KEY not in message
                thinking = {**body, "thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048}
                async with client.post(
                    bridge.url + "/v1/messages", json=thinking, headers={"x-api-key": TOKEN}
                ) as resp:
                    assert resp.status == 502
                async with client.post(
                    bridge.url + "/v1/messages/count_tokens", json=body, headers={"x-api-key": TOKEN}
                ) as resp:
                    assert resp.status == 200  # an estimate: the counting routes redirect too
        finally:
            await bridge.stop()
    assert recorder.seen == []


def test_probe_and_models_do_not_follow_redirects(isolated_home: object) -> None:
    recorder = Recorder()
    with (
        in_thread(serving_elsewhere(recorder.app())) as other_url,
        in_thread(serving(redirector(other_url, 307))) as engine,
    ):
        runner = CliRunner()
        probed = runner.invoke(app, ["probe", engine + "/v1", "--json"])
        assert probed.exit_code in (0, 1), probed.output
        json.loads(probed.stdout)
        listed = runner.invoke(app, ["models", "--url", engine + "/v1", "--json"], env={"OPENAI_API_KEY": KEY})
        assert listed.exit_code in (0, 1), listed.output
    assert recorder.seen == []


@contextmanager
def in_thread(server: AbstractAsyncContextManager[str]) -> Iterator[str]:
    """An async server context on an event loop of its own in a thread (the CLI runs its own loop)."""
    loop = asyncio.new_event_loop()
    ready, stop, found = threading.Event(), asyncio.Event(), []

    async def main() -> None:
        async with server as url:
            found.append(url)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "test server did not start"
    try:
        yield found[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
