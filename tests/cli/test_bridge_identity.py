"""Is it the user's own bridge? A pid only with ccb's command line; a listener only with the token's proof."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
from aiohttp import web

from ccb.cli.bridge_identity import answers_as_ours, describe_uid, listener_uid, process_is_ours
from ccb.proxy.net import health_proof
from tests.support.processes import free_port
from tests.support.servers import ServerThread

TOKEN = "ccb-bridge-token-for-identity"


def health_app(token: str, seen: list[str]) -> web.Application:
    """A listener answering the challenge the way a bridge holding `token` does; records every query."""

    async def health(request: web.Request) -> web.Response:
        seen.append(request.query_string)
        return web.json_response({"status": "ok", "proof": health_proof(token, request.query.get("challenge", ""))})

    app = web.Application()
    app.router.add_get("/health", health)
    return app


def test_a_listener_is_ours_only_with_the_proof_and_never_gets_the_token() -> None:
    seen: list[str] = []
    with ServerThread(health_app(TOKEN, seen)) as ours, ServerThread(health_app("another-token", seen)) as other:
        assert answers_as_ours(ours.url, TOKEN) is True
        assert answers_as_ours(other.url, TOKEN) is False
        assert listener_uid(ours.port) == os.getuid()
    assert len(seen) == 2 and all(TOKEN not in query for query in seen)
    assert answers_as_ours(f"http://127.0.0.1:{free_port()}", TOKEN) is False  # nothing listens


def test_a_process_is_ours_only_with_ccb_serve_on_its_command_line() -> None:
    assert process_is_ours(os.getpid(), None) is False  # pytest: not `ccb ... serve`
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "serve", "ccb.cli"])
    try:
        for _ in range(200):  # until the child has exec'd (a fork still shows pytest's command line)
            if "ccb.cli" in psutil.Process(stranger.pid).cmdline():
                break
            time.sleep(0.05)
        assert process_is_ours(stranger.pid, None) is True  # same uid, ccb's module and "serve" on the line
        assert process_is_ours(stranger.pid, time.time() - 3600) is False  # a recycled pid: other start time
    finally:
        stranger.kill()
        stranger.wait()
    assert process_is_ours(stranger.pid, None) is False


def test_describe_uid_names_the_user() -> None:
    assert describe_uid(os.getuid()).endswith(f"(uid {os.getuid()})")
    assert describe_uid(2**31 - 7) == f"uid {2**31 - 7}"
