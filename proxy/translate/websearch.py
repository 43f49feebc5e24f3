"""Anthropic's `web_search` server tool, emulated for OpenAI engines: the pure half. No I/O.

The engine is offered an ordinary function (`web_search`, one `query` argument); the bridge runs each call
against a search backend and answers the client with Anthropic's blocks: `server_tool_use`, then
`web_search_tool_result` (a list of `web_search_result`, or a `web_search_tool_result_error`). This module
builds those blocks, the text the engine reads, the domain filter, and turns the server blocks of an earlier
answer back into a call and its result when a conversation comes round again.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

FUNCTION_NAME = "web_search"
DEFAULT_MAX_USES = 8  # what Claude Code asks for; also the cap when a request names none
MAX_RESULTS = 8
MAX_QUERY = 500
_ENCRYPTED_PREFIX = "ccb1."
# Anthropic's error codes for a web_search_tool_result_error.
ERROR_CODES = (
    "too_many_requests",
    "invalid_tool_input",
    "max_uses_exceeded",
    "query_too_long",
    "unavailable",
    "request_too_large",
)


def is_web_search_tool(tool: Any) -> bool:
    """A `web_search_YYYYMMDD` server tool definition (any version)."""
    return isinstance(tool, dict) and isinstance(tool.get("type"), str) and tool["type"].startswith("web_search_")


def server_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The request's web_search server tool definition, if it has one."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return None
    return next((t for t in tools if is_web_search_tool(t)), None)


@dataclass(frozen=True, slots=True)
class ServerTool:
    """What the client's server tool definition asks for."""

    name: str = "web_search"
    max_uses: int = DEFAULT_MAX_USES
    allowed_domains: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()
    country: str | None = None  # user_location.country, an ISO 3166-1 alpha-2 code
    region: str | None = None
    city: str | None = None

    @classmethod
    def from_definition(cls, tool: dict[str, Any]) -> ServerTool:
        max_uses = tool.get("max_uses")
        found = tool.get("user_location")
        location: dict[str, Any] = found if isinstance(found, dict) else {}

        def text(value: Any) -> str | None:
            return value.strip() if isinstance(value, str) and value.strip() else None

        return cls(
            name=text(tool.get("name")) or "web_search",
            max_uses=max_uses
            if isinstance(max_uses, int) and not isinstance(max_uses, bool) and max_uses > 0
            else DEFAULT_MAX_USES,
            allowed_domains=_domains(tool.get("allowed_domains")),
            blocked_domains=_domains(tool.get("blocked_domains")),
            country=text(location.get("country")),
            region=text(location.get("region")),
            city=text(location.get("city")),
        )


def _domains(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(d for d in (normalize_domain(v) for v in value if isinstance(v, str)) if d)


def normalize_domain(value: str) -> str:
    """`https://www.Example.com/docs` → `www.example.com`: the host part of whatever the client wrote."""
    text = value.strip().lower()
    if "://" in text:
        text = urlsplit(text).hostname or ""
    return text.split("/", 1)[0].split(":", 1)[0].strip(".")


@dataclass(frozen=True, slots=True)
class SearchResult:
    url: str
    title: str
    snippet: str = ""
    date: str | None = None


@dataclass(slots=True)
class Outcome:
    """One search: results, or an error code with a sentence for the engine (and the user)."""

    query: str
    results: list[SearchResult] = field(default_factory=list)
    error: str | None = None  # one of ERROR_CODES
    message: str = ""


def host_matches(url: str, domains: tuple[str, ...]) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower().strip(".")
    except ValueError:
        return False
    return any(host == d or host.endswith("." + d) for d in domains)


def filter_results(results: list[SearchResult], tool: ServerTool, limit: int = MAX_RESULTS) -> list[SearchResult]:
    """Results the client's allowed/blocked domains let through, http(s) only, no duplicates, at most `limit`."""
    out: list[SearchResult] = []
    seen: set[str] = set()
    for r in results:
        if not r.url.startswith(("http://", "https://")) or r.url in seen:
            continue
        if tool.allowed_domains and not host_matches(r.url, tool.allowed_domains):
            continue
        if tool.blocked_domains and host_matches(r.url, tool.blocked_domains):
            continue
        seen.add(r.url)
        out.append(r)
        if len(out) >= limit:
            break
    return out


def check_query(query: Any) -> tuple[str, str | None]:
    """The query to run, or an error code when the engine's call cannot be run."""
    if not isinstance(query, str) or not query.strip():
        return "", "invalid_tool_input"
    query = query.strip()
    if len(query) > MAX_QUERY:
        return query, "query_too_long"
    return query, None


# -- what the engine sees --------------------------------------------------------------------


def function_definition(tool: ServerTool, name: str = FUNCTION_NAME) -> dict[str, Any]:
    description = (
        "Search the web. Returns the title, URL, a snippet and the date of each result. Use it for "
        "current information and facts you are unsure of; cite the URLs of the results you use."
    )
    if tool.allowed_domains:
        description += " Only results from these domains are returned: " + ", ".join(tool.allowed_domains) + "."
    if tool.blocked_domains:
        description += " Results from these domains are never returned: " + ", ".join(tool.blocked_domains) + "."
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "The search query"}},
                "required": ["query"],
            },
        },
    }


