"""List the models an OpenAI- or Anthropic-style endpoint serves (`ccb models`). Does network I/O (httpx).

The caller gives a base URL. An OpenAI base (its path holds a version segment such as `/v1` or
`/v1beta/openai`) is asked `GET {base}/models`. Anything else is taken for an Anthropic-style root and
asked `{base}/v1/models`, then `{base}/models`, then the same two on the bare host, because vendors mount
their Anthropic skin under a sub-path while the model list stays at the root. The key never appears in an
error message.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ccb.cli.engines.others import context_of
from ccb.cli.engines.reply import as_str
from ccb.cli.engines.status import ModelInfo
from ccb.cli.errors import CcbError
from ccb.proxy.config import AUTH_STYLES

AUTH_SCHEMES = AUTH_STYLES  # one list for profiles, the bridge and model listing
ANTHROPIC_VERSION = "2023-06-01"  # Anthropic's API refuses requests without an anthropic-version header
_MAX_PAGES = 20  # Anthropic pages its list; stop well before a misbehaving server could loop us forever
_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*(/|$)")


def model_list_urls(base: str) -> list[str]:
    """The URLs to try, in order, for a base URL."""
    text = base.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CcbError(f"not an http(s) URL: {base!r}")
    if _VERSION_SEGMENT.search(parts.path):
        return [text + "/models"]
    urls = [text + "/v1/models", text + "/models"]
    if parts.path not in ("", "/"):
        origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        urls += [origin + "/v1/models", origin + "/models"]
    return urls


def auth_headers(api_key: str | None, auth: str, *, anthropic: bool) -> dict[str, str]:
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


def _capabilities(entry: dict[str, Any]) -> tuple[str, ...]:
    caps: list[str] = []
    listed = entry.get("capabilities")  # Ollama-style lists ("tools", "thinking", "vision")
    for cap in listed if isinstance(listed, list) else []:
        name = "tools" if cap == "tool_use" else cap
        if isinstance(name, str) and name not in caps:
            caps.append(name)
    params = entry.get("supported_parameters")  # gateways such as OpenRouter advertise request parameters
    if isinstance(params, list):
        if "tools" in params and "tools" not in caps:
            caps.append("tools")
        if "reasoning" in params and "thinking" not in caps:
            caps.append("thinking")
    return tuple(caps)


def _model(entry: dict[str, Any]) -> ModelInfo | None:
    model_id = as_str(entry.get("id")) or as_str(entry.get("name")) or as_str(entry.get("model"))
    if model_id is None:
        return None
    status = entry.get("status")
    loaded = status.get("value") == "loaded" if isinstance(status, dict) else None
    meta = entry.get("meta")
    trained = meta.get("n_ctx_train") if isinstance(meta, dict) else None
    return ModelInfo(
        id=model_id,
        context_length=context_of(entry),
        loaded=loaded,
        capabilities=_capabilities(entry),
        max_context_length=trained if isinstance(trained, int) and not isinstance(trained, bool) else None,
    )


def parse_model_list(body: Any) -> tuple[list[ModelInfo], str | None] | None:
    """Models and the next-page cursor from an OpenAI, Anthropic, Ollama-style or bare-array list.

    None when the body is none of these.
    """
    if isinstance(body, list):
        entries: Any = body
    elif isinstance(body, dict) and isinstance(body.get("data"), list):
        entries = body["data"]
    elif isinstance(body, dict) and isinstance(body.get("models"), list):
        entries = body["models"]
    else:
        return None
    models = [m for m in (_model(e) for e in entries if isinstance(e, dict)) if m is not None]
    cursor = None
    if isinstance(body, dict) and body.get("has_more") is True:
        cursor = as_str(body.get("last_id"))
    return models, cursor


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _fetch_all(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> tuple[int, list[ModelInfo] | None]:
    """(last HTTP status, models) for one candidate URL; models is None when this URL holds no model list."""
    found: list[ModelInfo] = []
    params: dict[str, str] = {}
    for _ in range(_MAX_PAGES):
        response = await client.get(url, headers=headers, params=params)
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        # Status and shape both: LM Studio answers unknown routes 200 with {"error": "..."}.
        parsed = parse_model_list(body) if response.status_code == 200 else None
        if parsed is None or (isinstance(body, dict) and "error" in body):
            return response.status_code, (found or None)
        models, cursor = parsed
        found.extend(models)
        if cursor is None:
            break
        params = {"after_id": cursor}
    return 200, found


def unreachable_advice(url: str, detail: str = "") -> str:
    """Why a connection may have failed, worded for where `url` is: this machine, or a hosted service."""
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or url
    if _loopback(url):
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
    """The models served at a base URL. Raises CcbError with a plain reason when none can be listed."""
    urls = model_list_urls(openai_base)
    anthropic = len(urls) > 1  # several candidates means this is not an OpenAI base
    headers = auth_headers(api_key, auth, anthropic=anthropic)
    statuses: list[str] = []
    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=not _loopback(urls[0])) as client:
        for url in urls:
            try:
                status, models = await _fetch_all(client, url, headers)
            except httpx.ConnectError as exc:
                raise CcbError(f"could not connect to {url}: {unreachable_advice(url, str(exc))}") from None
            except httpx.TimeoutException:
                raise CcbError(f"{url} did not answer within {timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise CcbError(f"request to {url} failed: {type(exc).__name__}") from None
            if models is not None:
                return models
            if status in (401, 403):
                hint = "no API key was sent" if not api_key or auth == "none" else "the API key was rejected"
                raise CcbError(f"{url} answered HTTP {status}: {hint} (set one with --api-key-env VAR)")
            statuses.append(f"{url} -> HTTP {status}")
    raise CcbError("no model list found: " + "; ".join(statuses))
