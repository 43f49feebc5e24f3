"""ccb's one HTTP client for engines and providers: probes, model lists, the refusal test. Does network I/O (httpx).

`client_for` makes the client (no redirects; no system proxy for this machine), `Fetcher` runs a probe's bounded
GETs and read-only POSTs, `fetch_model_list` and `list_models` read model lists (`ccb models`, the wizard, doctor),
and `is_refusal` tells "nothing listens there" from other connection failures.

For probes: Every request is bounded twice: by the per-request timeout and by the candidate's overall
deadline, so one slow or silent server cannot stretch a probe. Failures are returned as values
(`Reply.failure`) rather than raised, because a follow-up check that fails only means "we learned nothing
more".
"""

from __future__ import annotations

import asyncio
import errno
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from ccb.cli.engines.catalog import model_list_urls, parse_model_list
from ccb.cli.engines.reply import Reply
from ccb.cli.engines.status import ModelInfo
from ccb.cli.errors import CcbError
from ccb.proxy.config import AUTH_STYLES
from ccb.proxy.net import is_loopback

AUTH_SCHEMES = AUTH_STYLES  # one list for profiles, the bridge and model listing
ANTHROPIC_VERSION = "2023-06-01"  # Anthropic's API refuses requests without an anthropic-version header
_MAX_PAGES = 20  # Anthropic pages its list; stop well before a misbehaving server could loop us forever

# Bodies larger than this are not an engine's JSON metadata; stop reading rather than buffer a file download.
MAX_BODY = 4 * 1024 * 1024

# The only POST routes a probe may call. All three count or describe; none generates, loads or changes state.
READ_ONLY_POSTS = frozenset({"/api/show", "/v1/messages/count_tokens", "/tokenize"})


class Fetcher:
    """Requests against one engine root, sharing a client, the auth headers and a deadline."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        root: str,
        *,
        headers: dict[str, str],
        timeout: float,
        deadline: float,
    ) -> None:
        self.client = client
        self.root = root
        self.headers = headers
        self.timeout = timeout
        self.deadline = deadline  # in asyncio loop time

    def _budget(self) -> float:
        return min(self.timeout, self.deadline - asyncio.get_running_loop().time())

    async def get(self, path: str) -> Reply:
        return await self._send("GET", path, None)

    async def post(self, path: str, payload: dict[str, Any]) -> Reply:
        if path not in READ_ONLY_POSTS:  # a probe must never trigger generation or change engine state
            raise ValueError(f"refusing to POST {path}: not a read-only probe route")
        return await self._send("POST", path, payload)

    async def _send(self, method: str, path: str, payload: dict[str, Any] | None) -> Reply:
        budget = self._budget()
        if budget <= 0:
            return Reply(0, failure="timeout", reason="probe deadline reached")
        headers = dict(self.headers)
        content: bytes | None = None
        if payload is not None:
            headers["content-type"] = "application/json"
            content = json.dumps(payload).encode()
        try:
            # httpx timeouts apply per network operation; asyncio.timeout caps the whole exchange, so a server
            # trickling bytes cannot hold the probe open.
            async with asyncio.timeout(budget):
                async with self.client.stream(
                    method, self.root + path, headers=headers, content=content, timeout=budget
                ) as response:
                    raw = bytearray()
                    async for chunk in response.aiter_bytes():
                        raw += chunk
                        if len(raw) > MAX_BODY:
                            break
                    status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            return Reply(0, failure="timeout", reason=f"timed out after {round(min(budget, self.timeout), 2):g} s")
        except httpx.ConnectError as exc:
            if is_refusal(exc):
                return Reply(0, failure="refused", reason="connection refused")
            return Reply(0, failure="error", reason=f"could not connect: {exc}")
        except (httpx.RemoteProtocolError, httpx.LocalProtocolError):
            return Reply(0, failure="protocol", reason="the port is open but does not speak HTTP")
        except httpx.HTTPError as exc:
            return Reply(0, failure="error", reason=f"{type(exc).__name__}: {exc}")
        try:
            body: Any = json.loads(raw) if raw and len(raw) <= MAX_BODY else None
        except ValueError:  # HTML, plain text, binary: not an engine's JSON
            body = None
        return Reply(status, body)


def is_refusal(exc: BaseException) -> bool:
    """A refused connection (nothing listening) rather than DNS, TLS or routing trouble. The one refusal test."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        if isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED:
            return True
        seen = seen.__cause__ or seen.__context__
    return "refused" in str(exc).lower()


