"""The real Claude Code CLI searching the web through `ccb serve` and a fake SearXNG, Brave or Tavily on loopback.

The engine is scripted by what each request asks: on the main conversation it calls WebSearch (directly, or
after ToolSearch where Claude Code defers WebSearch); on Claude Code's own search request (the one carrying the
web_search server tool, which the bridge offers as a `web_search` function) it calls web_search, then answers
from the results; back in the main conversation it repeats what the WebSearch tool returned.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.openai_engine import Answer, FakeEngine, render_completion, render_stream
from tests.fakes.search_backends import BRAVE_KEY, TAVILY_KEY, SearchBackends
from tests.support.claude import claude_env, run_claude
from tests.support.processes import ServeProcess

pytestmark = pytest.mark.claude

QUERY = "ccb web search for any model"


def _tool_names(body: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools") or ()]


def _texts(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


class SearchingEngine(FakeEngine):
    """Answers by what it is asked, so Claude Code's extra requests cannot shift a fixed script."""

    def __init__(self, *, use_tool_search: bool) -> None:
        super().__init__("vllm", context=200000)
        self.use_tool_search = use_tool_search
        self.kinds: list[str] = []

    def decide(self, body: dict[str, Any]) -> Answer:
        names = _tool_names(body)
        messages = body["messages"]
        tool_msgs = [m for m in messages if m["role"] == "tool"]
        if "web_search" in names or any(
            c["function"]["name"] == "web_search" for m in messages for c in m.get("tool_calls") or ()
        ):
            if not tool_msgs:
                self.kinds.append("search-request")
                asked = re.search(r"query: (.+)", _texts(messages[-1]))
                return Answer(tool_calls=[("web_search", {"query": asked.group(1).strip() if asked else QUERY})])
            self.kinds.append("search-answer")
            urls = re.findall(r"URL: (\S+)", tool_msgs[-1]["content"])
            return Answer(text="Found these pages: " + ", ".join(urls))
        called = [c["function"]["name"] for m in messages for c in m.get("tool_calls") or ()]
        if "WebSearch" in called and tool_msgs:
            self.kinds.append("final")
            return Answer(text="FINAL " + _texts(tool_msgs[-1]))
        if "WebSearch" in names or "ToolSearch" in names:
            if self.use_tool_search and "ToolSearch" in names and "ToolSearch" not in called:
                self.kinds.append("tool-search")
                return Answer(tool_calls=[("ToolSearch", {"query": "select:WebSearch", "max_results": 1})])
            self.kinds.append("web-search-call")
            return Answer(tool_calls=[("WebSearch", {"query": QUERY})])
        self.kinds.append("other")
        return Answer(text="ok")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        answer = self.decide(body)
        if not body.get("stream"):
            return web.json_response(render_completion(answer, self.dialect, body.get("model", self.model)))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in render_stream(answer, self.dialect, body.get("model", self.model)):
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


async def _serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _search_through_serve(
    tmp_path: Path,
    home: Path,
    backend_args: list[str],
    *,
    use_tool_search: bool,
    env_extra: dict[str, str] | None = None,
    backends: SearchBackends | None = None,
) -> tuple[Any, SearchingEngine]:
    engine = SearchingEngine(use_tool_search=use_tool_search)
    runner, url = await _serve_app(engine.app)
    try:
        import os

        serve_env = {**os.environ, **(env_extra or {})}
        async with ServeProcess(
            "--upstream",
            url + "/v1",
            "--model",
            "fake-model",
            "--auth-token",
            "t0k",
            "--engine",
            "vllm",
            *backend_args,
            env=serve_env,
        ) as serve:
            env = claude_env(home, serve.url, "t0k")
            done = await run_claude(
                ["-p", "search the web for ccb", "--dangerously-skip-permissions", "--max-turns", "5"], env, tmp_path
            )
    finally:
        await runner.cleanup()
    return done, engine


