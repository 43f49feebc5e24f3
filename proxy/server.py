"""The bridge's aiohttp application: routes, auth, body limits, Anthropic-shaped errors. Does I/O.

Handlers stay thin: translation lives in `ccb.proxy.translate`, the engine round trip in
`ccb.proxy.relay`, the HTTP client in `ccb.proxy.upstream`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ccb.proxy import jsonio, relay, requestid
from ccb.proxy.config import TIERS, BridgeConfig, ModelMap
from ccb.proxy.connguard import GUARD, ConnectionGuard
from ccb.proxy.memory import Trimmer
from ccb.proxy.metrics import CONTENT_TYPE, Metrics
from ccb.proxy.net import health_proof, host_is_loopback_name, is_loopback_host, printable
from ccb.proxy.translate.errors import error_for
from ccb.proxy.translate.request import RequestError, estimate_tokens, validate
from ccb.proxy.upstream import Upstream

log = logging.getLogger("ccb.bridge")

CONFIG = web.AppKey("config", BridgeConfig)
UPSTREAM = web.AppKey("upstream", Upstream)
METRICS = web.AppKey("metrics", Metrics)
TRIMMER = web.AppKey("trimmer", Trimmer)
REQUEST_ID = web.RequestKey("request_id", str)
PUBLIC = frozenset({"/", "/health", "/api/hello"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(requestid.stamp(error_for(status, message))).encode(),
        content_type="application/json",
        headers=headers,
    )


def _token_from(request: web.Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token check, Anthropic-shaped errors for anything aiohttp itself rejects, and a request log line."""
    started = time.perf_counter()
    config = request.app[CONFIG]
    request[REQUEST_ID] = rid = requestid.begin()
    guard = request.app.get(GUARD)
    if guard is not None:
        guard.request_started(request)
    metrics, trimmer = request.app[METRICS], request.app[TRIMMER]
    metrics.started()
    trimmer.started()
    try:
        if not _host_allowed(request):
            # DNS rebinding: a web page whose name now resolves to 127.0.0.1 sends its own name as Host.
            response: web.StreamResponse = json_error(
                403,
                f"Host {printable(request.headers.get('Host', ''))!r} is not this bridge's address; "
                "use http://127.0.0.1:PORT",
            )
            log.warning(
                "refused %s %s: Host %r is not a loopback name",
                request.method,
                printable(request.path),
                printable(request.headers.get("Host", "")),
            )
            return _finish(request, guard, response, started)
        if config.auth_token and request.path not in PUBLIC:
            given = _token_from(request)
            # Constant-time comparison: the token is the only thing between a local process and the engine.
            # Header bytes that are not UTF-8 arrive as surrogates: encode them back rather than fail.
            if given is None or not hmac.compare_digest(
                given.encode("utf-8", "surrogateescape"), config.auth_token.encode()
            ):
                response = json_error(
                    401,
                    "missing or wrong bridge token: send the token ccb printed as "
                    "Authorization: Bearer (ANTHROPIC_AUTH_TOKEN) or x-api-key",
                )
                # Logged (never the token itself): a mistyped token or someone guessing leaves a trace.
                log.warning(
                    "refused %s %s: %s bridge token (peer %s)",
                    request.method,
                    printable(request.path),
                    "no" if given is None else "wrong",
                    request.remote,
                )
                return _finish(request, guard, response, started)
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404:
            response = json_error(404, f"no such endpoint: {request.method} {request.path}")
        elif exc.status == 405:
            response = json_error(405, f"method {request.method} not allowed on {request.path}")
        elif exc.status == 413:
            response = json_error(413, f"request body is larger than {config.max_body} bytes")
        else:
            response = json_error(exc.status, exc.reason)
    except BaseException as exc:  # a client that went away (cancelled) is no error; anything else is
        status = 0 if isinstance(exc, asyncio.CancelledError) else 500
        metrics.finished(request.path, status, time.perf_counter() - started, relay.notes(request, started))
        raise
    finally:
        trimmer.finished(request.content_length)
    # One line per request, the engine's answer included (model, stop reason, tokens), ending in the request id.
    log.info(
        "%s %s %d %.1fms %s%s",
        request.method,
        printable(request.path),
        response.status,
        (time.perf_counter() - started) * 1000,
        relay.answer_summary(request),
        rid,
    )
    return _finish(request, guard, response, started)


def _finish(
    request: web.Request, guard: ConnectionGuard | None, response: web.StreamResponse, started: float
) -> web.StreamResponse:
    if guard is not None:
        guard.request_done(request)
    request.app[METRICS].finished(
        request.path, response.status, time.perf_counter() - started, relay.notes(request, started)
    )
    return response


def _host_allowed(request: web.Request) -> bool:
    """On a loopback listener only loopback names are accepted as Host (every route, /health included)."""
    host = request.headers.get("Host")
    if host is None:
        return True
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if not sockname or not is_loopback_host(str(sockname[0])):
        return True  # a non-loopback bind (which demands a token) serves whatever names point at it
    return host_is_loopback_name(host)


