"""Helpers for the reliability suite: request bodies, SSE re-parsing, raw HTTP, a bridge in a thread and
`ccb serve` as a child process. Does network and process I/O (loopback only)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import psutil
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from ccb.proxy.config import BridgeConfig, ModelMap, dialect_for
from ccb.proxy.runner import RunningBridge, start_bridge
from ccb.proxy.translate.response import accumulate
from tests.fakes.faulty_engine import FaultyEngine

TOKEN = "reliability-token-42"
AUTH = {"x-api-key": TOKEN}


def ask(text: str = "hi", *, stream: bool = True, max_tokens: int = 50) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": max_tokens,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Anthropic SSE bytes → (event name, data) pairs; asserts every event has both lines."""
    events = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        assert set(fields) == {"event", "data"}, block
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def stream_text(raw: bytes) -> str:
    """The text of a complete, well-formed stream (re-parsed with the event-order-checking reducer)."""
    message = accumulate(parse_sse(raw))
    return "".join(block["text"] for block in message["content"] if block["type"] == "text")


def error_of(raw: bytes) -> dict[str, Any]:
    """The `event: error` that ends a stream which failed after its first byte."""
    events = parse_sse(raw)
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


class ServeProcess:
    """`python -m ccb.cli [--debug] serve ...` on a free port; its output goes to files, never to a pipe
    that could fill up and block it."""

    def __init__(self, workdir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = [*args, "--port", "0"]  # `args` holds "serve" and its options
        self.env = env
        workdir.mkdir(parents=True, exist_ok=True)
        self.out_path, self.err_path = workdir / "serve.out", workdir / "serve.err"
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ccb.cli", *self.args, stdout=out, stderr=err, env=self.env
            )
        async with asyncio.timeout(30):
            while not (match := re.search(r"ANTHROPIC_BASE_URL=(\S+)", self.out_path.read_text())):
                assert self.proc.returncode is None, self.err_path.read_text()
                await asyncio.sleep(0.05)
        self.url = match.group(1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.terminate()
        async with asyncio.timeout(30):
            await self.proc.wait()
        # aiohttp logs a handler that crashed as "Error handling request", with a traceback.
        errors = self.err_path.read_text()
        assert "Traceback" not in errors and "Error handling request" not in errors, errors[-3000:]

    def rss(self) -> int:
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)


class ThreadBridge:
    """A fake engine and a bridge on their own event loop in a thread, for synchronous property tests."""

    def __init__(self, **overrides: Any) -> None:
        self.overrides = overrides
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bridge", daemon=True)
        self.engine: FaultyEngine | None = None
        self.bridge: RunningBridge | None = None

    def __enter__(self) -> Self:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

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

    async def _stop(self) -> None:
        assert self.bridge is not None and self.engine is not None
        await self.bridge.stop()
        await self.engine.stop()

    @property
    def port(self) -> int:
        assert self.bridge is not None
        return self.bridge.port


@dataclass
class Raw:
    status: int
    head: bytes
    body: bytes

    def error(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert data["type"] == "error" and isinstance(data["error"]["message"], str), data
        return data


def exchange(
    port: int, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"", *, with_length: bool = True
) -> Raw:
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
    return Raw(int(head.split(b" ", 2)[1]), head, rest)


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


def assert_not_a_server_error(answer: Raw) -> None:
    event(f"status {answer.status}")  # shown by --hypothesis-show-statistics
    assert answer.status < 500, (answer.status, answer.body[:500])
    if answer.status >= 400 and b"application/json" in answer.head and answer.body:  # HEAD: no body
        answer.error()
