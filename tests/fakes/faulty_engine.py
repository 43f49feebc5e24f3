"""A fake OpenAI engine on a raw asyncio socket, for fault injection. Does network I/O (loopback only).

`FakeEngine` (aiohttp) answers like a healthy engine; this one misbehaves on purpose, down to the byte:
it can stay silent, send headers and stall, trickle keep-alive comments forever, cut a chunked stream
with a FIN or a RST, or send a body of the wrong kind. Every reply to `POST /v1/chat/completions` comes
from `script` (first in, first out), else from `default`. It also counts what the bridge does to it:
connections open, and how many answers were cut short because the bridge closed the connection.
`rules` picks a reply by the request's text instead, for many concurrent clients.

`unaccepting_port()` gives a port whose listen queue is full, so a connect to it never completes:
the only way to test a connect timeout on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

from tests.fakes.openai_engine import Answer, render_completion, render_stream

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Echo:
    """A healthy vLLM-style answer whose text repeats the last user message: shows which request it serves."""

    pause: float = 0.0  # between stream chunks
    repeat: int = 1  # how many times the echoed text appears (longer streams)
    delay: float = 0.0  # before the headers: a long prefill
    together: int = 0  # answer only once this many requests in all have arrived: proves they are concurrent


@dataclass
class Reply:
    """A complete response with a Content-Length: an error, or a body of the wrong kind."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Silent:
    """Read the request, then send nothing at all (first-byte timeout)."""


@dataclass
class Stream:
    """Chunked response: `pieces` in order (with `pause` after each), then `then`:
    "end" (a proper last chunk), "hang" (keep the connection open, send nothing more),
    "fin" (close without the last chunk) or "rst" (reset the connection)."""

    pieces: list[bytes]
    then: str = "end"
    pause: float = 0.0
    status: int = 200
    content_type: str = "text/event-stream"


@dataclass
class Trickle:
    """Headers, then `piece` every `interval` seconds for ever: data that is never an answer."""

    piece: bytes = b": ping\n\n"
    interval: float = 0.05


Behaviour = Echo | Reply | Silent | Stream | Trickle


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of an OpenAI chat request."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            parts = content if isinstance(content, list) else []
            return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def sse(chunks: list[dict[str, Any]], done: bool = True) -> list[bytes]:
    """One SSE event per chunk, as separate pieces."""
    pieces = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
    return pieces + ([b"data: [DONE]\n\n"] if done else [])


class FaultyEngine:
    """Serves /v1/models and /v1/chat/completions on 127.0.0.1; see the module docstring."""

    def __init__(self, *, model: str = "fake-model", context: int = 32768) -> None:
        self.model = model
        self.context = context
        self.script: deque[Behaviour] = deque()
        self.default: Behaviour = Echo()
        self.rules: dict[str, Behaviour] = {}  # by the request's last user text: for concurrent clients
        self.requests: list[dict[str, Any]] = []  # kept while `keep_requests`; `received` always counts
        self.headers: list[dict[str, str]] = []
        self.keep_requests = True
        self.received = 0
        self.open_connections = 0
        self.cut_short = 0  # answers the bridge abandoned by closing the connection
        self.peak_connections = 0
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *replies: Behaviour) -> None:
        self.script.extend(replies)

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Hang up on every connection still open: their handlers then finish on their own. (Cancelling them
        # instead makes asyncio log an error for each.)
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            _, stuck = await asyncio.wait(list(self._tasks), timeout=10)
            for task in stuck:
                task.cancel()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- connection handling ---------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            while True:
                request = await _read_request(reader)
                if request is None or not await self._answer(request, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.open_connections -= 1
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must not be reused."""
        if request.method == "GET" and request.path.startswith("/v1/models"):
            entry = {"id": self.model, "object": "model", "owned_by": "vllm", "max_model_len": self.context}
            return await _send(writer, Reply(200, json.dumps({"object": "list", "data": [entry]}).encode()))
        if request.method != "POST" or not request.path.startswith("/v1/chat/completions"):
            return await _send(writer, Reply(404, b'{"error":{"message":"no such route"}}'))
        body = request.json()
        self.received += 1
        self._changed.set()
        if self.keep_requests:
            self.requests.append(body)
            self.headers.append(request.headers)
        behaviour = self.script.popleft() if self.script else self.rules.get(user_text(body), self.default)
        if isinstance(behaviour, Echo):
            return await self._echo(behaviour, body, reader, writer)
        if isinstance(behaviour, Reply):
            return await _send(writer, behaviour)
        if isinstance(behaviour, Silent):
            await self._until_closed(reader)
            return False
        if isinstance(behaviour, Trickle):
            writer.write(_head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}))
            watcher = asyncio.ensure_future(self._until_closed(reader))
            try:
                while not watcher.done():
                    writer.write(_chunk(behaviour.piece))
                    await writer.drain()
                    await asyncio.sleep(behaviour.interval)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            return False
        return await self._stream(behaviour, reader, writer)

    async def _echo(
        self, echo: Echo, body: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        answer = Answer(text=" ".join([f"echo: {user_text(body)}"] * echo.repeat))
        if echo.delay:
            await asyncio.sleep(echo.delay)
        while self.received < echo.together:
            self._changed.clear()
            await self._changed.wait()
        if not body.get("stream"):
            return await _send(writer, Reply(200, json.dumps(render_completion(answer, "vllm", self.model)).encode()))
        return await self._stream(
            Stream(sse(render_stream(answer, "vllm", self.model)), pause=echo.pause), reader, writer
        )

    async def _stream(self, stream: Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(_head(stream.status, {"Content-Type": stream.content_type, "Transfer-Encoding": "chunked"}))
        for piece in stream.pieces:
            writer.write(_chunk(piece))
            await writer.drain()
            if stream.pause:
                await asyncio.sleep(stream.pause)
        if stream.then == "end":
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if stream.then == "hang":
            await self._until_closed(reader)
        elif stream.then == "rst":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        return False

    async def _until_closed(self, reader: asyncio.StreamReader) -> None:
        """Wait until the bridge closes the connection; count it as an abandoned answer."""
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
        self.cut_short += 1
        self._changed.set()

    async def wait_cut_short(self, count: int, within: float = 1.0) -> None:
        """Return once `count` answers in all were abandoned by the bridge; TimeoutError after `within` s."""
        async with asyncio.timeout(within):
            while self.cut_short < count:
                self._changed.clear()
                await self._changed.wait()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        body = b"".join(parts)
    else:
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
    return Request(method, target, headers, body)


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b""


async def _send(writer: asyncio.StreamWriter, reply: Reply) -> bool:
    headers = {"Content-Type": reply.content_type, "Content-Length": str(len(reply.body)), **reply.headers}
    writer.write(_head(reply.status, headers) + reply.body)
    await writer.drain()
    return True


@contextlib.contextmanager
def unaccepting_port() -> Iterator[int]:
    """A loopback port that never completes a connect: its listen queue is full and nobody accepts.

    With a backlog of 0 Linux queues one connection; further SYNs are dropped, so a client's
    connect waits until its own timeout.
    """
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()
