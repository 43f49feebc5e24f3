"""`ccb serve`: run the Anthropic Messages bridge in the foreground. Does network I/O."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import signal
from typing import Annotated, Optional

import typer

from ccb.cli import render
from ccb.cli.errors import CcbError
from ccb.proxy.config import DIALECTS, BridgeConfig, ModelMap, dialect_for
from ccb.proxy.runner import start_bridge


def new_token() -> str:
    return "ccb-" + secrets.token_urlsafe(24)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_upstream_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CcbError(f"--upstream {url!r} is not an http(s) URL; write it like http://127.0.0.1:8000/v1")
    return url.rstrip("/")


def serve(
    upstream: Annotated[Optional[str], typer.Option(help="The engine's OpenAI base URL, e.g. http://127.0.0.1:8000/v1.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Engine model every request maps to.")] = None,
    upstream_key: Annotated[Optional[str], typer.Option(help="Key the engine expects (sent as Bearer).", envvar="CCB_UPSTREAM_KEY")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    auth_token: Annotated[Optional[str], typer.Option(help="Token clients must send; random when omitted.", envvar="CCB_AUTH_TOKEN")] = None,
    context_length: Annotated[Optional[int], typer.Option(help="Engine context window in tokens (read from the engine when omitted).")] = None,
    engine: Annotated[Optional[str], typer.Option(help=f"Engine dialect: {', '.join(DIALECTS)} (detected when omitted).")] = None,
    log_bodies: Annotated[bool, typer.Option(help="Log request bodies sent upstream (never keys).")] = False,
) -> None:
    """Run the Anthropic Messages bridge in front of an OpenAI-compatible engine, until Ctrl-C.

    Example:

        ccb serve --upstream http://127.0.0.1:8000/v1 --model Qwen/Qwen3-Coder-30B-A3B-Instruct

    Then point Claude Code at it with the printed ANTHROPIC_BASE_URL and ANTHROPIC_AUTH_TOKEN lines.
    """
    if not upstream or not model:
        raise CcbError("ccb serve needs --upstream URL and --model NAME (e.g. --upstream http://127.0.0.1:8000/v1 "
                       "--model qwen3-coder)")
    if engine and engine not in DIALECTS:
        raise CcbError(f"--engine {engine!r} is unknown; choose one of {', '.join(DIALECTS)}")
    if context_length is not None and context_length < 1:
        raise CcbError("--context-length must be a positive number of tokens")
    if not is_loopback_host(host) and not auth_token:
        raise CcbError(f"refusing to listen on {host} without --auth-token: anyone on the network could use "
                       "your engine and keys. Pass --auth-token TOKEN, or keep the default host 127.0.0.1")
    generated = auth_token is None
    token = auth_token or new_token()
    config = BridgeConfig(
        upstream=check_upstream_url(upstream),
        models=ModelMap(default=model),
        upstream_key=upstream_key,
        auth_token=token,
        context_length=context_length,
        dialect=dialect_for(engine),
        log_bodies=log_bodies,
    )
    asyncio.run(_run(config, host, port, show_token=generated))


async def _run(config: BridgeConfig, host: str, port: int, *, show_token: bool) -> None:
    try:
        bridge = await start_bridge(config, host, port)
    except OSError as exc:
        raise CcbError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port (0 = any free)") from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    render.info(f"ccb bridge on {bridge.url} → {config.chat_url} (model {config.models.default}); Ctrl-C stops it")
    render.info("Point Claude Code at it:")
    token_line = config.auth_token if show_token else "<the token you passed>"
    render.out.print(f"export ANTHROPIC_BASE_URL={bridge.url}", markup=False)
    render.out.print(f"export ANTHROPIC_AUTH_TOKEN={token_line}", markup=False)
    render.out.print('export ANTHROPIC_API_KEY=""', markup=False)
    try:
        await stop.wait()
    finally:
        render.info("stopping the bridge")
        await bridge.stop()
