"""OpenAI chat-completion chunks → Anthropic stream events: one state machine for every engine. No I/O.

`StreamTranslator.feed(chunk)` takes one decoded upstream chunk and returns the Anthropic events it
produces; `finish()` closes the message. Blocks are strictly sequential: a block is stopped before
the next one starts, whatever order thinking, text and tool calls arrive in.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from ccb.proxy.translate.types import (
    ChatCompletionChunk,
    ChunkToolCall,
    CompletionUsage,
    Event,
    Message,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    Usage,
)

__all__ = ["Event", "StreamTranslator", "UpstreamError"]

STOP_REASONS = {
    "stop": "end_turn",
    "eos": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Claude Code echoes thinking signatures back; any non-empty value will do for a non-Claude model.
SIGNATURE = "ccb"
_BAD_ID = re.compile(r"[^A-Za-z0-9_-]")
_STRUCTURAL = re.compile(r'["\\{}\[\]]')  # what changes JSON nesting: quotes, backslashes, brackets
_OPEN, _CLOSE = "<think>", "</think>"
_MAX_LEADING_SPACE = 1024


class UpstreamError(Exception):
    """The engine reported an error inside the stream (an `error` chunk)."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error))
        self.error = error


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


class _Call:
    __slots__ = ("args", "block", "checked", "depth", "esc", "id", "in_str", "name", "opened", "pending", "raw_id")

    def __init__(self, raw_id: Any) -> None:
        self.raw_id = raw_id
        self.id = _clean_id(raw_id) if raw_id else new_id("toolu_")
        self.name = ""
        self.args: list[str] = []
        self.block: int | None = None  # index of its content block once opened
        self.pending = 0  # how many pieces of `args` are not yet sent
        # The arguments' JSON nesting, tracked as pieces arrive: whether they may be complete is known without
        # re-joining and re-parsing everything so far on every delta (quadratic on long tool calls).
        self.depth = 0
        self.in_str = self.esc = self.opened = False
        self.checked: tuple[int, bool] = (-1, False)

    def add(self, piece: str) -> None:
        self.args.append(piece)
        self.pending += 1
        depth, in_str = self.depth, self.in_str
        skip = 0 if self.esc else -1  # the position of a character escaped by a backslash
        for match in _STRUCTURAL.finditer(piece):
            i = match.start()
            if i == skip:
                continue
            ch = piece[i]
            if in_str:
                if ch == "\\":
                    skip = i + 1
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch in "{[":
                depth += 1
                self.opened = True
            elif ch in "}]":
                depth -= 1
        self.esc = skip == len(piece)
        self.depth, self.in_str = depth, in_str

    def complete(self) -> bool:
        """The arguments so far are a whole JSON value (parsed only when the nesting says they may be)."""
        if not self.opened or self.depth != 0 or self.in_str:
            return False
        if self.checked[0] != len(self.args):
            self.checked = (len(self.args), _complete_json("".join(self.args)))
        return self.checked[1]


