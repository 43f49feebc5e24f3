"""Server-sent events: an incremental decoder for upstream bytes and an encoder for Anthropic events. No I/O.

The decoder works on bytes and only decodes complete lines, so a multi-byte UTF-8 character split
across two network reads is never mangled.
"""

from __future__ import annotations

import json
from typing import Any

DONE = "[DONE]"


class SSEDecoder:
    """Feed raw bytes, get back the `data` payload of every complete event (as text).

    Comments (`: ping`) and fields other than `data` are dropped; multi-line data is joined with
    newlines as the SSE spec says. `[DONE]` is returned like any payload: the caller decides.
    """

    __slots__ = ("_buf", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[str] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line(line, out)
        self._buf = buf[start:]
        return out

    def flush(self) -> list[str]:
        """End of stream: a last event without its blank line still counts."""
        out: list[str] = []
        if self._buf:
            line, self._buf = self._buf.rstrip(b"\r"), b""
            self._line(line, out)
        if self._data:
            out.append("\n".join(self._data))
            self._data = []
        return out

    def _line(self, line: bytes, out: list[str]) -> None:
        if not line:
            if self._data:
                out.append("\n".join(self._data))
                self._data = []
            return
        if line.startswith(b"data:"):
            value = line[5:]
            if value.startswith(b" "):
                value = value[1:]
            self._data.append(value.decode("utf-8", "replace"))
        # Comments (":") and event/id/retry fields carry nothing the bridge needs.


def encode(event: str, data: dict[str, Any]) -> bytes:
    """One Anthropic SSE event on the wire."""
    return b"event: " + event.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


PING = encode("ping", {"type": "ping"})
