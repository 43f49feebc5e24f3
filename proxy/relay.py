"""One Messages request through the engine and back: streaming and not, errors, max_tokens clamp. Does I/O.

Three time limits guard the engine (BridgeConfig): `connect_timeout` to open a connection,
`first_byte_timeout` until the engine answers with headers (a long prefill), `idle_timeout` for any
silence after that; keep-alive comments without data do not count as life. Every engine failure ends in
an Anthropic error Claude Code acts on: JSON with a 5xx/529 status before the first byte reached the
client, `event: error` after it. Error texts and log lines never carry the upstream key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from ccb.proxy import affinity, jsonio, requestid
from ccb.proxy.config import BridgeConfig
from ccb.proxy.translate import sse
from ccb.proxy.translate.errors import Mapped, error_body, extract_message, map_upstream
from ccb.proxy.translate.request import RequestError, Translated, translate
from ccb.proxy.translate.response import accumulate, completion_to_chunk
from ccb.proxy.translate.shape import PrefillTrim
from ccb.proxy.translate.stream import StreamTranslator, UpstreamError
from ccb.proxy.translate.thinking import has_switch, refuses_switch, strip_switch
from ccb.proxy.translate.types import ErrorResponse, Event, Usage
from ccb.proxy.translate.websearch import server_tool as web_search_tool
from ccb.proxy.upstream import MAX_ERROR_BODY, Upstream

log = logging.getLogger("ccb.bridge")

# Tokens kept free between prompt and window: the estimate is not exact.
MARGIN = 64
MIN_OUTPUT = 256


# What a garbled engine answer (valid JSON of the wrong shape) can raise inside the translator.
# A whole (non-streamed) answer larger than this is refused instead of filling the bridge's memory.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
_GARBLED = (ValueError, TypeError, AttributeError, KeyError, IndexError)
# What reading from a failing engine connection can raise (TimeoutError: the idle timeout).
_BROKEN = (aiohttp.ClientError, OSError, TimeoutError)


class _Failed(Exception):
    """The engine answered with an error before any byte reached the client."""

    def __init__(self, mapped: Mapped, headers: dict[str, str], status: int = 0, engine_message: str = "") -> None:
        super().__init__(mapped.body["error"]["message"])
        self.mapped = mapped
        self.headers = headers
        self.status = status  # the engine's own HTTP status, when it answered with an error
        self.engine_message = engine_message


class _ClientGone(Exception):
    """The client closed its connection while the bridge was writing to it."""


class _Ended(Exception):
    """The engine's stream ended cleanly but before its answer was finished."""


def _redacted(value: Any, config: BridgeConfig) -> Any:
    """An error body with every secret replaced: engines echo keys back in their error messages."""
    if isinstance(value, str):
        return config.redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, config) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, config) for v in value]
    return value


def _error_response(mapped: Mapped, headers: dict[str, str] | None, config: BridgeConfig) -> web.Response:
    out = dict(headers or {})
    if mapped.retryable is not None:
        out["x-should-retry"] = "true" if mapped.retryable else "false"
    body = requestid.stamp(_redacted(mapped.body, config))
    log.warning("answering %d: %s (%s)", mapped.status, body["error"]["message"], requestid.current())
    return web.Response(
        status=mapped.status, body=json.dumps(body).encode(), content_type="application/json", headers=out
    )


def _error_event(body: ErrorResponse, config: BridgeConfig) -> bytes:
    body = requestid.stamp(_redacted(body, config))
    log.warning("stream ended with an error: %s (%s)", body["error"]["message"], requestid.current())
    return sse.encode("error", body)


def _unreachable(config: BridgeConfig, reason: str) -> Mapped:
    message = f"cannot reach the engine at {config.chat_url}: {reason}. Is it running?"
    return Mapped(502, error_body("api_error", message), None, True)


# What a request leaves for the metrics.
_FIRST_TOKEN = web.RequestKey("first_token", float)  # perf_counter() when the first content event went out
_USAGE = web.RequestKey("usage", Usage)
_ANSWER = web.RequestKey("answer", tuple)  # (engine model, its finish reason)
_ERROR = web.RequestKey("error", str)  # the type of an error event that ended a stream


def notes(request: web.Request, started: float) -> dict[str, Any]:
    """Time to first token (s), usage and stream error of a finished request, for `Metrics.finished`."""
    found: dict[str, Any] = {}
    if _FIRST_TOKEN in request:
        found["ttft"] = request[_FIRST_TOKEN] - started
    if _USAGE in request:
        found["usage"] = request[_USAGE]
    if _ERROR in request:
        found["error"] = request[_ERROR]
    return found


