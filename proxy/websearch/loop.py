"""A Messages request carrying the `web_search` server tool, answered for an OpenAI engine. Does I/O.

The engine gets a `web_search` function. Each round the bridge asks the engine, runs the searches it calls
(at most `max_uses` in all), hands it the results and asks again, until it answers without searching. The
client receives Anthropic's blocks in order: the engine's text, `server_tool_use`, `web_search_tool_result`,
…, the final text; usage counts the searches in `server_tool_use.web_search_requests`. Streamed answers start
when the engine's first answer begins and are kept alive with pings while searches and rounds run.

Engine failures keep the relay's rules (a JSON error before the first byte, `event: error` after); a search
backend failure is a `web_search_tool_result_error` and the turn goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from ccb.proxy import jsonio, relay
from ccb.proxy.config import BridgeConfig
from ccb.proxy.translate import sse
from ccb.proxy.translate import websearch as ws
from ccb.proxy.translate.errors import Mapped, error_body, extract_message, map_upstream
from ccb.proxy.translate.request import RequestError, Translated
from ccb.proxy.translate.response import accumulate
from ccb.proxy.translate.stream import StreamTranslator, new_id
from ccb.proxy.translate.thinking import has_switch, refuses_switch, strip_switch
from ccb.proxy.upstream import MAX_ERROR_BODY, Upstream
from ccb.proxy.websearch import backends

log = logging.getLogger("ccb.bridge")

Block = dict[str, Any]


class _Out:
    """The client's answer, streamed (with keep-alive pings) or gathered into one Message."""

    def __init__(
        self, request: web.Request, body: dict[str, Any], config: BridgeConfig, *, stream: bool, input_estimate: int
    ) -> None:
        self.request = request
        self.config = config
        self.stream = stream
        self.message: dict[str, Any] = {
            "id": new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_estimate,
                "output_tokens": 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        self.resp: web.StreamResponse | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._last = 0.0

    @property
    def started(self) -> bool:
        return self.resp is not None

    async def start(self) -> None:
        if not self.stream or self.resp is not None:
            return
        self.resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await self.resp.prepare(self.request)
        start = dict(self.message, content=[])
        await self._write(sse.encode("message_start", {"type": "message_start", "message": start}) + sse.PING)
        self._pinger = asyncio.create_task(self._keepalive())

    async def _write(self, data: bytes) -> None:
        assert self.resp is not None
        self._last = asyncio.get_running_loop().time()
        await self.resp.write(data)

    async def _keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(self.config.ping_interval)
                if loop.time() - self._last >= self.config.ping_interval:
                    await self._write(sse.PING)

    async def block(self, block: Block) -> None:
        index = len(self.message["content"])
        self.message["content"].append(block)
        if not self.stream:
            return
        await self.start()
        await self._write(b"".join(sse.encode(name, data) for name, data in _block_events(index, block)))

    async def finish(self, stop_reason: str, usage: dict[str, Any]) -> web.StreamResponse:
        self.message["stop_reason"] = stop_reason
        self.message["usage"] = usage
        if not self.stream:
            return web.json_response(self.message)
        await self.start()
        delta = {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage}
        await self._write(sse.encode("message_delta", delta) + sse.encode("message_stop", {"type": "message_stop"}))
        assert self.resp is not None
        await self.resp.write_eof()
        return self.resp

    async def fail(self, failed: relay._Failed) -> web.StreamResponse:
        if self.resp is None:
            return relay._error_response(failed.mapped, failed.headers, self.config)
        await self._write(relay._error_event(failed.mapped.body, self.config))
        return self.resp

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger


def _block_events(index: int, block: Block) -> list[tuple[str, dict[str, Any]]]:
    kind = block["type"]
    events: list[tuple[str, dict[str, Any]]] = []

    def delta(d: dict[str, Any]) -> None:
        events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}))

    if kind == "text":
        start: Block = {"type": "text", "text": ""}
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
    elif kind in ("tool_use", "server_tool_use"):
        start = {**block, "input": {}}
    else:
        start = block  # web_search_tool_result arrives whole, as Anthropic sends it
    events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
    if kind == "text":
        delta({"type": "text_delta", "text": block["text"]})
    elif kind == "thinking":
        delta({"type": "thinking_delta", "thinking": block["thinking"]})
        delta({"type": "signature_delta", "signature": block.get("signature") or "ccb"})
    elif kind in ("tool_use", "server_tool_use"):
        delta({"type": "input_json_delta", "partial_json": json.dumps(block["input"], ensure_ascii=False)})
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def _function_name(body: dict[str, Any]) -> str:
    """`web_search`, unless the client has a function of that name itself."""
    names = {t.get("name") for t in body.get("tools") or () if isinstance(t, dict) and not ws.is_web_search_tool(t)}
    name = ws.FUNCTION_NAME
    while name in names:
        name = "bridge_" + name
    return name