def results_text(outcome: Outcome) -> str:
    """The tool message the engine reads for one search."""
    if outcome.error:
        return f"Error ({outcome.error}): {outcome.message or 'the web search failed'}"
    if not outcome.results:
        return f'The web search for "{outcome.query}" found no results.'
    lines = [f'Web search results for "{outcome.query}":']
    for i, r in enumerate(outcome.results, 1):
        lines.append("")
        lines.append(f"[{i}] {r.title or r.url}")
        lines.append(f"URL: {r.url}")
        if r.date:
            lines.append(f"Date: {r.date}")
        if r.snippet:
            lines.append(r.snippet)
    return "\n".join(lines)


# -- what the client sees --------------------------------------------------------------------


def encrypted_content(result: SearchResult) -> str:
    """Anthropic's opaque `encrypted_content`: here the result itself, so a later turn can show it to the engine."""
    raw = json.dumps(
        {"t": result.title, "u": result.url, "s": result.snippet, "d": result.date},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return _ENCRYPTED_PREFIX + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_encrypted(value: Any) -> SearchResult | None:
    if not isinstance(value, str) or not value.startswith(_ENCRYPTED_PREFIX):
        return None
    data = value[len(_ENCRYPTED_PREFIX) :]
    try:
        raw = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        return SearchResult(
            url=str(raw["u"]),
            title=str(raw.get("t") or ""),
            snippet=str(raw.get("s") or ""),
            date=raw.get("d") if isinstance(raw.get("d"), str) else None,
        )
    except (ValueError, KeyError, TypeError):
        return None


def server_tool_use(block_id: str, name: str, query: str) -> dict[str, Any]:
    return {"type": "server_tool_use", "id": block_id, "name": name, "input": {"query": query}}


def result_block(block_id: str, outcome: Outcome) -> dict[str, Any]:
    content: Any
    if outcome.error:
        content = {"type": "web_search_tool_result_error", "error_code": outcome.error}
    else:
        content = [
            {
                "type": "web_search_result",
                "url": r.url,
                "title": r.title or r.url,
                "encrypted_content": encrypted_content(r),
                "page_age": r.date,
            }
            for r in outcome.results
        ]
    return {"type": "web_search_tool_result", "tool_use_id": block_id, "content": content}


def usage_with_searches(usage: dict[str, Any], searches: int) -> dict[str, Any]:
    return {**usage, "server_tool_use": {"web_search_requests": searches, "web_fetch_requests": 0}}


def not_configured_text(tool_name: str = "web_search") -> str:
    return (
        f"Web search is not configured for this ccb profile, so no search was run ({tool_name} needs a search "
        "backend). To enable it, give ccb a SearXNG instance (or a Brave Search or Tavily key): "
        "`ccb profile add NAME ... --web-search http://127.0.0.1:8888` for a profile, "
        "`ccb serve --web-search URL`, or the CCB_WEB_SEARCH environment variable; "
        "`ccb doctor` checks it."
    )


# -- earlier answers, sent back by the client ------------------------------------------------------


def expand_history(messages: list[Any], function_name: str = FUNCTION_NAME) -> list[Any]:
    """Assistant turns holding `server_tool_use` + `web_search_tool_result` become an ordinary call and its
    result (assistant tool_use, user tool_result, assistant rest), so the engine sees what it searched and found."""
    if not any(_has_server_blocks(m) for m in messages):
        return messages
    out: list[Any] = []
    for msg in messages:
        if not _has_server_blocks(msg):
            out.append(msg)
            continue
        current: list[Any] = []
        for block in msg["content"]:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "server_tool_use":
                current.append(
                    {
                        "type": "tool_use",
                        "id": str(block.get("id", "")),
                        "name": function_name,
                        "input": block.get("input") if isinstance(block.get("input"), dict) else {},
                    }
                )
            elif kind == "web_search_tool_result":
                if current:
                    out.append({"role": "assistant", "content": current})
                    current = []
                out.append(
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": str(block.get("tool_use_id", "")),
                                "content": _history_result_text(block.get("content")),
                            }
                        ],
                    }
                )
            else:
                current.append(block)
        if current:
            out.append({"role": "assistant", "content": current})
    return out


def _has_server_blocks(msg: Any) -> bool:
    return (
        isinstance(msg, dict)
        and msg.get("role") == "assistant"
        and isinstance(msg.get("content"), list)
        and any(
            isinstance(b, dict) and b.get("type") in ("server_tool_use", "web_search_tool_result")
            for b in msg["content"]
        )
    )


def _history_result_text(content: Any) -> str:
    if isinstance(content, dict):
        return f"Error ({content.get('error_code', 'unavailable')}): the web search failed"
    results: list[SearchResult] = []
    for item in content if isinstance(content, list) else ():
        if not isinstance(item, dict):
            continue
        decoded = decode_encrypted(item.get("encrypted_content"))
        results.append(
            decoded
            or SearchResult(
                url=str(item.get("url", "")),
                title=str(item.get("title") or ""),
                date=item.get("page_age") if isinstance(item.get("page_age"), str) else None,
            )
        )
    return results_text(Outcome(query="(earlier search)", results=results))
