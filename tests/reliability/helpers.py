"""Helpers for the reliability suite: request bodies, stream errors, raw HTTP and a bridge in a thread (servers,
processes and SSE re-parsing come from tests.support). Does network I/O (loopback only)."""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from ccb.proxy.config import BridgeConfig, ModelMap, dialect_for
from ccb.proxy.runner import RunningBridge, start_bridge
from tests.fakes.faulty_engine import FaultyEngine
from tests.support import sse
from tests.support.servers import LoopThread

TOKEN = "reliability-token-42"
AUTH = {"x-api-key": TOKEN}


def ask(text: str = "hi", *, stream: bool = True, max_tokens: int = 50) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": max_tokens,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def error_of(raw: bytes) -> dict[str, Any]:
    """The `event: error` that ends a stream which failed after its first byte."""
    events = sse.events(raw)
    assert events[0][0] == "message_start", events[:1]
    assert [name for name, _ in events].count("error") == 1 and events[-1][0] == "error", events[-3:]
    assert "message_stop" not in [name for name, _ in events]
    body = events[-1][1]
    assert body["type"] == "error" and isinstance(body["error"]["message"], str)
    return body


@dataclass
class Answered:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)


def unchunk(raw: bytes) -> bytes:
    """Undo HTTP chunked framing (stream answers come chunked on a Connection: close request)."""
    out = b""
    while raw:
        size_line, _, raw = raw.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, raw = out + raw[:size], raw[size + 2 :]
    return out


class ThreadBridge(LoopThread):
    """A fake engine and a bridge on their own event loop in a thread, for synchronous property tests."""

    def __init__(self, **overrides: Any) -> None:
        super().__init__(name="bridge", timeout=30)
        self.overrides = overrides
        self.engine: FaultyEngine | None = None
        self.bridge: RunningBridge | None = None

    def started(self) -> None:
        self.call(self._start())

    async def stopping(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()
        if self.engine is not None:
            await self.engine.stop()

    async def _start(self) -> None:
        self.engine = await FaultyEngine().start()
        self.engine.keep_requests = False
        config = BridgeConfig(
            upstream=self.engine.url,
            models=ModelMap(default="fake-model"),
            auth_token=TOKEN,
            dialect=dialect_for("vllm"),
            context_length=32768,
            **self.overrides,
        )
        self.bridge = await start_bridge(config)

    @property
    def port(self) -> int:
        assert self.bridge is not None
        return self.bridge.port


@dataclass
class Exchanged:
    """What `exchange` read back: the status, the head's bytes and the body's, exactly as sent."""

    status: int
    head: bytes
    body: bytes

    def error(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert data["type"] == "error" and isinstance(data["error"]["message"], str), data
        return data


def exchange(
    port: int, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"", *, with_length: bool = True
) -> Exchanged:
    """One request on a fresh connection, exactly as given (plus Host, Connection: close, Content-Length)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if with_length:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:  # timeout: hang guard
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), data[:200]  # aiohttp answers requests it cannot parse as HTTP/1.0
    return Exchanged(int(head.split(b" ", 2)[1]), head, rest)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes any JSON value at all."""
    return st.one_of(valid, valid, json_values)


# Property tests: enough examples to find the odd shape, few enough for CI (each is one loopback round trip).
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def assert_not_a_server_error(answer: Exchanged) -> None:
    event(f"status {answer.status}")  # shown by --hypothesis-show-statistics
    assert answer.status < 500, (answer.status, answer.body[:500])
    if answer.status >= 400 and b"application/json" in answer.head and answer.body:  # HEAD: no body
        answer.error()