async def handle(
    request: web.Request, body: dict[str, Any], config: BridgeConfig, upstream: Upstream, definition: dict[str, Any]
) -> web.StreamResponse:
    stream = bool(body.get("stream"))
    tool = ws.ServerTool.from_definition(definition)
    fn = _function_name(body)
    others = [t for t in body.get("tools") or () if t is not definition and not ws.is_web_search_tool(t)]
    inner = dict(body, tools=others, messages=ws.expand_history(body["messages"], fn))
    try:
        translated = relay.translate_request(inner, config, stream=True)
    except RequestError as exc:
        return relay._error_response(
            Mapped(400, error_body("invalid_request_error", str(exc)), None, False), None, config
        )
    out = _Out(request, body, config, stream=stream, input_estimate=translated.prompt_estimate)
    try:
        if not config.web_search and not others:
            # Nothing to search with and nothing else to do: say so instead of letting the model guess.
            log.info("web search requested but not configured")
            await out.block({"type": "text", "text": ws.not_configured_text(tool.name)})
            return await out.finish(
                "end_turn",
                ws.usage_with_searches(
                    {
                        "input_tokens": translated.prompt_estimate,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                    0,
                ),
            )
        return await _run(
            translated.body,
            translated,
            tool,
            fn,
            out,
            config,
            upstream,
            forced=_forces_search(body, tool),
            body_choice=body.get("tool_choice"),
        )
    except (ConnectionError, aiohttp.ClientConnectionError):
        log.info("client disconnected during a web search answer")
        return out.resp or web.Response(status=499)
    finally:
        await out.close()


def _choice_for_search_only(choice: Any) -> str | None:
    """The client's auto / any / none when the search function is the engine's only tool (the translator
    maps tool_choice only alongside client tools)."""
    kind = choice.get("type") if isinstance(choice, dict) else None
    return {"auto": "auto", "any": "required", "none": "none"}.get(kind or "")


def _forces_search(body: dict[str, Any], tool: ws.ServerTool) -> bool:
    choice = body.get("tool_choice")
    return isinstance(choice, dict) and choice.get("type") == "tool" and choice.get("name") == tool.name


async def _run(
    payload: dict[str, Any],
    translated: Translated,
    tool: ws.ServerTool,
    fn: str,
    out: _Out,
    config: BridgeConfig,
    upstream: Upstream,
    *,
    forced: bool,
    body_choice: Any,
) -> web.StreamResponse:
    backend = backends.parse_spec(config.web_search, config.web_search_key_env) if config.web_search else None
    window = await upstream.window()
    if window:
        _clamp(payload, window - translated.prompt_estimate - relay.MARGIN)
    base_tools = list(payload.get("tools") or [])
    # The client's tool_choice holds for the first round; a search done meets "any" (or a choice naming the
    # server tool), so later rounds leave the engine free to answer.
    first_choice: Any = payload.get("tool_choice", _choice_for_search_only(body_choice))
    if forced:
        first_choice = (
            {"type": "function", "function": {"name": fn}} if config.dialect.tool_choice == "named" else "required"
        )
    base_choice = "auto" if forced or first_choice == "required" else first_choice
    messages: list[dict[str, Any]] = payload["messages"]
    usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    used = 0
    found = 0
    for round_no in range(tool.max_uses + 2):
        searching = used < tool.max_uses and round_no <= tool.max_uses
        tools = base_tools + ([ws.function_definition(tool, fn)] if searching else [])
        payload = {k: v for k, v in payload.items() if k not in ("tools", "tool_choice")}
        if tools:
            payload["tools"] = tools
            choice = first_choice if round_no == 0 and searching else base_choice
            if choice is not None and config.dialect.tool_choice != "omit":
                payload["tool_choice"] = choice
        try:
            message = await _ask_once_more_without_switch(payload, translated, config, upstream, out)
        except relay._Failed as failed:
            return await out.fail(failed)
        for key in usage:
            usage[key] += int(message["usage"].get(key) or 0)
        content: list[Block] = message["content"]
        calls = [b for b in content if b["type"] == "tool_use" and b["name"] == fn]
        client_calls = [b for b in content if b["type"] == "tool_use" and b["name"] != fn]
        for block in content:
            if block["type"] in ("text", "thinking") or block in client_calls:
                await out.block(block)
        if not calls:
            log.info("web search answer: %d searches, %d results", used, found)
            return await out.finish(message["stop_reason"] or "end_turn", ws.usage_with_searches(usage, used))
        outcomes: list[tuple[Block, ws.Outcome]] = []
        for call in calls:
            query, problem = ws.check_query(call["input"].get("query") if isinstance(call["input"], dict) else None)
            block_id = "srvtoolu_" + new_id("")
            await out.block(ws.server_tool_use(block_id, tool.name, query))
            if problem:
                outcome = ws.Outcome(
                    query=query,
                    error=problem,
                    message="the query is empty"
                    if problem == "invalid_tool_input"
                    else f"the query is longer than {ws.MAX_QUERY} characters",
                )
            elif used >= tool.max_uses:
                outcome = ws.Outcome(
                    query=query,
                    error="max_uses_exceeded",
                    message=f"the limit of {tool.max_uses} searches is reached; answer with what you found",
                )
            elif backend is None:
                outcome = ws.Outcome(query=query, error="unavailable", message=ws.not_configured_text(tool.name))
            else:
                used += 1
                if config.log_bodies:
                    log.debug("web search query: %s", query)
                outcome = await backends.search(backend, config.web_search_key, query, tool)
                found += len(outcome.results)
                if outcome.error:
                    log.warning("web search through %s failed: %s", backend.label, config.redact(outcome.message))
            await out.block(ws.result_block(block_id, outcome))
            if outcome.error == "unavailable" and backend is None:
                await out.block({"type": "text", "text": outcome.message})
            outcomes.append((call, outcome))
        if client_calls:
            # The client has tools to run too: hand the turn back; the searches go round in its history.
            return await out.finish("tool_use", ws.usage_with_searches(usage, used))
        messages.append(_assistant_turn(content, calls, fn, config))
        for call, outcome in outcomes:
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": ws.results_text(outcome)})
    log.info("web search answer: %d searches, %d results (round limit)", used, found)
    return await out.finish("end_turn", ws.usage_with_searches(usage, used))


def _clamp(payload: dict[str, Any], room: int) -> None:
    key = "max_completion_tokens" if "max_completion_tokens" in payload else "max_tokens"
    wanted = payload.get(key)
    if isinstance(wanted, int) and wanted > room:
        payload[key] = max(room, min(relay.MIN_OUTPUT, wanted))


def _assistant_turn(content: list[Block], calls: list[Block], fn: str, config: BridgeConfig) -> dict[str, Any]:
    text = "".join(b["text"] for b in content if b["type"] == "text")
    msg: dict[str, Any] = {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": fn, "arguments": json.dumps(c["input"], ensure_ascii=False)},
            }
            for c in calls
        ],
    }
    thinking = "".join(b["thinking"] for b in content if b["type"] == "thinking")
    if thinking and config.dialect.echo_reasoning:
        msg[config.dialect.reasoning_field] = thinking
    return msg


