"""The conversation's shape before translation: merged turns and a continued final assistant turn. No I/O.

The Messages API merges consecutive messages of one role into one turn; strict chat templates
(Mistral, Gemma, Llama 2) reject a history that does not alternate, so the bridge merges the same way,
after `role:"system"` messages are folded out (which can leave two user turns side by side).
"""

from __future__ import annotations

from typing import Any

# Engines that continue a final assistant message when asked to (engines.md: vLLM, SGLang
# `continue_final_message`); llama.cpp's server continues one by itself.
CONTINUE_FIELDS = {
    "vllm": {"continue_final_message": True, "add_generation_prompt": False},
    "sglang": {"continue_final_message": True, "add_generation_prompt": False},
}


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def merge_turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive messages of one role as one message whose content is their blocks in order."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        if out and out[-1]["role"] == msg["role"]:
            prev = out[-1]
            out[-1] = {**prev, "content": _blocks(prev["content"]) + _blocks(msg["content"])}
        else:
            out.append(msg)
    return out


def continue_final(out: dict[str, Any], dialect_name: str) -> None:
    """Ask the engine to continue a final assistant message (a prefill) instead of answering after it."""
    messages = out["messages"]
    if not messages or messages[-1]["role"] != "assistant" or messages[-1].get("tool_calls"):
        return
    if not messages[-1].get("content"):
        messages.pop()  # an empty prefill says nothing: answer the turn before it
        return
    out.update(CONTINUE_FIELDS.get(dialect_name, {}))


def prefill_of(out: dict[str, Any], dialect_name: str) -> str:
    """The final assistant text an engine without a continuation switch may restate at the start of its answer."""
    messages = out["messages"]
    if dialect_name in CONTINUE_FIELDS or not messages or messages[-1]["role"] != "assistant":
        return ""
    content = messages[-1].get("content")
    return content if isinstance(content, str) else ""


Event = tuple[str, dict[str, Any]]


class PrefillTrim:
    """Wraps a StreamTranslator: an answer that restarts by restating the prefill loses that copy.

    Text deltas are held while they could still be the prefill; once they are longer (or differ), they go
    out, without the prefill when they began with it. Everything else passes through unchanged.
    """

    def __init__(self, machine: Any, prefill: str) -> None:
        self._machine = machine
        self._prefill = prefill
        self._held: list[Event] = []
        self._text = ""
        self._in_text = False
        self._done = not prefill

    def __getattr__(self, name: str) -> Any:
        return getattr(self._machine, name)

    def start(self) -> list[Event]:
        return self._machine.start()  # type: ignore[no-any-return]

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        return self._filter(self._machine.feed(chunk))

    def finish(self) -> list[Event]:
        return self._filter(self._machine.finish())

    def _release(self, out: list[Event]) -> None:
        self._done = True
        if self._text.startswith(self._prefill):
            rest = self._text[len(self._prefill) :]
            if rest:
                name, data = self._held[0]
                out.append((name, {**data, "delta": {"type": "text_delta", "text": rest}}))
        else:
            out.extend(self._held)
        self._held = []

    def _filter(self, events: list[Event]) -> list[Event]:
        if self._done:
            return events
        out: list[Event] = []
        for name, data in events:
            if self._done:
                out.append((name, data))
            elif name == "content_block_start" and data.get("content_block", {}).get("type") == "text":
                self._in_text = True
                out.append((name, data))
            elif name == "content_block_delta" and self._in_text and data["delta"].get("type") == "text_delta":
                self._held.append((name, data))
                self._text += data["delta"]["text"]
                if len(self._text) >= len(self._prefill) or not self._prefill.startswith(self._text):
                    self._release(out)
            elif name in ("content_block_stop", "content_block_start", "message_delta", "message_stop", "error") and (
                self._in_text or name != "content_block_stop"
            ):
                if self._held:  # the answer was shorter than the prefill: not a restatement
                    out.extend(self._held)
                    self._held = []
                self._done = self._in_text or name != "content_block_start"
                out.append((name, data))
            else:
                out.append((name, data))
        return out