def client_for(url: str, *, timeout: float = 5.0) -> httpx.AsyncClient:
    """The client for requests to `url`'s host: no redirects, and no system proxy for this machine (`timeout`:
    per network operation, httpx's default unless given).

    A system proxy must not swallow requests to this machine (HTTP_PROXY without NO_PROXY is common); remote
    engines and providers may legitimately sit behind one, so only loopback ignores the environment.
    """
    return httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=not is_loopback(url))


def probe_headers(api_key: str | None) -> dict[str, str]:
    """The key both ways: OpenAI-style servers read Bearer, Anthropic-style ones read x-api-key."""
    if not api_key:
        return {}
    return {"authorization": f"Bearer {api_key}", "x-api-key": api_key}


def auth_headers(api_key: str | None, auth: str, *, anthropic: bool) -> dict[str, str]:
    """The headers a profile's auth scheme sends its key in (`anthropic`: also Anthropic's version header)."""
    if auth not in AUTH_SCHEMES:
        raise CcbError(f"unknown auth scheme {auth!r}: use one of {', '.join(AUTH_SCHEMES)}")
    headers: dict[str, str] = {}
    if anthropic or auth == "x-api-key":
        headers["anthropic-version"] = ANTHROPIC_VERSION
    if not api_key or auth == "none":
        return headers
    if auth == "bearer":
        headers["authorization"] = f"Bearer {api_key}"
    elif auth == "x-api-key":
        headers["x-api-key"] = api_key
    else:  # Azure-style gateways
        headers["api-key"] = api_key
    return headers


def json_body(response: httpx.Response) -> Any:
    """The answer's body as JSON, or None when it is none (HTML, plain text, empty)."""
    try:
        return response.json()
    except ValueError:
        return None


@dataclass(frozen=True)
class ModelList:
    """What one model-list URL answered: its models (None when it holds no list), else the last body."""

    status: int
    models: tuple[ModelInfo, ...] | None
    body: Any = None
    text: str = ""


async def fetch_model_list(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> ModelList:
    """GET one candidate URL's model list, following Anthropic's pages. Raises httpx errors."""
    found: list[ModelInfo] | None = None
    params: dict[str, str] = {}
    for _ in range(_MAX_PAGES):
        response = await client.get(url, headers=headers, params=params)
        body = json_body(response)
        # Status and shape both: LM Studio answers unknown routes 200 with {"error": "..."}.
        parsed = parse_model_list(body) if response.status_code == 200 else None
        if parsed is None or (isinstance(body, dict) and "error" in body):
            return ModelList(response.status_code, tuple(found) if found is not None else None, body, response.text)
        models, cursor = parsed
        found = [*(found or []), *models]
        if cursor is None:
            break
        params = {"after_id": cursor}
    return ModelList(200, tuple(found or ()))


def unreachable_advice(url: str, detail: str = "") -> str:
    """Why a connection may have failed, worded for where `url` is: this machine, or a hosted service."""
    host = urlsplit(url).hostname or url
    if is_loopback(url):
        return "is the server running?"
    low = detail.lower()
    if (
        "name or service not known" in low
        or "nodename nor servname" in low
        or "name resolution" in low
        or "getaddrinfo" in low
        or "no address associated" in low
    ):
        return f"{host} could not be resolved: no network or DNS here? behind a proxy (set HTTPS_PROXY)?"
    return f"{host} did not take the connection: no network, a firewall, or a proxy in the way (HTTPS_PROXY)?"


async def list_models(
    openai_base: str, *, api_key: str | None = None, auth: str = "bearer", timeout: float = 10
) -> list[ModelInfo]:
    """The models served at a base URL (`ccb models`). Raises CcbError with a plain reason when none can be listed.

    The key never appears in an error message.
    """
    urls = model_list_urls(openai_base)
    anthropic = len(urls) > 1  # several candidates means this is not an OpenAI base
    headers = auth_headers(api_key, auth, anthropic=anthropic)
    statuses: list[str] = []
    async with client_for(urls[0], timeout=timeout) as client:
        for url in urls:
            try:
                answer = await fetch_model_list(client, url, headers)
            except httpx.ConnectError as exc:
                raise CcbError(f"could not connect to {url}: {unreachable_advice(url, str(exc))}") from None
            except httpx.TimeoutException:
                raise CcbError(f"{url} did not answer within {timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise CcbError(f"request to {url} failed: {type(exc).__name__}") from None
            if answer.models:
                return list(answer.models)
            if answer.status in (401, 403):
                hint = "no API key was sent" if not api_key or auth == "none" else "the API key was rejected"
                raise CcbError(f"{url} answered HTTP {answer.status}: {hint} (set one with --api-key-env VAR)")
            statuses.append(f"{url} -> HTTP {answer.status}")
    raise CcbError("no model list found: " + "; ".join(statuses))