def translate_request(body: dict[str, Any], config: BridgeConfig, *, stream: bool) -> Translated:
    """`translate`, with shapes `validate` lets through but the translator cannot take as a RequestError."""
    try:
        return translate(body, model=config.models.resolve(body["model"]), dialect=config.dialect, stream=stream)
    except _GARBLED as exc:
        raise RequestError(
            f"a field of the request has an unexpected type or shape ({type(exc).__name__}: {exc})"
        ) from exc


async def handle(
    request: web.Request, body: dict[str, Any], config: BridgeConfig, upstream: Upstream
) -> web.StreamResponse:
    definition = web_search_tool(body)
    if definition is not None:  # the web_search server tool: the bridge runs the searches (ccb.proxy.websearch)
        from ccb.proxy.websearch import loop

        return await loop.handle(request, body, config, upstream, definition)
    stream = bool(body.get("stream"))
    try:
        translated = translate_request(body, config, stream=stream)
    except RequestError as exc:
        return _error_response(Mapped(400, error_body("invalid_request_error", str(exc)), None, False), None, config)
    window = await upstream.window()
    if window:
        _clamp(translated.body, window - translated.prompt_estimate - MARGIN)
    model = translated.body["model"]
    if has_switch(translated.body) and await upstream.caps.thinking(model) is False:
        strip_switch(translated.body)
    payload = _serialise(body, translated)
    retried_thinking = retried_overflow = False
    while True:
        try:
            return await _attempt(request, body, translated, payload, config, upstream, stream)
        except _Failed as failed:
            again = jsonio.loads(payload)  # a retry is rare: the engine's body is parsed back to change it
            if not retried_thinking and refuses_switch(failed.status, failed.engine_message) and strip_switch(again):
                # The model cannot think (or not as asked): answer without the switch rather than fail the turn.
                upstream.caps.refused(model)
                retried_thinking = True
                payload = jsonio.dumps(again)
                continue
            overflow = failed.mapped.overflow
            if retried_overflow or overflow is None or not overflow.completion:
                return _error_response(failed.mapped, failed.headers, config)
            # The prompt fits but prompt + max_tokens does not: retry once with what is left.
            room = overflow.completion_limit or ((overflow.limit or 0) - (overflow.prompt or 0) - 16)
            if room < 1:
                return _error_response(failed.mapped, failed.headers, config)
            _clamp(again, room, floor=1)
            payload = jsonio.dumps(again)
            retried_overflow = True


def _clamp(upstream_body: dict[str, Any], room: int, *, floor: int = MIN_OUTPUT) -> None:
    key = "max_completion_tokens" if "max_completion_tokens" in upstream_body else "max_tokens"
    wanted = upstream_body.get(key)
    if isinstance(wanted, int) and wanted > room:
        upstream_body[key] = max(room, min(floor, wanted))


def _serialise(body: dict[str, Any], translated: Translated) -> bytes:
    """The engine's body as bytes. From here on the conversation and the tools live in those bytes only:
    their parsed and translated copies are dropped, so a long request in flight holds its size about once,
    not three times (32 concurrent 630 KB requests: ~20 MB less)."""
    payload = jsonio.dumps(translated.body)
    for parsed in (body, translated.body):
        for key in ("messages", "tools", "system"):
            if key in parsed:
                parsed[key] = []
    return payload


async def _attempt(
    request: web.Request,
    body: dict[str, Any],
    translated: Translated,
    payload: bytes,
    config: BridgeConfig,
    upstream: Upstream,
    stream: bool,
) -> web.StreamResponse:
    if config.log_bodies:
        log.debug("upstream request: %s", payload.decode())
    machine = StreamTranslator(
        model=body["model"],
        input_estimate=translated.prompt_estimate,
        tool_names=translated.tool_names,
        stop_sequences=translated.stop_sequences,
    )
    if translated.prefill:
        machine = PrefillTrim(machine, translated.prefill)  # type: ignore[assignment]
    try:
        async with asyncio.timeout(config.first_byte_timeout):
            resp = await upstream.post_chat(payload, affinity.session_id(request.headers, body))
    except aiohttp.ServerTimeoutError as exc:  # the session's connect timeout
        raise _Failed(
            _unreachable(config, f"no connection within the connect timeout ({config.connect_timeout:g} s)"), {}
        ) from exc
    except TimeoutError as exc:
        message = (
            f"the engine at {config.upstream} sent no answer within the first-byte timeout "
            f"({config.first_byte_timeout:g} s)"
        )
        raise _Failed(Mapped(504, error_body("api_error", message), None, True), {}) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise _Failed(_unreachable(config, str(exc) or type(exc).__name__), {}) from exc
    try:
        if resp.status != 200:
            raw = await _read(resp, config, limit=MAX_ERROR_BODY, partial_ok=True)
            if not 400 <= resp.status <= 599:  # a redirect, an empty 204, a made-up code: nothing to act on
                message = f"the engine at {config.upstream} answered HTTP {resp.status}: {raw[:200]!r}"
                if 300 <= resp.status <= 399:
                    message = redirect_message(config, resp.status, resp.headers.get("Location"))
                raise _Failed(Mapped(502, error_body("api_error", message), None, True), {})
            headers = {"retry-after": resp.headers["Retry-After"]} if "Retry-After" in resp.headers else {}
            raise _Failed(
                map_upstream(resp.status, raw, engine=f"the engine at {config.upstream}"),
                headers,
                resp.status,
                extract_message(raw)[0],
            )
        is_sse = resp.headers.get("Content-Type", "").startswith("text/event-stream")
        if stream and is_sse:
            streamed = await _stream(request, resp, machine, config)
            _log_answer(request, machine, translated)
            return streamed
        # A whole JSON completion: asked for, or sent by an engine that ignored `stream`.
        raw = await _read(resp, config)
        events = _complete(raw, machine, config, is_sse)
        _log_answer(request, machine, translated)
        if stream:
            out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await out.prepare(request)
            await out.write(b"".join(sse.encode(name, data) for name, data in events))
            await out.write_eof()
            return out
        return web.json_response(accumulate(events))
    finally:
        resp.close()