async def read_body(request: web.Request) -> dict[str, Any]:
    """Parse the JSON body; oversize bodies are refused before they are read."""
    config = request.app[CONFIG]
    if request.content_length is not None and request.content_length > config.max_body:
        raise web.HTTPRequestEntityTooLarge(max_size=config.max_body, actual_size=request.content_length)
    try:
        raw = await _read_raw(request, config.max_body)
    except web.RequestPayloadError as exc:  # e.g. a Content-Encoding the body does not match
        raise RequestError(f"request body cannot be read: {exc}") from exc
    try:
        body, fallback = jsonio.parse(raw)
    except jsonio.TooDeep as exc:
        raise RequestError(f"request body: {exc}") from exc
    except ValueError as exc:
        raise RequestError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    parsed: dict[str, Any] = body
    if fallback and _SURROGATE_ESCAPE.search(raw):  # orjson refuses lone surrogates, so only the fallback sees them
        try:
            parsed = _without_lone_surrogates(parsed)
        except RecursionError as exc:
            raise RequestError(f"request body: JSON nested deeper than {jsonio.MAX_NESTING} levels") from exc
    return parsed


async def _read_raw(request: web.Request, limit: int) -> bytes:
    """The body, read past aiohttp's `request.read()`, which keeps a copy for the request's whole life: here the
    bytes go as soon as they are parsed (32 large requests in flight would otherwise hold 32 copies)."""
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:  # a body without Content-Length (chunked) that grows past the limit
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        parts.append(chunk)
    return b"".join(parts)


# JSON may carry lone UTF-16 surrogates as \uD8xx escapes (JavaScript strings hold them, e.g. from a file
# read in a tool result); they cannot be encoded as UTF-8 for the engine, so they become U+FFFD.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    return value


async def messages(request: web.Request) -> web.StreamResponse:
    try:
        body = await read_body(request)
        validate(body)
    except RequestError as exc:
        return json_error(400, str(exc))
    return await relay.handle(request, body, request.app[CONFIG], request.app[UPSTREAM])


async def count_tokens(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    try:
        body = await read_body(request)
        validate(body, require_max_tokens=False)
        translated = relay.translate_request(body, config, stream=False)
    except RequestError as exc:
        return json_error(400, str(exc))
    count = await request.app[UPSTREAM].count_tokens(body, translated.body)
    if count is None:
        count = translated.prompt_estimate  # an honest estimate from the text itself, never 0
    return web.json_response({"input_tokens": count})


async def list_models(request: web.Request) -> web.Response:
    models = request.app[CONFIG].models
    ids: list[str] = []
    for name in (models.default, models.opus, models.sonnet, models.haiku, models.fable, *models.exact.values()):
        if name and name not in ids:
            ids.append(name)
    data = [{"type": "model", "id": i, "display_name": i, "created_at": "1970-01-01T00:00:00Z"} for i in ids]
    return web.json_response(
        {"data": data, "has_more": False, "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}
    )


def _served(models: ModelMap, model_id: str) -> str | None:
    """The engine model a client name reaches, for the names the bridge serves: its own model ids, the
    profile's exact names, and Anthropic model names and tiers (which all map to a model)."""
    own = {
        m for m in (models.default, models.opus, models.sonnet, models.haiku, models.fable, *models.exact.values()) if m
    }
    if model_id in own:
        return model_id
    low = model_id.lower()
    if (
        model_id in models.exact
        or low.startswith("claude")
        or low in (*TIERS, "default")
        or any(tier in low for tier in TIERS)
    ):
        return models.resolve(model_id)
    return None


async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    target = _served(request.app[CONFIG].models, model_id)
    if target is None:
        return json_error(404, f"model: {model_id}")
    name = model_id if target == model_id else f"{model_id} (served by {target})"
    return web.json_response(
        {"type": "model", "id": model_id, "display_name": name, "created_at": "1970-01-01T00:00:00Z"}
    )


async def _stamp_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[requestid.HEADER] = request.get(REQUEST_ID) or requestid.new()


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format, behind the bridge's token like every other route but / and /health."""
    config = request.app[CONFIG]
    window = request.app[UPSTREAM].known_window()
    body = request.app[METRICS].render(model=config.models.default, engine=config.dialect.name, window=window)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def root(request: web.Request) -> web.Response:
    return web.Response(text="ccb bridge is running\n")


async def health(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    # Public route: a password in the engine URL must not show.
    answer: dict[str, Any] = {
        "status": "ok",
        "upstream": config.redact(config.upstream),
        "model": config.models.default,
    }
    challenge = request.query.get("challenge", "")
    if config.auth_token and 16 <= len(challenge) <= 128:
        # ccb checks that the listener on its port is its own bridge without sending the token to it.
        answer["proof"] = health_proof(config.auth_token, challenge)
    return web.json_response(answer)


def make_app(config: BridgeConfig, figures: Metrics | None = None) -> web.Application:
    """The bridge application; `figures` is where it counts (shared between workers), else in memory."""
    app = web.Application(client_max_size=config.max_body, middlewares=[_guard])
    figures = figures or Metrics()
    upstream = Upstream(config, on_engine=figures.engine)
    app[CONFIG] = config
    app[UPSTREAM] = upstream
    app[METRICS] = figures
    app[TRIMMER] = Trimmer()

    async def start(_: web.Application) -> None:
        await upstream.start()

    async def stop(_: web.Application) -> None:
        await upstream.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.on_response_prepare.append(_stamp_header)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model_id}", get_model)
    app.router.add_get("/", root)  # also answers HEAD: Claude Code up to 2.1.197 pre-warms the connection with it
    app.router.add_get("/health", health)
    # Claude Code 2.1.247+ pre-warms the connection with `HEAD /api/hello` (no token, status ignored).
    app.router.add_get("/api/hello", root)
    app.router.add_get("/metrics", metrics)
    return app


__all__ = ["CONFIG", "UPSTREAM", "estimate_tokens", "make_app"]
