"""Server-sent events: incremental decoders for streamed bytes and an encoder for Anthropic events. No I/O.

`SSEDecoder` gives the `data` of each event (the bridge reading an engine's OpenAI stream);
`EventDecoder` gives each event with its name (doctor's smoke test and the tests reading an Anthropic
stream). Both work on bytes and only decode complete lines, so a multi-byte UTF-8 character split
across two network reads is never mangled.

Both sides run once per streamed token, so both keep to C-level string work: the decoder splits
every complete line of a read in one call, and the encoder writes the one event a stream is mostly
made of (`content_block_delta`) from a template, byte for byte what the general path would give.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any, NamedTuple

DONE = "[DONE]"
# One SSE line carries one chunk of an answer (kilobytes); an engine sending more without a newline is broken.
MAX_LINE = 16 * 1024 * 1024


class LineTooLong(ValueError):
    """An engine sent more than the decoder's `max_line` bytes without ending the line."""


class _Lines:
    """The byte buffer under both decoders: hands back the complete lines of each read, decoded."""

    __slots__ = ("_buf", "max_line")

    def __init__(self, max_line: int | None = None) -> None:
        self._buf = bytearray()  # an unfinished line: grows in place, never re-copied whole per read
        self.max_line = max_line or MAX_LINE

    def _lines(self, chunk: bytes) -> list[str]:
        """Every line `chunk` completes, without its `\n` (a `\r` before it is left to the caller)."""
        end = chunk.rfind(b"\n") + 1
        if not end:
            self._buf += chunk
            if len(self._buf) > self.max_line:
                size, self._buf = len(self._buf), bytearray()
                raise LineTooLong(f"one line of the stream is over {self.max_line} bytes ({size} so far)")
            return []
        if self._buf:
            self._buf += chunk[:end]
            block = bytes(self._buf)
        else:
            block = chunk[:end]
        self._buf = bytearray(chunk[end:])
        # Complete lines only: a newline is never part of a multi-byte character, so this cut is safe.
        lines = block.decode("utf-8", "replace").split("\n")
        lines.pop()  # the empty string after the last newline
        return lines

    def _rest(self) -> bytes | None:
        """End of stream: the last line, ended, when it came without its newline."""
        if not self._buf:
            return None
        rest, self._buf = bytes(self._buf), bytearray()
        return rest.rstrip(b"\r") + b"\n"


class SSEDecoder(_Lines):
    """Feed raw bytes, get back the `data` payload of every complete event (as text): the bridge's reader.

    Comments (`: ping`) and fields other than `data` are dropped; multi-line data is joined with
    newlines as the SSE spec says. `[DONE]` is returned like any payload: the caller decides.
    """

    __slots__ = ("_data",)

    def __init__(self, max_line: int | None = None) -> None:
        super().__init__(max_line)
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        # `_lines` inlined: this runs once per read of every stream the bridge relays.
        end = chunk.rfind(b"\n") + 1
        if not end:
            self._buf += chunk
            if len(self._buf) > self.max_line:
                size, self._buf = len(self._buf), bytearray()
                raise LineTooLong(f"one line of the stream is over {self.max_line} bytes ({size} so far)")
            return []
        if self._buf:
            self._buf += chunk[:end]
            block = bytes(self._buf)
        else:
            block = chunk[:end]
        self._buf = bytearray(chunk[end:])
        lines = block.decode("utf-8", "replace").split("\n")
        lines.pop()
        out: list[str] = []
        data = self._data
        for line in lines:
            if line[-1:] == "\r":
                line = line[:-1]
            if not line:
                if data:
                    out.append("\n".join(data))
                    data = []
            elif line[:5] == "data:":
                data.append(line[6:] if line[5:6] == " " else line[5:])
            # Comments (":") and event/id/retry fields carry nothing the bridge needs.
        self._data = data
        return out

    def flush(self) -> list[str]:
        """End of stream: a last event without its blank line still counts."""
        rest = self._rest()
        out = self.feed(rest) if rest is not None else []
        if self._data:
            out.append("\n".join(self._data))
            self._data = []
        return out


class ServerSentEvent(NamedTuple):
    """One complete event: its name (`message` when the stream names none, as the SSE spec says) and its data."""

    event: str
    data: str


class EventDecoder(_Lines):
    """Feed raw bytes, get back every complete event with its name: for clients reading an Anthropic stream.

    The same rules as `SSEDecoder` (which the bridge uses, as engines' OpenAI streams name no events),
    plus the `event` field: it names the event the next blank line ends.
    """

    __slots__ = ("_data", "_event")

    def __init__(self, max_line: int | None = None) -> None:
        super().__init__(max_line)
        self._data: list[str] = []
        self._event = ""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        for line in self._lines(chunk):
            if line[-1:] == "\r":
                line = line[:-1]
            if not line:
                if self._data:
                    out.append(ServerSentEvent(self._event or "message", "\n".join(self._data)))
                    self._data = []
                self._event = ""
            elif line[:5] == "data:":
                self._data.append(line[6:] if line[5:6] == " " else line[5:])
            elif line[:6] == "event:":
                self._event = line[7:] if line[6:7] == " " else line[6:]
        return out

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: a last event without its blank line still counts."""
        rest = self._rest()
        out = self.feed(rest) if rest is not None else []
        if self._data:
            out.append(ServerSentEvent(self._event or "message", "\n".join(self._data)))
            self._data = []
            self._event = ""
        return out


# Built once: json.dumps builds a new encoder on every call that passes options.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# The field each delta type carries its text in.
_DELTA_FIELDS = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "input_json_delta": "partial_json",
    "signature_delta": "signature",
}
_DELTA_KEYS = ("type", "index", "delta")


def encode(event: str, data: Mapping[str, Any]) -> bytes:
    """One Anthropic SSE event on the wire."""
    if event == "content_block_delta":
        fast = _delta_event(data)
        if fast is not None:
            return fast
    return b"event: " + event.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def _delta_event(data: Mapping[str, Any]) -> bytes | None:
    """A text, thinking, signature or tool-argument delta from a template; None for any other shape."""
    if tuple(data) != _DELTA_KEYS or data["type"] != "content_block_delta":
        return None
    index, delta = data["index"], data["delta"]
    if type(index) is not int or type(delta) is not dict or len(delta) != 2:
        return None
    kind = delta.get("type")
    field = _DELTA_FIELDS.get(kind) if type(kind) is str else None
    if field is None or tuple(delta) != ("type", field) or type(delta[field]) is not str:
        return None
    return (
        f'event: content_block_delta\ndata: {{"type":"content_block_delta","index":{index},"delta":'
        f'{{"type":"{kind}","{field}":{encode_basestring(delta[field])}}}}}\n\n'
    ).encode()


def _dumps(data: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(data).encode()


PING = encode("ping", {"type": "ping"})