def redirect_message(config: BridgeConfig, status: int, location: str | None) -> str:
    """Why a redirect is an error: following it would send the key and the prompt to another address."""
    where = safe_url(config.redact(location)) if location else "no Location given"
    return (
        f"the engine at {config.redact(config.upstream)} answered HTTP {status}, a redirect ({where}); the "
        "bridge does not follow redirects, so the key and the prompt go to the configured address only. "
        "If the new address is right, put it in the profile (or --upstream)"
    )


def safe_url(url: str) -> str:
    """`url` without any user:password part, and cut short."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.username or parts.password:
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port else host
            url = urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return repr(url[:200])
    return url[:200]


def _log_answer(request: web.Request, machine: StreamTranslator, translated: Translated) -> None:
    """Keep what the answer used, for the metrics and for the request's log line (`answer_summary`)."""
    if not machine.finished:
        return
    request[_USAGE] = machine.final_usage()
    request[_ANSWER] = (str(translated.body.get("model")), str(machine.finish_reason))


def answer_summary(request: web.Request) -> str:
    """`model=… stop=… tokens in=… cached=… out=… ` for a request the engine answered, else ""."""
    if _ANSWER not in request or _USAGE not in request:
        return ""
    model, stop = request[_ANSWER]
    usage = request[_USAGE]
    return (
        f"model={model} stop={stop} tokens in={usage['input_tokens']} cached={usage['cache_read_input_tokens']} "
        f"out={usage['output_tokens']} "
    )


async def _read(
    resp: aiohttp.ClientResponse, config: BridgeConfig, *, limit: int | None = None, partial_ok: bool = False
) -> bytes:
    """The engine's whole body (at most `limit` bytes), allowing `idle_timeout` of silence between reads.

    A connection that fails or stalls raises _Failed, unless `partial_ok`: then what arrived is enough.
    """
    parts: list[bytes] = []
    size = 0
    try:
        while limit is None or size < limit:
            async with asyncio.timeout(config.idle_timeout):
                data = await resp.content.readany()
            if not data:
                break
            parts.append(data)
            size += len(data)
            if limit is None and size > MAX_ANSWER_BYTES:
                message = (
                    f"the engine at {config.upstream} sent an answer larger than {MAX_ANSWER_BYTES} bytes; "
                    "the bridge stopped reading it"
                )
                raise _Failed(Mapped(502, error_body("api_error", message), None, True), {})
    except _BROKEN as exc:
        if not partial_ok:
            raise _Failed(
                Mapped(
                    502,
                    error_body("api_error", _broken_message(config, exc, "before its answer was complete")),
                    None,
                    True,
                ),
                {},
            ) from exc
    raw = b"".join(parts)
    return raw if limit is None else raw[:limit]


def _broken_message(config: BridgeConfig, exc: BaseException, where: str) -> str:
    if isinstance(exc, TimeoutError):
        what = f"sent nothing for the idle timeout ({config.idle_timeout:g} s)"
    elif isinstance(exc, _Ended):
        what = "ended its stream"
    elif isinstance(exc, _GARBLED) and not isinstance(exc, aiohttp.ClientError):
        what = f"sent a malformed chunk ({type(exc).__name__}: {exc})"
    else:
        what = "closed the connection"
    return f"the engine at {config.upstream} {what} {where}"


