"""Engine error bodies of every envelope → Anthropic error JSON with the right status and type. No I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ccb.proxy.translate.types import ErrorResponse

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_body(error_type: str, message: str) -> ErrorResponse:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def error_for(status: int, message: str) -> ErrorResponse:
    return error_body(TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"), message)


@dataclass(frozen=True, slots=True)
class Overflow:
    """A context-window error: `prompt` tokens (when known) against a `limit`.

    `completion` is true when the prompt fits and only prompt + max_tokens does not: a retry with a
    smaller max_tokens can succeed.
    """

    prompt: int | None
    limit: int | None
    completion: bool = False
    completion_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Mapped:
    status: int
    body: ErrorResponse
    overflow: Overflow | None = None
    retryable: bool | None = None  # None: let the client's defaults decide


_INT = r"(\d[\d,]*)"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # vLLM: "... maximum context length is N tokens. However, you requested M output tokens and your
    # prompt contains at least P input tokens ..."
    (
        re.compile(
            rf"maximum context length is {_INT} tokens.*?prompt contains at least {_INT} input tokens", re.DOTALL
        ),
        "LP",
    ),
    # older vLLM: "... maximum context length is N tokens. However, you requested X tokens (P in the messages, C in the completion)"
    (re.compile(rf"maximum context length is {_INT} tokens.*?\({_INT} in the messages", re.DOTALL), "LP"),
    # SGLang
    (re.compile(rf"input \({_INT} tokens\) is longer than the model's context length \({_INT} tokens\)"), "PL"),
    # llama.cpp
    (re.compile(rf"request \({_INT} tokens\) exceeds the available context size \({_INT} tokens\)"), "PL"),
    (re.compile(rf"input \({_INT} tokens\) is larger than the max context size \({_INT} tokens\)"), "PL"),
    # LM Studio
    (re.compile(rf"n_keep: {_INT}\s*>=\s*n_ctx: {_INT}"), "PL"),
]
_COMPLETION_LIMIT = re.compile(rf"max_completion_tokens is too large: {_INT}\.?\s*This model supports at most {_INT}")
_TOTAL_LIMIT = re.compile(rf"maximum context length of {_INT} tokens")
_OVERFLOW_WORDS = (
    "exceeds the context length",
    "exceeds maximum context length",
    "longer than the context length",
    "context length exceeded",
    "context_length_exceeded",
    "exceed_context_size",
    "prompt is too long",
    "maximum context length",
)
_TOOLS_OFF = ("--enable-auto-tool-choice", "--jinja", "tool-call-parser", "does not support tools")


def _num(text: str) -> int:
    return int(text.replace(",", ""))


def extract_message(raw: bytes | str) -> tuple[str, dict[str, Any] | None]:
    """The human message from any envelope: nested, flat, string, FastAPI `detail`, or plain text."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:2000] or "(no body)", None
    if not isinstance(data, dict):
        return text.strip()[:2000], None
    err = data.get("error")
    if isinstance(err, dict):
        msg = err.get("message") or err.get("msg") or json.dumps(err)
        return str(msg), {**data, **err}
    if isinstance(err, str):
        return err, data
    for key in ("message", "detail"):
        if data.get(key):
            value = data[key]
            return (value if isinstance(value, str) else json.dumps(value)), data
    return text.strip()[:2000], data


def parse_overflow(message: str, data: dict[str, Any] | None = None) -> Overflow | None:
    if data and isinstance(data.get("n_prompt_tokens"), int) and isinstance(data.get("n_ctx"), int):
        return Overflow(data["n_prompt_tokens"], data["n_ctx"])
    for pattern, order in _PATTERNS:
        m = pattern.search(message)
        if m:
            a, b = _num(m.group(1)), _num(m.group(2))
            prompt, limit = (b, a) if order == "LP" else (a, b)
            return Overflow(prompt, limit, completion=prompt < limit)
    m = _COMPLETION_LIMIT.search(message)
    if m:
        return Overflow(None, None, completion=True, completion_limit=_num(m.group(2)))
    low = message.lower()
    if any(word in low for word in _OVERFLOW_WORDS):
        m = _TOTAL_LIMIT.search(message)
        return Overflow(None, _num(m.group(1)) if m else None)
    return None


def too_long(overflow: Overflow, original: str) -> str:
    if overflow.prompt is not None and overflow.limit is not None:
        return f"prompt is too long: {overflow.prompt} tokens > {overflow.limit} maximum"
    return f"prompt is too long: the engine's context window is full ({original})"


def map_upstream(status: int, raw: bytes | str, *, engine: str = "the engine") -> Mapped:
    """Map an engine's error answer to the Anthropic status and body Claude Code understands."""
    message, data = extract_message(raw)
    overflow = parse_overflow(message, data) if status in (400, 413, 422, 500) else None
    if overflow is not None:
        return Mapped(400, error_body("invalid_request_error", too_long(overflow, message)), overflow, False)
    if any(flag in message for flag in _TOOLS_OFF):
        hint = (
            f"{engine} cannot call tools as started ({message}). Restart it with tool calling enabled "
            "(vLLM: --enable-auto-tool-choice --tool-call-parser NAME; SGLang: --tool-call-parser NAME; "
            "llama.cpp: --jinja; Ollama: a model with the tools capability)"
        )
        return Mapped(400, error_body("invalid_request_error", hint), None, False)
    if status in (503, 529) or (isinstance(data, dict) and data.get("type") == "unavailable_error"):
        return Mapped(529, error_body("overloaded_error", f"{engine} is busy or still loading: {message}"), None, True)
    if status == 422:
        status = 400
    body = error_for(status, message)
    return Mapped(status, body)