class _ThinkSplitter:
    """Splits inline `<think>…</think>` out of content, with tags split across chunks."""

    __slots__ = ("after_think", "can_open", "mode", "pending")

    def __init__(self) -> None:
        self.mode = "text"
        self.pending = ""
        self.can_open = True  # a think tag counts only before any visible text
        self.after_think = False

    def feed(self, text: str) -> list[tuple[str, str]]:
        if not self.pending and not self.can_open and self.mode == "text" and not self.after_think:
            return [("text", text)]  # the common case, kept cheap
        out: list[tuple[str, str]] = []
        buf = self.pending + text
        self.pending = ""
        while buf:
            if self.mode == "think":
                end = buf.find(_CLOSE)
                if end >= 0:
                    if end:
                        out.append(("thinking", buf[:end]))
                    buf = buf[end + len(_CLOSE) :]
                    self.mode, self.after_think = "text", True
                    continue
                hold = _partial_suffix(buf, _CLOSE)
                if len(buf) > hold:
                    out.append(("thinking", buf[: len(buf) - hold]))
                self.pending = buf[len(buf) - hold :]
                break
            if self.can_open:
                stripped = buf.lstrip()
                if stripped.startswith(_OPEN):
                    self.mode, self.can_open = "think", False
                    buf = stripped[len(_OPEN) :]
                    continue
                if _OPEN.startswith(stripped):
                    # Maybe the start of a tag, or only whitespace so far; an engine streaming whitespace
                    # for ever keeps a bounded tail, so each piece costs the same (not the length so far).
                    self.pending = buf if stripped or len(buf) <= _MAX_LEADING_SPACE else buf[-_MAX_LEADING_SPACE:]
                    break
                self.can_open = False
            if self.after_think:
                buf = buf.lstrip("\n")
                if not buf:
                    break
                self.after_think = False
            out.append(("text", buf))
            break
        return out

    def flush(self) -> list[tuple[str, str]]:
        rest, self.pending = self.pending, ""
        if not rest or (self.mode == "text" and not rest.strip()):
            return []
        return [("thinking" if self.mode == "think" else "text", rest)]


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class StreamTranslator:
    def __init__(
        self,
        *,
        model: str,
        input_estimate: int = 0,
        tool_names: dict[str, str] | None = None,
        stop_sequences: tuple[str, ...] = (),
        message_id: str | None = None,
    ) -> None:
        self.model = model
        self.message_id = message_id or new_id("msg_")
        self.input_estimate = input_estimate
        self.tool_names = tool_names or {}
        self.stop_sequences = stop_sequences
        self._next = 0
        self._open: str | None = None  # "text" | "thinking" | "tool"
        self._open_call: _Call | None = None
        self._calls: dict[Any, _Call] = {}
        self._positional = 0
        self._think = _ThinkSplitter()
        self.finish_reason: str | None = None
        self._matched_stop: str | None = None
        self.usage: CompletionUsage | None = None
        self._out_chars = 0
        self.tool_calls = 0
        self.finished = False

    # -- public -----------------------------------------------------------------------------

    def start(self) -> list[Event]:
        message: Message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_estimate,
                "output_tokens": 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return [("message_start", {"type": "message_start", "message": message}), ("ping", {"type": "ping"})]

    def feed(self, chunk: ChatCompletionChunk) -> list[Event]:
        if "error" in chunk and not chunk.get("choices"):
            raise UpstreamError(chunk["error"])
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        choices = chunk.get("choices")
        if not choices:
            return []
        choice = choices[0]
        delta = choice.get("delta") or choice.get("message")
        events: list[Event] = []
        if delta:
            reasoning = delta.get("reasoning") or delta.get("reasoning_content")
            if reasoning and isinstance(reasoning, str):
                self._emit("thinking", reasoning, events)
            content = delta.get("content")
            if content and isinstance(content, str):
                for kind, text in self._think.feed(content):
                    self._emit(kind, text, events)
            calls = delta.get("tool_calls")
            if calls:
                for position, call in enumerate(calls):
                    self._tool_delta(call, position, events)
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = reason
            matched = choice.get("stop_reason") or choice.get("matched_stop")
            if isinstance(matched, str):
                self._matched_stop = matched
        return events

    def finish(self) -> list[Event]:
        events: list[Event] = []
        for kind, text in self._think.flush():
            self._emit(kind, text, events)
        for call in self._calls.values():
            if call.block is None and call.args and not call.name:
                call.name = "unknown_tool"  # arguments without a name: still surface them
                self._open_tool(call, events)
        self._close(events)
        self.finished = True
        stop_reason, stop_sequence = self._stop()
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                    "usage": self.final_usage(),
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def final_usage(self) -> Usage:
        usage = self.usage or {}
        prompt = usage.get("prompt_tokens")
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        output = usage.get("completion_tokens")
        return {
            "input_tokens": max(int(prompt) - cached, 0) if isinstance(prompt, int) else self.input_estimate,
            "output_tokens": int(output) if isinstance(output, int) else max(1, self._out_chars // 4),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached,
        }

    @property
    def started_content(self) -> bool:
        return self._next > 0

    # -- blocks ------------------------------------------------------------------------------

    def _emit(self, kind: str, text: str, events: list[Event]) -> None:
        if self._open != kind:
            self._close(events)
            block: TextBlock | ThinkingBlock = (
                {"type": "text", "text": ""}
                if kind == "text"
                else {"type": "thinking", "thinking": "", "signature": ""}
            )
            events.append(
                ("content_block_start", {"type": "content_block_start", "index": self._next, "content_block": block})
            )
            self._open = kind
            self._next += 1
        self._out_chars += len(text)
        delta: TextDelta | ThinkingDelta = (
            {"type": "text_delta", "text": text} if kind == "text" else {"type": "thinking_delta", "thinking": text}
        )
        events.append(("content_block_delta", {"type": "content_block_delta", "index": self._next - 1, "delta": delta}))

    def _close(self, events: list[Event]) -> None:
        if self._open is None:
            return
        index = self._next - 1
        if self._open == "thinking":
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": SIGNATURE},
                    },
                )
            )
        elif self._open == "tool" and self._open_call is not None:
            self._repair_json(self._open_call, events)
            self._open_call = None
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        self._open = None

    # -- tool calls --------------------------------------------------------------------------

    def _tool_delta(self, delta: ChunkToolCall, position: int, events: list[Event]) -> None:
        index = delta.get("index")
        call_id = delta.get("id")
        fn = delta.get("function") or {}
        name = fn.get("name")
        args = fn.get("arguments")
        if args is not None and not isinstance(args, str):
            args = json.dumps(args, ensure_ascii=False)  # some engines send an object
        key = index if index is not None else ("pos", position)
        call = self._calls.get(key)
        if call is not None and (
            (call_id and call_id != call.raw_id and call.name)
            or (name and call.name and not call_id and call.complete())
        ):
            # A new id (or a whole new call) at a reused index is a new call (Ollama, gpt-oss).
            self._calls[("old", len(self._calls))] = self._calls.pop(key)
            call = None
        if call is None:
            call = _Call(call_id)
            self._calls[key] = call
        if name and not call.name:
            call.name = name
        if args:
            call.add(args)
        if call.block is None:
            if call.name:
                self._open_tool(call, events)
        elif call is self._open_call:
            self._send_args(call, events)

    def _open_tool(self, call: _Call, events: list[Event]) -> None:
        self._close(events)
        call.block = self._next
        self._next += 1
        self.tool_calls += 1
        name = self.tool_names.get(call.name, call.name)
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": call.block,
                    "content_block": {"type": "tool_use", "id": call.id, "name": name, "input": {}},
                },
            )
        )
        self._open, self._open_call = "tool", call
        self._send_args(call, events)

    def _send_args(self, call: _Call, events: list[Event]) -> None:
        if not call.pending:
            return
        piece = "".join(call.args[-call.pending :])
        call.pending = 0
        if piece and call.block is not None:  # (the block is always open here)
            self._out_chars += len(piece)
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": call.block,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                )
            )

    def _repair_json(self, call: _Call, events: list[Event]) -> None:
        """Truncated arguments (e.g. at max_tokens) get their brackets closed instead of failing to parse."""
        text = "".join(call.args)
        if not text.strip() or _complete_json(text):
            return
        suffix = _closing_suffix(text)
        if suffix and _complete_json(text + suffix):
            call.args.append(suffix)
            call.pending = 1
            self._send_args(call, events)

    # -- stop reason -------------------------------------------------------------------------

    def _stop(self) -> tuple[str, str | None]:
        reason = STOP_REASONS.get(self.finish_reason or "stop", "end_turn")
        if reason == "end_turn" and self._matched_stop in self.stop_sequences and self._matched_stop:
            return "stop_sequence", self._matched_stop
        if self.tool_calls and reason == "end_turn":
            return "tool_use", None
        return reason, None


def _clean_id(call_id: Any) -> str:
    text = str(call_id)
    return _BAD_ID.sub("_", text) if _BAD_ID.search(text) else text


def _complete_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _closing_suffix(text: str) -> str:
    stack: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    suffix = "\\" if escaped else ""  # a dangling backslash: complete the escape first
    if in_string:
        suffix += '"'
    stripped = (text + suffix).rstrip()
    if stripped.endswith(":"):
        suffix += "null"
    return suffix + "".join(reversed(stack))