@pytest.mark.parametrize("api", ["searxng", "brave", "tavily"])
async def test_claude_code_searches_through_ccb_serve(api: str, tmp_path: Path, isolated_home: Path) -> None:
    backends = SearchBackends()
    base = await backends.start()
    args = {
        "searxng": ["--web-search", base],
        "brave": ["--web-search", f"brave:{base}/res/v1/web/search"],
        "tavily": ["--web-search", f"tavily:{base}/search", "--web-search-key-env", "MY_TAVILY"],
    }[api]
    keys = {"brave": {"BRAVE_API_KEY": BRAVE_KEY}, "tavily": {"MY_TAVILY": TAVILY_KEY}}.get(api, {})
    try:
        done, engine = await _search_through_serve(tmp_path, isolated_home, args, use_tool_search=False, env_extra=keys)
    finally:
        await backends.stop()
    assert done.returncode == 0, (done, engine.kinds)
    assert engine.kinds[-1] == "final", engine.kinds
    assert "search-request" in engine.kinds and "search-answer" in engine.kinds
    result = done.result["result"]
    # Claude Code built its Links line from the bridge's web_search_tool_result blocks...
    assert 'Links: [{"title":"ccb web search guide","url":"https://docs.example.org/ccb/web-search"}' in result
    for hit in backends.hits:
        assert hit.url in result  # ...and every found URL reaches the final answer
    assert [r["api"] for r in backends.requests] == [api]


async def test_claude_code_search_behind_tool_search(claude_version: str, tmp_path: Path, isolated_home: Path) -> None:
    backends = SearchBackends()
    base = await backends.start()
    try:
        done, engine = await _search_through_serve(
            tmp_path, isolated_home, ["--web-search", base], use_tool_search=True
        )
    finally:
        await backends.stop()
    assert done.returncode == 0, (done, engine.kinds)
    main = engine.requests[0]
    if claude_version >= "2.1.304":
        assert "ToolSearch" in _tool_names(main) and engine.kinds[0] == "tool-search"
    assert engine.kinds[-1] == "final", engine.kinds
    assert '"url":"https://docs.example.org/ccb/web-search"' in done.result["result"]
    for hit in backends.hits:
        assert hit.url in done.result["result"]


async def test_claude_code_search_without_a_backend_is_told_how_to_configure(
    tmp_path: Path, isolated_home: Path
) -> None:
    done, engine = await _search_through_serve(tmp_path, isolated_home, [], use_tool_search=False)
    assert done.returncode == 0, (done, engine.kinds)
    assert "search-request" not in engine.kinds  # the bridge answered the search request itself
    assert engine.kinds[-1] == "final"
    assert "Web search is not configured" in done.result["result"]


async def test_claude_code_searches_through_ccb_launch(tmp_path: Path) -> None:
    from tests.support.claude import launch_env
    from tests.support.cli import ccb
    from tests.support.processes import run_ccb
    from tests.support.servers import serving

    backends = SearchBackends()
    base = await backends.start()
    engine = SearchingEngine(use_tool_search=True)
    env = launch_env(MY_TAVILY=TAVILY_KEY)
    try:
        async with serving(engine.app) as url:
            ccb(
                "profile",
                "add",
                "searching",
                "--preset",
                "vllm",
                "--base-url",
                url + "/v1",
                "--model",
                "qwen3",
                "--web-search",
                f"tavily:{base}/search",
                "--web-search-key-env",
                "MY_TAVILY",
            )
            code, out, err = await run_ccb(
                "launch",
                "searching",
                "--",
                "-p",
                "search the web for ccb",
                "--dangerously-skip-permissions",
                "--max-turns",
                "5",
                env=env,
                cwd=tmp_path,
                timeout=180,
            )
    finally:
        await backends.stop()
    assert code == 0, (err, engine.kinds)
    assert engine.kinds[-1] == "final", engine.kinds
    assert [r["api"] for r in backends.requests] == ["tavily"]
    assert '"url":"https://docs.example.org/ccb/web-search"' in out
    for hit in backends.hits:
        assert hit.url in out
    assert TAVILY_KEY not in out + err
