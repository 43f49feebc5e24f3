"""Search backends the bridge queries for the emulated web search: SearXNG, Brave Search, Tavily. Does I/O.

A backend is named by one string (the `web_search` setting):

    http://127.0.0.1:8888            a SearXNG instance (its JSON API must be on: `search.formats: [json]`)
    searxng:URL                      the same, spelled out
    brave  /  brave:URL              Brave Search API (key from BRAVE_API_KEY unless named otherwise)
    tavily /  tavily:URL             Tavily (key from TAVILY_API_KEY unless named otherwise)

Keys are never part of the setting: they are read from an environment variable. Every failure becomes an
`Outcome` with one of Anthropic's error codes, never an exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ccb.proxy.net import is_loopback
from ccb.proxy.translate.websearch import Outcome, SearchResult, ServerTool, filter_results

log = logging.getLogger("ccb.bridge")

KINDS = ("searxng", "brave", "tavily")
DEFAULT_URLS = {"brave": "https://api.search.brave.com/res/v1/web/search", "tavily": "https://api.tavily.com/search"}
DEFAULT_KEY_ENVS = {"brave": "BRAVE_API_KEY", "tavily": "TAVILY_API_KEY"}
TIMEOUT = 20.0
MAX_BODY = 4 * 1024 * 1024
FETCH = 20  # results asked of the backend, before the domain filter


class SpecError(ValueError):
    """A `web_search` setting ccb cannot use."""


@dataclass(frozen=True, slots=True)
class Backend:
    kind: str
    url: str
    key_env: str | None = None

    @property
    def label(self) -> str:
        return "SearXNG" if self.kind == "searxng" else "Brave Search" if self.kind == "brave" else "Tavily"

    @property
    def search_url(self) -> str:
        if self.kind == "searxng":
            base = self.url.rstrip("/")
            return base if base.endswith("/search") else base + "/search"
        return self.url


def parse_spec(spec: str, key_env: str | None = None) -> Backend:
    """The backend a `web_search` setting names; SpecError with the fix when it names none."""
    text = spec.strip()
    kind, url = "searxng", text
    if not text.lower().startswith(("http://", "https://")):
        head, _, rest = text.partition(":")
        kind = head.strip().lower()
        if kind not in KINDS:
            raise SpecError(f"web search backend {spec!r} is unknown: give a SearXNG URL (http://127.0.0.1:8888), "
                            f"or one of {', '.join(KINDS)} (e.g. brave, tavily:https://api.tavily.com/search)")
        url = rest.strip() or DEFAULT_URLS.get(kind, "")
        if not url:
            raise SpecError("searxng needs its URL: searxng:http://127.0.0.1:8888 (or just the URL)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError(f"web search URL {url!r} is not an http(s) URL")
    if kind == "searxng":
        return Backend(kind, url.rstrip("/"), None)
    return Backend(kind, url, key_env or DEFAULT_KEY_ENVS[kind])


def resolve_key(backend: Backend, environ: dict[str, str] | None = None) -> str | None:
    if not backend.key_env:
        return None
    value = (environ if environ is not None else os.environ).get(backend.key_env, "").strip()
    return value or None


def _fail(query: str, code: str, message: str) -> Outcome:
    return Outcome(query=query, error=code, message=message)


def _status_outcome(backend: Backend, query: str, status: int) -> Outcome:
    if status == 429 or status == 432:  # 432: Tavily's plan limit
        return _fail(query, "too_many_requests", f"{backend.label} is rate limiting searches (HTTP {status}); "
                                                 "try again later")
    if status in (401, 403) and backend.kind != "searxng":
        return _fail(query, "unavailable", f"{backend.label} refused the key in ${backend.key_env} (HTTP {status})")
    if status == 403:
        return _fail(query, "unavailable", "the SearXNG instance refused the JSON API (HTTP 403): enable it with "
                                           "`search: formats: [html, json]` in its settings.yml")
    return _fail(query, "unavailable", f"{backend.label} answered HTTP {status}")


async def search(backend: Backend, key: str | None, query: str, tool: ServerTool, *,
                 timeout: float = TIMEOUT) -> Outcome:
    """Run one query; the results pass the client's domain filter. Never raises for a backend fault."""
    if backend.key_env and not key:
        return _fail(query, "unavailable", f"web search through {backend.label} needs a key: set the environment "
                                           f"variable {backend.key_env} for ccb")
    method, url, params, payload, headers = _request(backend, key, query, tool)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(timeout=client_timeout, trust_env=not is_loopback(url)) as session:
            async with session.request(method, url, params=params, json=payload, headers=headers,
                                       allow_redirects=True) as resp:
                raw = await resp.content.read(MAX_BODY)
                if resp.status != 200:
                    return _status_outcome(backend, query, resp.status)
    except (asyncio.TimeoutError, TimeoutError):
        return _fail(query, "unavailable", f"{backend.label} did not answer within {timeout:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return _fail(query, "unavailable", f"cannot reach {backend.label} at {_safe(url)}: "
                                           f"{type(exc).__name__}")
    try:
        data = json.loads(raw)
        results = _parse(backend.kind, data)
    except (ValueError, TypeError, KeyError, AttributeError):
        return _fail(query, "unavailable", f"{backend.label} answered something that is not its JSON search "
                                           f"result ({raw[:60]!r})")
    return Outcome(query=query, results=filter_results(results, tool))


