"""One Messages request through the engine and back: streaming and not, errors, max_tokens clamp. Does I/O."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web

from ccb.proxy.config import BridgeConfig
from ccb.proxy.translate import sse
from ccb.proxy.translate.errors import Mapped, error_body, map_upstream, too_long
from ccb.proxy.translate.request import Translated, translate
from ccb.proxy.translate.response import accumulate, completion_to_chunk
from ccb.proxy.translate.stream import StreamTranslator, UpstreamError
from ccb.proxy.upstream import MAX_ERROR_BODY, Upstream

log = logging.getLogger("ccb.bridge")

# Tokens kept free between prompt and window: the estimate is not exact.
MARGIN = 64
MIN_OUTPUT = 256


class _Failed(Exception):
    """The engine answered with an error before any byte reached the client."""

    def __init__(self, mapped: Mapped, headers: dict[str, str]) -> None:
        super().__init__(mapped.body["error"]["message"])
        self.mapped = mapped
        self.headers = headers


def _error_response(mapped: Mapped, headers: dict[str, str] | None = None) -> web.Response:
    out = dict(headers or {})
    if mapped.retryable is not None:
        out["x-should-retry"] = "true" if mapped.retryable else "false"
    return web.Response(status=mapped.status, body=json.dumps(mapped.body).encode(),
                        content_type="application/json", headers=out)


def _unreachable(config: BridgeConfig, exc: BaseException) -> Mapped:
    reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else (str(exc) or type(exc).__name__)
    message = f"cannot reach the engine at {config.chat_url}: {reason}. Is it running?"
    return Mapped(502, error_body("api_error", message), None, True)


async def handle(request: web.Request, body: dict[str, Any], config: BridgeConfig,
                 upstream: Upstream) -> web.StreamResponse:
    stream = bool(body.get("stream"))
    translated = translate(body, model=config.models.resolve(body["model"]), dialect=config.dialect, stream=stream)
    window = await upstream.window()
    if window:
        _clamp(translated, window - translated.prompt_estimate - MARGIN)
    try:
        return await _attempt(request, body, translated, config, upstream, stream)
    except _Failed as failed:
        overflow = failed.mapped.overflow
        if overflow is None or not overflow.completion:
            return _error_response(failed.mapped, failed.headers)
        # The prompt fits but prompt + max_tokens does not: retry once with what is left.
        room = overflow.completion_limit or ((overflow.limit or 0) - (overflow.prompt or 0) - 16)
        if room < 1:
            return _error_response(failed.mapped, failed.headers)
        _clamp(translated, room, floor=1)
        try:
            return await _attempt(request, body, translated, config, upstream, stream)
        except _Failed as again:
            return _error_response(again.mapped, again.headers)


def _clamp(translated: Translated, room: int, *, floor: int = MIN_OUTPUT) -> None:
    key = "max_completion_tokens" if "max_completion_tokens" in translated.body else "max_tokens"
    wanted = translated.body.get(key)
    if isinstance(wanted, int) and wanted > room:
        translated.body[key] = max(room, min(floor, wanted))


async def _attempt(request: web.Request, body: dict[str, Any], translated: Translated, config: BridgeConfig,
                   upstream: Upstream, stream: bool) -> web.StreamResponse:
    payload = json.dumps(translated.body, ensure_ascii=False).encode()
    if config.log_bodies:
        log.debug("upstream request: %s", payload.decode())
    machine = StreamTranslator(model=body["model"], input_estimate=translated.prompt_estimate,
                               tool_names=translated.tool_names, stop_sequences=translated.stop_sequences)
    try:
        async with asyncio.timeout(config.first_byte_timeout):
            resp = await upstream.post_chat(payload)
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        raise _Failed(_unreachable(config, exc), {}) from exc
    try:
        if resp.status != 200:
            raw = await resp.content.read(MAX_ERROR_BODY)
            headers = {"retry-after": resp.headers["Retry-After"]} if "Retry-After" in resp.headers else {}
            raise _Failed(map_upstream(resp.status, raw, engine=f"the engine at {config.upstream}"), headers)
        is_sse = resp.headers.get("Content-Type", "").startswith("text/event-stream")
        if stream and is_sse:
            return await _stream(request, resp, machine, config)
        # A whole JSON completion: asked for, or sent by an engine that ignored `stream`.
        raw = await resp.content.read()
        events = _complete(raw, machine, config, is_sse)
        if stream:
            out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await out.prepare(request)
            await out.write(b"".join(sse.encode(name, data) for name, data in events))
            await out.write_eof()
            return out
        return web.json_response(accumulate(events))
    finally:
        resp.close()


def _complete(raw: bytes, machine: StreamTranslator, config: BridgeConfig, is_sse: bool) -> list[tuple[str, dict[str, Any]]]:
    """Translate a whole answer (JSON completion, or a buffered SSE body) into events."""
    try:
        if is_sse:
            decoder = sse.SSEDecoder()
            chunks = [json.loads(p) for p in decoder.feed(raw) + decoder.flush() if p != sse.DONE]
        else:
            chunks = [completion_to_chunk(json.loads(raw))]
    except ValueError as exc:
        mapped = Mapped(502, error_body("api_error", f"the engine sent a body that is not JSON: {raw[:200]!r}"))
        raise _Failed(mapped, {}) from exc
    events = machine.start()
    try:
        for chunk in chunks:
            events += machine.feed(chunk)
    except UpstreamError as exc:
        raise _Failed(_stream_error(exc.error, config), {}) from exc
    return events + machine.finish()


def _stream_error(error: Any, config: BridgeConfig) -> Mapped:
    status = error.get("code") if isinstance(error, dict) and isinstance(error.get("code"), int) else 500
    return map_upstream(status, json.dumps({"error": error}), engine=f"the engine at {config.upstream}")


async def _stream(request: web.Request, resp: aiohttp.ClientResponse, machine: StreamTranslator,
                  config: BridgeConfig) -> web.StreamResponse:
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await out.prepare(request)
    last_write = time.monotonic()

    async def write(data: bytes) -> None:
        nonlocal last_write
        last_write = time.monotonic()
        await out.write(data)

    async def keepalive() -> None:
        # Long prefills and slow models leave gaps; pings keep the client's idle watchdog quiet.
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(config.ping_interval)
                if time.monotonic() - last_write >= config.ping_interval:
                    await write(sse.PING)

    pinger = asyncio.create_task(keepalive())
    decoder = sse.SSEDecoder()
    done = False
    first_sent = False
    last_payload = time.monotonic()
    try:
        await write(b"".join(sse.encode(n, d) for n, d in machine.start()))
        try:
            async for data in resp.content.iter_any():
                buf: list[bytes] = []
                payloads = decoder.feed(data)
                if payloads:
                    last_payload = time.monotonic()
                elif time.monotonic() - last_payload > config.idle_timeout:
                    raise asyncio.TimeoutError()
                for payload in payloads:
                    if payload == sse.DONE:
                        done = True
                        break
                    for name, event in machine.feed(json.loads(payload)):
                        buf.append(sse.encode(name, event))
                    if not first_sent and buf:
                        # The first delta goes out at once, not after the rest of this read burst.
                        await write(b"".join(buf))
                        buf.clear()
                        first_sent = True
                if buf:
                    await write(b"".join(buf))
                if done:
                    break
            if not done:
                for payload in decoder.flush():
                    if payload != sse.DONE:
                        for name, event in machine.feed(json.loads(payload)):
                            await write(sse.encode(name, event))
                if machine.finish_reason is None:
                    raise aiohttp.ClientPayloadError("the stream ended before the engine finished its answer")
        except UpstreamError as exc:
            mapped = _stream_error(exc.error, config)
            await write(sse.encode("error", mapped.body))
            return out
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            reason = "went silent" if isinstance(exc, asyncio.TimeoutError) else f"failed: {exc}"
            if isinstance(exc, ValueError) and not isinstance(exc, aiohttp.ClientError):
                reason = f"sent a malformed chunk ({exc})"
            message = f"the engine at {config.upstream} {reason} in the middle of the answer"
            log.warning("%s", message)
            await write(sse.encode("error", error_body("api_error", message)))
            return out
        await write(b"".join(sse.encode(n, d) for n, d in machine.finish()))
        await out.write_eof()
        return out
    except ConnectionError:
        # The client went away: closing the engine response (in the caller) stops the generation.
        log.info("client disconnected mid-stream")
        return out
    finally:
        pinger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pinger
