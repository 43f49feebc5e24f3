"""Fake search backends on loopback, answering in each real API's documented shape.

- SearXNG: `GET /search?q=…&format=json` → `{"query", "number_of_results", "results": [{"url", "title",
  "content", "engine", "publishedDate"}], "answers", "suggestions", "unresponsive_engines"}`; without
  `format=json` enabled a real instance answers 403.
- Brave Search: `GET /res/v1/web/search?q=…` with `X-Subscription-Token` → `{"type": "search", "query": {…},
  "web": {"type": "search", "results": [{"title", "url", "description", "age", "page_age"}]}}`; a bad key is 401.
- Tavily: `POST /search` with a JSON body `{"query", "max_results", "include_domains", "exclude_domains"}` and
  `Authorization: Bearer tvly-…` → `{"query", "answer", "results": [{"title", "url", "content", "score",
  "published_date"}], "response_time"}`; a bad key is 401.

`mode` scripts a fault for every following request: "ok", "429", "500", "garbage" (HTML with status 200),
"wrong_shape" (JSON that is not a search result), "forbidden" (SearXNG with its JSON API off), "hang" (takes
the request and never answers), "redirect" (302 elsewhere).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BRAVE_KEY = "brave-test-key-0001"
TAVILY_KEY = "tvly-test-key-0002"


@dataclass
class Hit:
    url: str
    title: str
    snippet: str
    date: str | None = None


DEFAULT_HITS = [
    Hit(
        "https://docs.example.org/ccb/web-search",
        "ccb web search guide",
        "How ccb runs web searches for any model.",
        "2026-11-30T00:00:00",
    ),
    Hit("https://news.example.com/2026/bridge", "Bridges for Claude Code", "A survey of bridges.", None),
    Hit("https://blocked.example.net/page", "A page from a blocked site", "Should be filtered when blocked.", None),
]


@dataclass
class SearchBackends:
    hits: list[Hit] = field(default_factory=lambda: list(DEFAULT_HITS))
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_get("/search", self._searxng)
        self.app.router.add_get("/res/v1/web/search", self._brave)
        self.app.router.add_post("/search", self._tavily)
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()
        self.url = ""

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _fault(self) -> web.Response | None:
        if self.mode == "redirect":
            return web.Response(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
        if self.mode == "429":
            return web.Response(status=429, text="Too Many Requests")
        if self.mode == "500":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "garbage":
            return web.Response(status=200, text="<html><body>not json</body></html>", content_type="text/html")
        if self.mode == "wrong_shape":
            return web.json_response({"results": "nope"})
        return None

    async def _searxng(self, request: web.Request) -> web.Response:
        self.requests.append({"api": "searxng", "query": dict(request.query), "headers": dict(request.headers)})
        if self.mode == "hang":
            await self._release.wait()  # set when the fake stops, so shutting down does not wait on it
        if self.mode == "forbidden" or request.query.get("format") != "json":
            return web.Response(status=403, text="403 Forbidden")
        fault = self._fault()
        if fault is not None:
            return fault
        q = request.query.get("q", "")
        results = [
            {
                "url": h.url,
                "title": h.title,
                "content": h.snippet,
                "engine": "duckduckgo",
                "engines": ["duckduckgo"],
                "score": 1.0,
                "category": "general",
                "publishedDate": h.date,
            }
            for h in self.hits
        ]
        return web.json_response(
            {
                "query": q,
                "number_of_results": len(results),
                "results": results,
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [],
                "unresponsive_engines": [],
            }
        )

    async def _brave(self, request: web.Request) -> web.Response:
        self.requests.append({"api": "brave", "query": dict(request.query), "headers": dict(request.headers)})
        if request.headers.get("X-Subscription-Token") != BRAVE_KEY:
            return web.json_response(
                {"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID", "status": 401}}, status=401
            )
        fault = self._fault()
        if fault is not None:
            return fault
        results = [
            {
                "type": "search_result",
                "title": h.title.replace("web", "<strong>web</strong>"),
                "url": h.url,
                "description": h.snippet,
                "age": "2 days ago",
                "page_age": h.date,
                "meta_url": {"hostname": h.url.split("/")[2]},
            }
            for h in self.hits
        ]
        return web.json_response(
            {
                "type": "search",
                "query": {"original": request.query.get("q", "")},
                "mixed": {"type": "mixed", "main": []},
                "web": {"type": "search", "results": results},
            }
        )

    async def _tavily(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"api": "tavily", "body": body, "headers": dict(request.headers)})
        if request.headers.get("Authorization") != f"Bearer {TAVILY_KEY}":
            return web.json_response({"detail": {"error": "Unauthorized: missing or invalid API key."}}, status=401)
        fault = self._fault()
        if fault is not None:
            return fault
        hits = self.hits
        include = body.get("include_domains") or []
        exclude = body.get("exclude_domains") or []
        if include:
            hits = [h for h in hits if any(d in h.url for d in include)]
        hits = [h for h in hits if not any(d in h.url for d in exclude)]
        results = [
            {
                "title": h.title,
                "url": h.url,
                "content": h.snippet,
                "score": 0.9,
                "raw_content": None,
                **({"published_date": h.date} if h.date else {}),
            }
            for h in hits
        ]
        return web.json_response(
            {
                "query": body.get("query"),
                "follow_up_questions": None,
                "answer": None,
                "images": [],
                "results": results,
                "response_time": 0.42,
            }
        )