def _safe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "") + parts.path


def _site_query(query: str, tool: ServerTool) -> str:
    # One allowed domain: ask for it (the filter afterwards is what guarantees it).
    if len(tool.allowed_domains) == 1 and "site:" not in query:
        return f"{query} site:{tool.allowed_domains[0]}"
    return query


def _request(backend: Backend, key: str | None, query: str, tool: ServerTool) \
        -> tuple[str, str, dict[str, str] | None, dict[str, Any] | None, dict[str, str]]:
    headers = {"Accept": "application/json"}
    if backend.kind == "searxng":
        return "GET", backend.search_url, {"q": _site_query(query, tool), "format": "json"}, None, headers
    if backend.kind == "brave":
        params = {"q": _site_query(query, tool), "count": str(FETCH)}
        if tool.country and len(tool.country) == 2:
            params["country"] = tool.country.upper()
        headers["X-Subscription-Token"] = key or ""
        return "GET", backend.search_url, params, None, headers
    payload: dict[str, Any] = {"query": query, "max_results": FETCH, "search_depth": "basic"}
    if tool.allowed_domains:
        payload["include_domains"] = list(tool.allowed_domains)
    if tool.blocked_domains:
        payload["exclude_domains"] = list(tool.blocked_domains)
    headers["Authorization"] = f"Bearer {key or ''}"
    return "POST", backend.search_url, None, payload, headers


_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _parse(kind: str, data: Any) -> list[SearchResult]:
    if kind == "searxng":
        items = data["results"]
        date_keys = ("publishedDate",)
        snippet_key = "content"
    elif kind == "brave":
        web = data.get("web") or {}  # no `web` at all: a query with no web results
        items = web.get("results") or []
        date_keys = ("page_age", "age")
        snippet_key = "description"
    else:
        items = data["results"]
        date_keys = ("published_date",)
        snippet_key = "content"
    if not isinstance(items, list):
        raise TypeError("results is not a list")
    out: list[SearchResult] = []
    for item in items:
        if not isinstance(item, dict) or not _text(item.get("url")):
            continue
        date = next((_text(item.get(k)) for k in date_keys if _text(item.get(k))), None)
        title, snippet = _text(item.get("title")), _text(item.get(snippet_key))
        if kind == "brave":  # Brave marks the matched words with <strong>
            title, snippet = _TAG.sub("", title), _TAG.sub("", snippet)
        out.append(SearchResult(url=_text(item["url"]), title=title, snippet=snippet[:1000], date=date))
    return out


def bridge_fields(spec: str | None, key_env: str | None = None,
                  environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """The BridgeConfig fields for a `web_search` setting (none when it is empty); SpecError when unusable."""
    if not spec or not spec.strip():
        return {}
    backend = parse_spec(spec, key_env)
    return {"web_search": spec.strip(), "web_search_key_env": backend.key_env,
            "web_search_key": resolve_key(backend, environ)}
