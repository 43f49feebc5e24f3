"""The live smoke test: two tiny Anthropic requests along the exact path `ccb launch` would take.

Does network I/O. The route comes from `choose_route`; on the bridge route an in-process bridge starts on
127.0.0.1 port 0 (`start_bridge(bridge_config(...))`) and is stopped afterwards; on the direct route the
requests go to the profile's Anthropic base URL with the profile's key. One streaming request measures time to
first token and output speed; one forces a tool call (`tool_choice: any`). Each request is capped at ≈30 s.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ccb.cli.doctor.context import Check, error_message
from ccb.cli.engines.probe import normalise_root
from ccb.cli.errors import CcbError
from ccb.cli.plan import bridge_config, choose_route, with_engine_model
from ccb.cli.profile_store import Profile
from ccb.profiles import redact_url
from ccb.proxy.net import is_loopback
from ccb.proxy.runner import RunningBridge, start_bridge
from ccb.proxy.translate.sse import EventDecoder, LineTooLong, ServerSentEvent

if TYPE_CHECKING:
    from ccb.cli.engines.status import EngineStatus

SMOKE_TIMEOUT_S = 30.0
ANTHROPIC_VERSION = "2023-06-01"
_TOOL = {
    "name": "get_time",
    "description": "Return the current time in a time zone.",
    "input_schema": {
        "type": "object",
        "properties": {"timezone": {"type": "string", "description": "IANA zone, e.g. Asia/Tokyo"}},
        "required": ["timezone"],
    },
}


@dataclass(frozen=True)
class StreamResult:
    """What one streamed Messages request produced."""

    status: int  # HTTP status; 0 when no answer came back
    error: str | None  # transport failure, HTTP error message, or an `event: error` message
    text: str
    thinking: bool
    tool_names: tuple[str, ...]
    ttft_s: float | None
    elapsed_s: float
    output_tokens: int | None
    stopped: bool  # message_stop arrived


class _Reducer:
    """Folds Anthropic stream events into a StreamResult; checks nothing beyond what doctor reports."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first: float | None = None
        self.text: list[str] = []
        self.thinking = False
        self.tools: list[str] = []
        self.output_tokens: int | None = None
        self.stopped = False
        self.error: str | None = None

    def feed_all(self, events: list[ServerSentEvent]) -> None:
        for _, data in events:
            try:
                event = json.loads(data)
            except ValueError:
                continue
            if isinstance(event, dict):
                self.feed(event)

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.tools.append(str(block.get("name")))
        elif kind == "content_block_delta":
            if self.first is None:
                self.first = time.perf_counter()
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                self.text.append(str(delta.get("text", "")))
            elif delta.get("type") == "thinking_delta":
                self.thinking = True
        elif kind == "message_delta":
            tokens = (event.get("usage") or {}).get("output_tokens")
            if isinstance(tokens, int):
                self.output_tokens = tokens
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            self.error = error_message(event, json.dumps(event))


async def stream_request(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    timeout: float = SMOKE_TIMEOUT_S,
) -> StreamResult:
    started = time.perf_counter()
    reducer = _Reducer(started)
    status = 0
    try:
        async with asyncio.timeout(timeout):
            async with client.stream("POST", url, headers=headers, json=body, timeout=timeout) as response:
                status = response.status_code
                if status != 200:
                    raw = (await response.aread()).decode("utf-8", "replace")
                    try:
                        parsed: Any = json.loads(raw)
                    except ValueError:
                        parsed = None
                    reducer.error = f"HTTP {status}: {error_message(parsed, raw)}"
                else:
                    decoder = EventDecoder()
                    async for chunk in response.aiter_bytes():
                        reducer.feed_all(decoder.feed(chunk))
                    reducer.feed_all(decoder.flush())
    except TimeoutError:
        reducer.error = f"no complete answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        reducer.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except LineTooLong as exc:
        reducer.error = str(exc)
    elapsed = time.perf_counter() - started
    return StreamResult(
        status,
        reducer.error,
        "".join(reducer.text),
        reducer.thinking,
        tuple(reducer.tools),
        (reducer.first - started) if reducer.first is not None else None,
        elapsed,
        reducer.output_tokens,
        reducer.stopped,
    )


def _anthropic_root(profile: Profile, status: EngineStatus | None) -> str:
    if profile.protocol == "anthropic":
        return profile.base_url.rstrip("/")
    # A local engine's native endpoint lives at its root, not under the OpenAI /v1 base.
    return status.url if status is not None else normalise_root(profile.base_url)


def _direct_headers(profile: Profile, key: str | None) -> dict[str, str]:
    headers = {"anthropic-version": ANTHROPIC_VERSION}
    if key and profile.auth == "x-api-key":
        headers["x-api-key"] = key
    elif key and profile.auth == "api-key":
        headers["api-key"] = key
    elif key and profile.auth != "none":
        headers["authorization"] = f"Bearer {key}"
    return headers