async def _ask_once_more_without_switch(
    payload: dict[str, Any], translated: Translated, config: BridgeConfig, upstream: Upstream, out: _Out
) -> dict[str, Any]:
    """`_ask`, with the relay's rule for models that cannot think: no switch for them, and one retry without
    it when the engine refuses it."""
    model = str(payload.get("model"))
    if has_switch(payload) and await upstream.caps.thinking(model) is False:
        strip_switch(payload)
    try:
        return await _ask(payload, translated, config, upstream, out)
    except relay._Failed as failed:
        if not out.started and refuses_switch(failed.status, failed.engine_message) and strip_switch(payload):
            upstream.caps.refused(model)
            return await _ask(payload, translated, config, upstream, out)
        raise


async def _ask(
    payload: dict[str, Any], translated: Translated, config: BridgeConfig, upstream: Upstream, out: _Out
) -> dict[str, Any]:
    """One engine round, read whole: the answer as an Anthropic Message. Raises relay._Failed."""
    raw_payload = jsonio.dumps(payload)
    if config.log_bodies:
        log.debug("upstream request: %s", raw_payload.decode())
    try:
        async with asyncio.timeout(config.first_byte_timeout):
            resp = await upstream.post_chat(raw_payload)
    except aiohttp.ServerTimeoutError as exc:
        raise relay._Failed(
            relay._unreachable(config, f"no connection within the connect timeout ({config.connect_timeout:g} s)"), {}
        ) from exc
    except TimeoutError as exc:
        message = (
            f"the engine at {config.upstream} sent no answer within the first-byte timeout "
            f"({config.first_byte_timeout:g} s)"
        )
        raise relay._Failed(Mapped(504, error_body("api_error", message), None, True), {}) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise relay._Failed(relay._unreachable(config, str(exc) or type(exc).__name__), {}) from exc
    try:
        if resp.status != 200:
            raw = await relay._read(resp, config, limit=MAX_ERROR_BODY, partial_ok=True)
            if not 400 <= resp.status <= 599:
                message = f"the engine at {config.upstream} answered HTTP {resp.status}: {raw[:200]!r}"
                if 300 <= resp.status <= 399:
                    message = relay.redirect_message(config, resp.status, resp.headers.get("Location"))
                raise relay._Failed(Mapped(502, error_body("api_error", message), None, True), {})
            headers = {"retry-after": resp.headers["Retry-After"]} if "Retry-After" in resp.headers else {}
            raise relay._Failed(
                map_upstream(resp.status, raw, engine=f"the engine at {config.upstream}"),
                headers,
                resp.status,
                extract_message(raw)[0],
            )
        await out.start()  # the engine is answering: the client's stream begins (and gets pings)
        is_sse = resp.headers.get("Content-Type", "").startswith("text/event-stream")
        raw = await relay._read(resp, config)
    finally:
        resp.close()
    machine = StreamTranslator(model="-", tool_names=translated.tool_names, stop_sequences=translated.stop_sequences)
    return accumulate(relay._complete(raw, machine, config, is_sse))