def _complete(raw: bytes, machine: StreamTranslator, config: BridgeConfig, is_sse: bool) -> list[Event]:
    """Translate a whole answer (JSON completion, or a buffered SSE body) into events."""
    try:
        if is_sse:
            decoder = sse.SSEDecoder()
            chunks = [jsonio.loads(p) for p in decoder.feed(raw) + decoder.flush() if p != sse.DONE]
        else:
            chunks = [completion_to_chunk(jsonio.loads(raw))]
        events = machine.start()
        for chunk in chunks:
            events += machine.feed(chunk)
        return events + machine.finish()
    except UpstreamError as exc:
        raise _Failed(_stream_error(exc.error, config), {}) from exc
    except _GARBLED as exc:
        mapped = Mapped(
            502,
            error_body("api_error", f"the engine sent an answer that is not a chat completion: {raw[:200]!r}"),
            None,
            True,
        )
        raise _Failed(mapped, {}) from exc


def _stream_error(error: Any, config: BridgeConfig) -> Mapped:
    code = error.get("code") if isinstance(error, dict) else None
    # Only an HTTP error status is worth keeping: engines also put strings, booleans or 0 there.
    status = code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else 500
    return map_upstream(status, json.dumps({"error": error}), engine=f"the engine at {config.upstream}")


def _encode(events: list[Event]) -> bytes:
    return b"".join(sse.encode(name, data) for name, data in events)


async def _stream(
    request: web.Request, resp: aiohttp.ClientResponse, machine: StreamTranslator, config: BridgeConfig
) -> web.StreamResponse:
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await out.prepare(request)
    loop = asyncio.get_running_loop()
    last_write = loop.time()
    opened = False  # message_start is out: the next write that is not a ping carries the first content

    async def write(data: bytes) -> None:
        nonlocal last_write
        last_write = loop.time()
        if opened and data is not sse.PING and _FIRST_TOKEN not in request:
            request[_FIRST_TOKEN] = time.perf_counter()
        try:
            await out.write(data)
        except ConnectionError as exc:
            raise _ClientGone() from exc

    async def keepalive() -> None:
        # Long prefills and slow models leave gaps; pings keep the client's idle watchdog quiet.
        with contextlib.suppress(_ClientGone):
            while True:
                await asyncio.sleep(config.ping_interval)
                if loop.time() - last_write >= config.ping_interval:
                    await write(sse.PING)

    pinger = asyncio.create_task(keepalive())
    try:
        await write(_encode(machine.start()))
        opened = True
        try:
            await _pump(resp, machine, config, write)
            tail = _encode(machine.finish())
        except UpstreamError as exc:
            body = _stream_error(exc.error, config).body
            request[_ERROR] = body["error"]["type"]
            await write(_error_event(body, config))
            return out
        except (*_BROKEN, *_GARBLED, _Ended) as exc:
            message = _broken_message(config, exc, "in the middle of the answer")
            request[_ERROR] = "api_error"
            await write(_error_event(error_body("api_error", message), config))
            return out
        await write(tail)
        await out.write_eof()
    except (_ClientGone, ConnectionError):
        # The client went away: closing the engine response (in the caller) stops the generation.
        log.info("client disconnected mid-stream")
    finally:
        pinger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pinger
    return out


async def _pump(
    resp: aiohttp.ClientResponse,
    machine: StreamTranslator,
    config: BridgeConfig,
    write: Callable[[bytes], Awaitable[None]],
) -> None:
    """Relay the engine's chunks as Anthropic events until its answer is complete; raise on any fault."""
    loop = asyncio.get_running_loop()
    decoder = sse.SSEDecoder()
    first_sent = False
    # Only data counts as life: an engine sending nothing but keep-alive comments is as stuck as a silent one.
    deadline = loop.time() + config.idle_timeout
    while True:
        async with asyncio.timeout_at(deadline):
            data = await resp.content.readany()
        if not data:
            break
        payloads = decoder.feed(data)
        if payloads:
            deadline = loop.time() + config.idle_timeout
        buf: list[bytes] = []
        for payload in payloads:
            if payload == sse.DONE:
                if buf:
                    await write(b"".join(buf))
                return
            for name, event in machine.feed(jsonio.loads(payload)):
                buf.append(sse.encode(name, event))
            if not first_sent and buf:
                # The first delta goes out at once, not after the rest of this read burst.
                await write(b"".join(buf))
                buf.clear()
                first_sent = True
        if buf:
            await write(b"".join(buf))
    for payload in decoder.flush():
        if payload != sse.DONE:
            for name, event in machine.feed(jsonio.loads(payload)):
                await write(sse.encode(name, event))
    if machine.finish_reason is None:
        raise _Ended()