def skipped_smoke(reason: str) -> list[Check]:
    return [
        Check("smoke.stream", "smoke", "skip", f"streaming request {reason}"),
        Check("smoke.tools", "smoke", "skip", f"tool-call request {reason}"),
    ]


def _failure_fix(result: StreamResult, via: str) -> str:
    if result.status in (401, 403):
        return "the key was refused: check the profile's key (see profile.key and backend.auth above)"
    if result.status == 404:
        return "check the model name (`ccb models PROFILE`) and the base URL; Claude Code would get the same 404"
    if result.status == 0:
        return f"the request {via} did not complete: check that the backend is up and not overloaded"
    return f"Claude Code would hit the same error {via}; check the backend's log for the request"


def stream_check(result: StreamResult, via: str) -> Check:
    if result.error is not None:
        return Check(
            "smoke.stream",
            "smoke",
            "fail",
            f"streaming request {via} failed: {result.error}",
            _failure_fix(result, via),
        )
    if not result.stopped:
        return Check(
            "smoke.stream",
            "smoke",
            "fail",
            f"the stream {via} ended before message_stop",
            "the backend closed the stream early; check its log",
        )
    speed = ""
    if result.output_tokens and result.ttft_s is not None and result.elapsed_s > result.ttft_s:
        rate = result.output_tokens / (result.elapsed_s - result.ttft_s)
        speed = f", {result.output_tokens} tokens at {rate:.1f} tokens/s"
    ttft = f"first token after {result.ttft_s:.2f} s" if result.ttft_s is not None else "no token streamed"
    if not result.text and not result.thinking:
        return Check(
            "smoke.stream",
            "smoke",
            "warn",
            f"streamed {via}, but the answer was empty ({ttft})",
            "the model produced no text: try a larger model or check the engine's chat template",
        )
    return Check("smoke.stream", "smoke", "ok", f"streamed {via}: {ttft}{speed} (total {result.elapsed_s:.2f} s)")


def tools_check(result: StreamResult, via: str) -> Check:
    if result.error is not None:
        return Check(
            "smoke.tools",
            "smoke",
            "fail",
            f"tool-call request {via} failed: {result.error}",
            _failure_fix(result, via),
        )
    if result.tool_names:
        return Check(
            "smoke.tools",
            "smoke",
            "ok",
            f"tool-call request {via}: the model called {', '.join(result.tool_names)}",
        )
    return Check(
        "smoke.tools",
        "smoke",
        "warn",
        f"tool-call request {via}: the model answered in text instead of calling get_time",
        "Claude Code works only through tool calls: enable tool parsing on the engine (see engine.tools) "
        "or pick a model trained for tool use",
    )


async def run_smoke(profile: Profile, status: EngineStatus | None) -> list[Check]:
    profile = with_engine_model(profile, status)
    model = profile.slots().get("model")
    if model is None:
        return skipped_smoke("not run: the profile names no model and the engine lists none")
    route = choose_route(profile, status)
    bridge: RunningBridge | None = None
    try:
        if route.kind == "bridge":
            token = "ccb-doctor-" + secrets.token_urlsafe(18)
            try:
                bridge = await start_bridge(bridge_config(profile, token=token, status=status), "127.0.0.1", 0)
            except CcbError as exc:
                return skipped_smoke(f"not run: {exc.message}")
            except OSError as exc:
                return [
                    Check(
                        "smoke.stream",
                        "smoke",
                        "fail",
                        f"the bridge could not start on 127.0.0.1: {exc}",
                        "check for a firewall or sandbox refusing loopback sockets",
                    ),
                    Check("smoke.tools", "smoke", "skip", "tool-call request not run: the bridge did not start"),
                ]
            base, headers = (
                bridge.url,
                {"anthropic-version": ANTHROPIC_VERSION, "authorization": f"Bearer {token}"},
            )
            via = "through the embedded bridge"
        else:
            key = profile.resolve_key()
            if key is None and profile.api_key_env:
                return skipped_smoke(f"not run: ${profile.api_key_env} is not set (see profile.key)")
            base, headers = _anthropic_root(profile, status), _direct_headers(profile, key)
            via = f"directly to {redact_url(base)}"
        url = base.rstrip("/") + "/v1/messages?beta=true"
        async with httpx.AsyncClient(follow_redirects=False, trust_env=not is_loopback(base)) as client:
            streamed = await stream_request(
                client,
                url,
                headers,
                {
                    "model": model,
                    "max_tokens": 64,
                    "stream": True,
                    "messages": [{"role": "user", "content": "Reply with the single word: ready"}],
                },
            )
            tooled = await stream_request(
                client,
                url,
                headers,
                {
                    "model": model,
                    "max_tokens": 256,
                    "stream": True,
                    "tools": [_TOOL],
                    "tool_choice": {"type": "any"},
                    "messages": [{"role": "user", "content": "What time is it in Tokyo? Use the get_time tool."}],
                },
            )
    finally:
        if bridge is not None:
            await bridge.stop()
    return [stream_check(streamed, via), tools_check(tooled, via)]
