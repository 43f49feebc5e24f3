"""Search backends the bridge queries for the emulated web search: SearXNG, Brave Search, Tavily. Does I/O.

Which backend and key a setting names is `ccb.proxy.websearch.spec`. Every failure becomes an `Outcome` with
one of Anthropic's error codes, never an exception.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ccb.proxy.net import is_loopback
from ccb.proxy.translate.websearch import Outcome, SearchResult, ServerTool, filter_results
from ccb.proxy.websearch.spec import Backend, SpecError, bridge_fields, parse_spec, resolve_key

__all__ = ["Backend", "SpecError", "bridge_fields", "parse_spec", "resolve_key", "search"]

log = logging.getLogger("ccb.bridge")

TIMEOUT = 20.0
MAX_BODY = 4 * 1024 * 1024
FETCH = 20  # results asked of the backend, before the domain filter


def _fail(query: str, code: str, message: str) -> Outcome:
    return Outcome(query=query, error=code, message=message)


def _status_outcome(backend: Backend, query: str, status: int) -> Outcome:
    if status == 429 or status == 432:  # 432: Tavily's plan limit
        return _fail(
            query, "too_many_requests", f"{backend.label} is rate limiting searches (HTTP {status}); try again later"
        )
    if status in (401, 403) and backend.kind != "searxng":
        return _fail(query, "unavailable", f"{backend.label} refused the key in ${backend.key_env} (HTTP {status})")
    if status == 403:
        return _fail(
            query,
            "unavailable",
            "the SearXNG instance refused the JSON API (HTTP 403): enable it with "
            "`search: formats: [html, json]` in its settings.yml",
        )
    return _fail(query, "unavailable", f"{backend.label} answered HTTP {status}")


async def search(
    backend: Backend, key: str | None, query: str, tool: ServerTool, *, timeout: float = TIMEOUT
) -> Outcome:
    """Run one query; the results pass the client's domain filter. Never raises for a backend fault."""
    if backend.key_env and not key:
        return _fail(
            query,
            "unavailable",
            f"web search through {backend.label} needs a key: set the environment variable {backend.key_env} for ccb",
        )
    method, url, params, payload, headers = _request(backend, key, query, tool)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with (
            aiohttp.ClientSession(timeout=client_timeout, trust_env=not is_loopback(url)) as session,
            session.request(method, url, params=params, json=payload, headers=headers, allow_redirects=False) as resp,
        ):
            raw = await resp.content.read(MAX_BODY)
            if 300 <= resp.status <= 399:  # never followed: a key would go wherever the redirect points
                where = _safe(resp.headers.get("Location", "")) or "no Location given"
                return _fail(
                    query,
                    "unavailable",
                    f"{backend.label} answered a redirect ({where}): put the address "
                    "it should use in the web search setting",
                )
            if resp.status != 200:
                return _status_outcome(backend, query, resp.status)
    except TimeoutError:
        return _fail(query, "unavailable", f"{backend.label} did not answer within {timeout:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return _fail(query, "unavailable", f"cannot reach {backend.label} at {_safe(url)}: {type(exc).__name__}")
    try:
        data = json.loads(raw)
        results = _parse(backend.kind, data)
    except (ValueError, TypeError, KeyError, AttributeError):
        return _fail(
            query,
            "unavailable",
            f"{backend.label} answered something that is not its JSON search result ({raw[:60]!r})",
        )
    return Outcome(query=query, results=filter_results(results, tool))


def _safe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "") + parts.path


def _site_query(query: str, tool: ServerTool) -> str:
    # One allowed domain: ask for it (the filter afterwards is what guarantees it).
    if len(tool.allowed_domains) == 1 and "site:" not in query:
        return f"{query} site:{tool.allowed_domains[0]}"
    return query


def _request(
    backend: Backend, key: str | None, query: str, tool: ServerTool
) -> tuple[str, str, dict[str, str] | None, dict[str, Any] | None, dict[str, str]]:
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
    date_keys: tuple[str, ...]
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
