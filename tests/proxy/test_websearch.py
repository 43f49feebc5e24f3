"""The emulated web_search server tool through the bridge: official SDK client, fake engine, fake search APIs."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from ccb.proxy.translate import websearch as ws
from ccb.proxy.translate.response import accumulate
from tests.fakes.openai_engine import Answer, Raw
from tests.fakes.search_backends import BRAVE_KEY, TAVILY_KEY, SearchBackends
from tests.proxy.conftest import TOKEN, Rig, RigFactory
from tests.support import sse

SERVER_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 8}
PROMPT = "Perform a web search for the query: ccb web search"


@pytest.fixture
async def search() -> AsyncIterator[SearchBackends]:
    backends = SearchBackends()
    await backends.start()
    yield backends
    await backends.stop()


def searching(query: str = "ccb web search", then: str = "See https://docs.example.org/ccb/web-search") -> list[Answer]:
    return [Answer(text="Searching.", tool_calls=[("web_search", {"query": query})]), Answer(text=then)]


async def ask(rig: Rig, *, stream: bool, tool: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """One request through the SDK; the answer as a plain dict (streamed answers accumulated by the SDK)."""
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 16000,
        "messages": [{"role": "user", "content": PROMPT}],
        "tools": [tool or SERVER_TOOL],
        **extra,
    }
    client = rig.client()
    if stream:
        async with client.messages.stream(**params) as s:
            message = await s.get_final_message()
    else:
        message = await client.messages.create(**params)
    return message.model_dump(exclude_none=False)


async def raw_stream(rig: Rig, body: dict[str, Any]) -> tuple[int, bytes]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.post(rig.bridge.url + "/v1/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as resp,
    ):
        return resp.status, await resp.read()


@pytest.mark.parametrize("stream", [True, False])
async def test_searxng_search_returns_anthropic_blocks_and_usage(
    rig_factory: RigFactory, search: SearchBackends, stream: bool
) -> None:
    rig = await rig_factory("vllm", web_search=search.url)
    rig.engine.push(*searching())
    message = await ask(rig, stream=stream)
    kinds = [b["type"] for b in message["content"]]
    assert kinds == ["text", "server_tool_use", "web_search_tool_result", "text"]
    use, result = message["content"][1], message["content"][2]
    assert use["name"] == "web_search" and use["input"] == {"query": "ccb web search"}
    assert use["id"].startswith("srvtoolu_") and result["tool_use_id"] == use["id"]
    items = result["content"]
    assert [i["url"] for i in items] == [h.url for h in search.hits]
    assert all(i["type"] == "web_search_result" and i["encrypted_content"] for i in items)
    assert items[0]["title"] == "ccb web search guide" and items[0]["page_age"] == "2026-11-30T00:00:00"
    assert items[1]["page_age"] is None
    assert message["content"][3]["text"] == "See https://docs.example.org/ccb/web-search"
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["server_tool_use"]["web_search_requests"] == 1
    assert message["usage"]["input_tokens"] == 84 and message["usage"]["output_tokens"] == 14  # two engine rounds
    # The backend got the query in SearXNG's JSON form.
    assert search.requests[0]["query"] == {"q": "ccb web search", "format": "json"}
    # The engine was offered a function named web_search (not the server tool's type) and read the results.
    first, second = rig.engine.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["web_search"]
    assert "web_search_20250305" not in json.dumps(first)
    tool_msg = next(m for m in second["messages"] if m["role"] == "tool")
    call = next(m for m in second["messages"] if m.get("tool_calls"))["tool_calls"][0]
    assert tool_msg["tool_call_id"] == call["id"] and call["function"]["name"] == "web_search"
    for hit in search.hits:
        assert hit.url in tool_msg["content"] and hit.title in tool_msg["content"]
    assert "How ccb runs web searches for any model." in tool_msg["content"]
    assert "Date: 2026-11-30T00:00:00" in tool_msg["content"]


async def test_streamed_events_are_in_anthropic_order(rig_factory: RigFactory, search: SearchBackends) -> None:
    rig = await rig_factory("ollama", web_search=search.url)
    rig.engine.push(*searching())
    status, raw = await raw_stream(
        rig,
        {
            "model": "m",
            "max_tokens": 100,
            "stream": True,
            "tools": [SERVER_TOOL],
            "messages": [{"role": "user", "content": PROMPT}],
        },
    )
    assert status == 200
    events = sse.events(raw)
    message = accumulate(events)  # the order-checking reducer accepts it
    assert [b["type"] for b in message["content"]] == ["text", "server_tool_use", "web_search_tool_result", "text"]
    starts = [e for name, e in events if name == "content_block_start"]
    assert starts[1]["content_block"] == {
        "type": "server_tool_use",
        "id": starts[1]["content_block"]["id"],
        "name": "web_search",
        "input": {},
    }
    assert starts[2]["content_block"]["type"] == "web_search_tool_result"  # whole, as Anthropic sends it
    delta = next(e for name, e in events if name == "message_delta")
    assert delta["usage"]["server_tool_use"] == {"web_search_requests": 1, "web_fetch_requests": 0}


async def test_several_searches_then_max_uses(rig_factory: RigFactory, search: SearchBackends) -> None:
    rig = await rig_factory("vllm", web_search=search.url)
    rig.engine.push(
        Answer(tool_calls=[("web_search", {"query": "one"})]),
        Answer(tool_calls=[("web_search", {"query": "two"}), ("web_search", {"query": "three"})]),
        Answer(text="Done after two searches."),
    )
    message = await ask(rig, stream=True, tool={**SERVER_TOOL, "max_uses": 2})
    results = [b for b in message["content"] if b["type"] == "web_search_tool_result"]
    assert len(results) == 3
    assert isinstance(results[0]["content"], list) and isinstance(results[1]["content"], list)
    assert results[2]["content"] == {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}
    assert message["usage"]["server_tool_use"]["web_search_requests"] == 2
    assert len(search.requests) == 2
    # Once the searches are used up the engine is no longer offered the function, so it must answer.
    assert "tools" not in rig.engine.requests[2]
    assert "max_uses_exceeded" in rig.engine.requests[2]["messages"][-1]["content"]
    assert message["content"][-1] == {"type": "text", "text": "Done after two searches.", "citations": None}


async def test_allowed_and_blocked_domains_are_filtered_by_the_bridge(
    rig_factory: RigFactory, search: SearchBackends
) -> None:
    rig = await rig_factory("vllm", web_search=search.url)
    rig.engine.push(*searching(), *searching())
    blocked = await ask(rig, stream=False, tool={**SERVER_TOOL, "blocked_domains": ["example.net"]})
    urls = [i["url"] for i in blocked["content"][2]["content"]]
    assert urls == ["https://docs.example.org/ccb/web-search", "https://news.example.com/2026/bridge"]
    allowed = await ask(rig, stream=False, tool={**SERVER_TOOL, "allowed_domains": ["https://news.example.com"]})
    assert [i["url"] for i in allowed["content"][2]["content"]] == ["https://news.example.com/2026/bridge"]
    # One allowed domain is also asked of SearXNG with a site: operator.
    assert search.requests[1]["query"]["q"] == "ccb web search site:news.example.com"
    assert "news.example.com" in rig.engine.requests[2]["tools"][0]["function"]["description"]


async def test_brave_search_with_key_and_country(rig_factory: RigFactory, search: SearchBackends) -> None:
    rig = await rig_factory(
        "vllm",
        web_search=f"brave:{search.url}/res/v1/web/search",
        web_search_key=BRAVE_KEY,
        web_search_key_env="BRAVE_API_KEY",
    )
    rig.engine.push(*searching())
    tool = {**SERVER_TOOL, "user_location": {"type": "approximate", "country": "gb", "city": "London"}}
    message = await ask(rig, stream=True, tool=tool)
    items = message["content"][2]["content"]
    assert [i["url"] for i in items] == [h.url for h in search.hits]
    assert items[0]["title"] == "ccb web search guide"  # <strong> marks removed
    assert search.requests[0]["query"]["country"] == "GB"
    assert search.requests[0]["headers"]["X-Subscription-Token"] == BRAVE_KEY


async def test_tavily_gets_domains_in_its_request(rig_factory: RigFactory, search: SearchBackends) -> None:
    rig = await rig_factory(
        "sglang",
        web_search=f"tavily:{search.url}/search",
        web_search_key=TAVILY_KEY,
        web_search_key_env="TAVILY_API_KEY",
    )
    rig.engine.push(*searching())
    message = await ask(rig, stream=False, tool={**SERVER_TOOL, "blocked_domains": ["blocked.example.net"]})
    assert [i["url"] for i in message["content"][2]["content"]] == [h.url for h in search.hits[:2]]
    sent = search.requests[0]
    assert sent["body"]["query"] == "ccb web search"
    assert sent["body"]["exclude_domains"] == ["blocked.example.net"]
    assert sent["headers"]["Authorization"] == f"Bearer {TAVILY_KEY}"
    assert message["content"][2]["content"][0]["page_age"] == "2026-11-30T00:00:00"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("mode", "code", "words"),
    [
        ("429", "too_many_requests", "rate limiting"),
        ("500", "unavailable", "HTTP 500"),
        ("garbage", "unavailable", "not its JSON search result"),
        ("wrong_shape", "unavailable", "not its JSON search result"),
        ("forbidden", "unavailable", "formats"),
        ("down", "unavailable", "cannot reach SearXNG"),
        ("redirect", "unavailable", "answered a redirect (http://127.0.0.1:9/elsewhere)"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_backend_failures_are_error_results_not_failed_turns(
    rig_factory: RigFactory, search: SearchBackends, mode: str, code: str, words: str, stream: bool
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}" if mode == "down" else search.url
    search.mode = mode
    rig = await rig_factory("vllm", web_search=url)
    rig.engine.push(*searching(then="The search failed, so I cannot say."))
    message = await ask(rig, stream=stream)
    assert [b["type"] for b in message["content"]] == ["text", "server_tool_use", "web_search_tool_result", "text"]
    assert message["content"][2]["content"] == {"type": "web_search_tool_result_error", "error_code": code}
    assert message["stop_reason"] == "end_turn"
    tool_msg = next(m for m in rig.engine.requests[1]["messages"] if m["role"] == "tool")
    assert tool_msg["content"].startswith(f"Error ({code}):") and words in tool_msg["content"]


@pytest.mark.parametrize(("kind", "env"), [("brave", "BRAVE_API_KEY"), ("tavily", "TAVILY_API_KEY")])
async def test_keyed_backend_without_or_with_a_wrong_key(
    rig_factory: RigFactory, search: SearchBackends, kind: str, env: str
) -> None:
    path = "/res/v1/web/search" if kind == "brave" else "/search"
    missing = await rig_factory("vllm", web_search=f"{kind}:{search.url}{path}", web_search_key_env=env)
    missing.engine.push(*searching())
    message = await ask(missing, stream=False)
    assert message["content"][2]["content"]["error_code"] == "unavailable"
    assert f"set the environment variable {env}" in json.dumps(missing.engine.requests[1]["messages"])
    assert search.requests == []
    wrong = await rig_factory(
        "vllm", web_search=f"{kind}:{search.url}{path}", web_search_key="wrong-key-9999", web_search_key_env=env
    )
    wrong.engine.push(*searching())
    message = await ask(wrong, stream=True)
    assert message["content"][2]["content"]["error_code"] == "unavailable"
    text = json.dumps(wrong.engine.requests[1]["messages"])
    assert f"refused the key in ${env}" in text and "wrong-key-9999" not in text


async def test_claude_code_search_without_a_backend_says_how_to_configure_it(rig: Rig) -> None:
    for stream in (True, False):
        message = await ask(rig, stream=stream)
        assert [b["type"] for b in message["content"]] == ["text"]
        text = message["content"][0]["text"]
        assert "Web search is not configured" in text and "--web-search" in text and "CCB_WEB_SEARCH" in text
        assert message["usage"]["server_tool_use"]["web_search_requests"] == 0
    assert rig.engine.requests == []  # nothing to search with: the engine is not asked to guess


async def test_without_a_backend_alongside_other_tools_the_result_says_so(rig: Rig) -> None:
    rig.engine.push(*searching(then="I could not search."))
    read = {"name": "Read", "description": "read", "input_schema": {"type": "object", "properties": {}}}
    message = await ask(rig, stream=True, tools=[read, SERVER_TOOL])
    kinds = [b["type"] for b in message["content"]]
    assert kinds == ["text", "server_tool_use", "web_search_tool_result", "text", "text"]
    assert message["content"][2]["content"]["error_code"] == "unavailable"
    assert "Web search is not configured" in message["content"][3]["text"]
    assert "Web search is not configured" in rig.engine.requests[1]["messages"][-1]["content"]


async def test_client_tools_alongside_search_hand_the_turn_back(
    rig_factory: RigFactory, search: SearchBackends
) -> None:
    rig = await rig_factory("vllm", web_search=search.url)
    read = {
        "name": "Read",
        "description": "read a file",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
    }
    rig.engine.push(Answer(tool_calls=[("web_search", {"query": "q"}), ("Read", {"path": "a.txt"})]))
    message = await ask(rig, stream=True, tools=[read, SERVER_TOOL])
    assert [b["type"] for b in message["content"]] == ["tool_use", "server_tool_use", "web_search_tool_result"]
    assert message["stop_reason"] == "tool_use" and message["content"][0]["name"] == "Read"
    # The client sends the whole turn back with its tool result: the engine sees the search as a call + result.
    history = [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": message["content"]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": message["content"][0]["id"], "content": "file text"}],
        },
    ]
    rig.engine.push(Answer(text="All done."))
    final = await rig.client().messages.create(model="m", max_tokens=100, messages=history, tools=[read, SERVER_TOOL])
    assert final.content[-1].text == "All done."
    sent = rig.engine.requests[-1]["messages"]
    calls = [c for m in sent if m.get("tool_calls") for c in m["tool_calls"]]
    assert sorted(c["function"]["name"] for c in calls) == ["Read", "web_search"]
    results = {m["tool_call_id"]: m["content"] for m in sent if m["role"] == "tool"}
    assert len(results) == 2 and "https://docs.example.org/ccb/web-search" in results[message["content"][1]["id"]]
    assert "How ccb runs web searches" in results[message["content"][1]["id"]]  # from encrypted_content


async def test_engine_error_before_and_after_the_stream_started(
    rig_factory: RigFactory, search: SearchBackends
) -> None:
    rig = await rig_factory("vllm", web_search=search.url)
    rig.engine.push(Raw(status=503, body=b'{"error": {"message": "overloaded"}}'))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await ask(rig, stream=True)
    assert caught.value.status_code == 529
    rig.engine.push(
        Answer(tool_calls=[("web_search", {"query": "q"})]), Raw(status=500, body=b'{"error": {"message": "boom"}}')
    )
    status, raw = await raw_stream(
        rig,
        {
            "model": "m",
            "max_tokens": 100,
            "stream": True,
            "tools": [SERVER_TOOL],
            "messages": [{"role": "user", "content": PROMPT}],
        },
    )
    events = sse.events(raw)
    assert status == 200 and events[-1][0] == "error"
    assert [e["content_block"]["type"] for n, e in events if n == "content_block_start"] == [
        "server_tool_use",
        "web_search_tool_result",
    ]
    assert not any(n == "message_stop" for n, _ in events)


async def test_queries_are_logged_as_counts_only(
    rig_factory: RigFactory, search: SearchBackends, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await rig_factory("vllm", web_search=search.url)
    rig.engine.push(*searching(query="secret project codename"))
    with caplog.at_level(logging.DEBUG, logger="ccb.bridge"):
        await ask(rig, stream=False)
    text = caplog.text
    assert "web search answer: 1 searches, 3 results" in text
    assert "secret project codename" not in text and "docs.example.org" not in text


async def test_queries_logged_with_log_bodies(
    rig_factory: RigFactory, search: SearchBackends, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await rig_factory("vllm", web_search=search.url, log_bodies=True)
    rig.engine.push(*searching(query="secret project codename"))
    with caplog.at_level(logging.DEBUG, logger="ccb.bridge"):
        await ask(rig, stream=False)
    assert "web search query: secret project codename" in caplog.text


@pytest.mark.parametrize(("query", "code"), [("", "invalid_tool_input"), ("x" * 600, "query_too_long")])
async def test_bad_queries_are_error_results(
    rig_factory: RigFactory, search: SearchBackends, query: str, code: str
) -> None:
    rig = await rig_factory("vllm", web_search=search.url)
    rig.engine.push(*searching(query=query))
    message = await ask(rig, stream=False)
    assert message["content"][2]["content"]["error_code"] == code
    assert search.requests == [] and message["usage"]["server_tool_use"]["web_search_requests"] == 0


def test_encrypted_content_round_trips() -> None:
    result = ws.SearchResult(url="https://a.example/é", title="Tïtle", snippet="snip", date=None)
    assert ws.decode_encrypted(ws.encrypted_content(result)) == result
    assert ws.decode_encrypted("opaque-anthropic-value") is None
    assert ws.decode_encrypted("ccb1.!!!") is None


@pytest.mark.parametrize(
    ("dialect", "first"),
    [("vllm", {"type": "function", "function": {"name": "web_search"}}), ("llamacpp", "required"), ("ollama", None)],
)
async def test_tool_choice_naming_the_server_tool_forces_one_search(
    rig_factory: RigFactory, search: SearchBackends, dialect: str, first: Any
) -> None:
    rig = await rig_factory(dialect, web_search=search.url)
    rig.engine.push(*searching())
    await ask(rig, stream=False, tool_choice={"type": "tool", "name": "web_search"})
    assert rig.engine.requests[0].get("tool_choice") == first
    assert rig.engine.requests[1].get("tool_choice") == (None if dialect == "ollama" else "auto")


@pytest.mark.parametrize(
    ("spec", "kind", "url", "key_env"),
    [
        ("http://127.0.0.1:8888", "searxng", "http://127.0.0.1:8888/search", None),
        ("https://searx.example.org/search/", "searxng", "https://searx.example.org/search", None),
        ("searxng:http://127.0.0.1:8888/", "searxng", "http://127.0.0.1:8888/search", None),
        ("brave", "brave", "https://api.search.brave.com/res/v1/web/search", "BRAVE_API_KEY"),
        ("Tavily", "tavily", "https://api.tavily.com/search", "TAVILY_API_KEY"),
        ("tavily:http://127.0.0.1:9/search", "tavily", "http://127.0.0.1:9/search", "TAVILY_API_KEY"),
    ],
)
def test_backend_settings(spec: str, kind: str, url: str, key_env: str | None) -> None:
    from ccb.proxy.websearch.spec import parse_spec

    backend = parse_spec(spec)
    assert (backend.kind, backend.search_url, backend.key_env) == (kind, url, key_env)


@pytest.mark.parametrize("spec", ["bing", "searxng", "ftp://x", "brave:not-a-url", "127.0.0.1:8888"])
def test_unusable_backend_settings_say_what_to_write(spec: str) -> None:
    from ccb.proxy.websearch.spec import SpecError, parse_spec

    with pytest.raises(SpecError, match="URL|unknown"):
        parse_spec(spec)


def test_keys_come_from_the_named_variable_only() -> None:
    from ccb.proxy.websearch.spec import bridge_fields

    assert bridge_fields("brave", environ={"BRAVE_API_KEY": "k-1234"}) == {
        "web_search": "brave",
        "web_search_key_env": "BRAVE_API_KEY",
        "web_search_key": "k-1234",
    }
    assert bridge_fields("tavily", "MINE", environ={"TAVILY_API_KEY": "no"})["web_search_key"] is None
    assert bridge_fields("http://127.0.0.1:8888", environ={})["web_search_key"] is None
    assert bridge_fields("", environ={}) == {}


async def test_ccb_serve_takes_the_backend_from_ccb_web_search(search: SearchBackends, tmp_path: Any) -> None:
    import os

    from aiohttp import web as aioweb

    from tests.fakes.openai_engine import FakeEngine
    from tests.support.processes import ServeProcess

    engine = FakeEngine("vllm")
    engine.push(*searching())
    runner = aioweb.AppRunner(engine.app)
    await runner.setup()
    await aioweb.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    env = {**os.environ, "CCB_WEB_SEARCH": search.url, "CCB_HOME": str(tmp_path)}
    try:
        async with ServeProcess(
            "--upstream", url, "--model", "m", "--auth-token", TOKEN, "--engine", "vllm", env=env
        ) as serve:
            client = anthropic.AsyncAnthropic(base_url=serve.url, api_key=TOKEN, max_retries=0)
            message = await client.messages.create(
                model="m",
                max_tokens=100,
                tools=[SERVER_TOOL],  # type: ignore
                messages=[{"role": "user", "content": PROMPT}],
            )
            await client.close()
    finally:
        await runner.cleanup()
    assert [b.type for b in message.content] == ["text", "server_tool_use", "web_search_tool_result", "text"]
    assert search.requests[0]["api"] == "searxng"


@pytest.mark.parametrize(
    ("choice", "first", "then"),
    [({"type": "auto"}, "auto", "auto"), ({"type": "any"}, "required", "auto"), (None, None, None)],
)
async def test_tool_choice_of_a_search_only_request(
    rig_factory: RigFactory, search: SearchBackends, choice: Any, first: Any, then: Any
) -> None:
    rig = await rig_factory("vllm", web_search=search.url)
    rig.engine.push(*searching())
    await ask(rig, stream=True, **({"tool_choice": choice} if choice else {}))
    assert rig.engine.requests[0].get("tool_choice") == first
    assert rig.engine.requests[1].get("tool_choice") == then


async def test_a_backend_that_never_answers_is_unavailable(search: SearchBackends) -> None:
    from ccb.proxy.websearch.backends import search as run_search
    from ccb.proxy.websearch.spec import parse_spec

    search.mode = "hang"
    outcome = await run_search(parse_spec(search.url), None, "q", ws.ServerTool(), timeout=0.5)
    assert outcome.error == "unavailable" and "did not answer within 0.5 s" in outcome.message


async def test_client_gone_during_a_search_leaves_the_bridge_serving(
    rig_factory: RigFactory, search: SearchBackends
) -> None:
    import asyncio

    import aiohttp

    search.mode = "hang"
    rig = await rig_factory("vllm", web_search=search.url)
    rig.engine.push(*searching())
    body = {
        "model": "m",
        "max_tokens": 100,
        "stream": True,
        "tools": [SERVER_TOOL],
        "messages": [{"role": "user", "content": PROMPT}],
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(rig.bridge.url + "/v1/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as resp,
    ):
        assert resp.status == 200
        seen = b""
        while b"server_tool_use" not in seen:  # the search has started
            seen += await resp.content.readany()
    for _ in range(100):  # wait for the fake backend to see the query
        if search.requests:
            break
        await asyncio.sleep(0.05)
    assert search.requests
    search.mode = "ok"
    rig.engine.script.clear()  # the answer after the abandoned search was never asked for
    rig.engine.push(*searching())
    message = await ask(rig, stream=False)
    assert message["content"][2]["content"][0]["url"] == search.hits[0].url
