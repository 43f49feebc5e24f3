"""The checks a Messages request must pass before translation: each error names its field. Pure, no I/O."""

from __future__ import annotations

from typing import Any


class RequestError(ValueError):
    """The client's request is malformed; the message names the field."""


def validate(body: Any, *, require_max_tokens: bool = True) -> None:
    """Raise RequestError naming the first field a Messages request gets wrong."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model: field required (a non-empty string)")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestError("messages: field required (an array of messages)")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise RequestError(f"messages.{i}: must be an object")
        if msg.get("role") not in ("user", "assistant", "system"):
            raise RequestError(f"messages.{i}.role: must be 'user' or 'assistant'")
        content = msg.get("content")
        if not isinstance(content, (str, list)):
            raise RequestError(f"messages.{i}.content: must be a string or an array of content blocks")
        if isinstance(content, list):
            for j, block in enumerate(content):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    raise RequestError(f"messages.{i}.content.{j}: must be a content block with a type")
    if require_max_tokens and "max_tokens" not in body:
        raise RequestError("max_tokens: field required")
    mt = body.get("max_tokens")
    if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool) or mt < 1):
        raise RequestError("max_tokens: must be a positive integer")
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise RequestError("system: must be a string or an array of text blocks")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise RequestError("tools: must be an array")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise RequestError(f"tools.{i}.name: field required")
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise RequestError(f"{key}: must be a number")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise RequestError("stop_sequences: must be an array of strings")
