"""Anthropic Messages request → OpenAI chat completions request. Pure functions, no I/O.

Parsing is lenient: unknown fields and block types never cause an error; only the fields a
Messages request cannot do without are validated (see `validate`). The request read is a
`types.MessagesRequest` and the body built a `types.ChatCompletionRequest` plus the dialect's own keys;
both are walked as `dict[str, Any]` (why: the `types` docstring).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ccb.proxy.config import Dialect
from ccb.proxy.translate import toolsearch
from ccb.proxy.translate.client_tools import expand as expand_client_tools
from ccb.proxy.translate.content import document_text, search_result_text
from ccb.proxy.translate.estimate import IMAGE_TOKENS, Estimate
from ccb.proxy.translate.shape import continue_final, merge_turns, prefill_of
from ccb.proxy.translate.thinking import apply as apply_thinking
from ccb.proxy.translate.tools import function_tool, is_function_tool, sanitize, tool_choice
from ccb.proxy.translate.types import ToolUseBlock
from ccb.proxy.translate.validate import RequestError, validate

__all__ = ["RequestError", "Translated", "estimate_tokens", "translate", "validate"]

BILLING_PREFIX = "x-anthropic-billing-header:"
NO_CONTENT = "(no content)"
# Built once: json.dumps builds an encoder per call when given options.
_ARGUMENTS = json.JSONEncoder(ensure_ascii=False)


@dataclass(slots=True)
class Translated:
    body: dict[str, Any]  # a types.ChatCompletionRequest, with the dialect's own keys
    # Upstream tool name → the client's tool name, for names that had to be shortened.
    tool_names: dict[str, str] = field(default_factory=dict)
    prompt_estimate: int = 0
    stop_sequences: tuple[str, ...] = ()
    prefill: str = ""  # a final assistant text the engine may restate (see shape.PrefillTrim)


def translate(body: dict[str, Any], *, model: str, dialect: Dialect, stream: bool) -> Translated:
    """Build the OpenAI chat completions body for a validated Messages request."""
    est = Estimate()
    tool_names: dict[str, str] = {}
    tools = expand_client_tools(body.get("tools") or [])
    known = toolsearch.catalog(tools)
    tools = toolsearch.offered(tools, body["messages"])
    out_tools = [
        function_tool(t, dialect, tool_names, est) for t in tools if isinstance(t, dict) and is_function_tool(t)
    ]
    forward = {v: k for k, v in tool_names.items()}

    system_parts = _system_texts(body.get("system"))
    turns: list[dict[str, Any]] = []
    for msg in body["messages"]:
        if msg["role"] == "system":
            system_parts.extend(_texts(msg["content"]))
        else:
            turns.append(msg)
    messages: list[dict[str, Any]] = []
    for msg in merge_turns(turns):
        role = msg["role"]
        content = msg["content"]
        if role == "assistant":
            messages.append(_assistant(content, dialect, forward, est))
        else:
            messages.extend(_user(content, est, known))
    for text in system_parts:
        est.text(text)
    if system_parts:
        messages.insert(0, {"role": "system", "content": "\n\n".join(system_parts)})
    messages = _pair_tool_results(messages)

    out: dict[str, Any] = {"model": model, "messages": messages}
    max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        out["max_completion_tokens" if dialect.max_completion_tokens else "max_tokens"] = max_tokens
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("top_k") is not None and not dialect.strict:
        out["top_k"] = body["top_k"]
    stops = tuple(body.get("stop_sequences") or ())
    if stops:
        out["stop"] = list(stops[:4]) if dialect.strict else list(stops)
    if out_tools:
        out["tools"] = out_tools
        tool_choice(out, body.get("tool_choice"), dialect, tool_names)
    apply_thinking(out, body, dialect)
    continue_final(out, dialect.name)
    _response_format(out, body, dialect)
    return Translated(out, tool_names, est.tokens(), stops, prefill_of(out, dialect.name))


# -- system ----------------------------------------------------------------------------------


def _system_texts(system: Any) -> list[str]:
    if isinstance(system, str):
        return [system] if system and not system.startswith(BILLING_PREFIX) else []
    texts = []
    for block in system or ():
        if isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text") or ""
            if text and not text.startswith(BILLING_PREFIX):
                texts.append(text)
    return texts


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content] if content else []
    return [b.get("text") or "" for b in content if isinstance(b, dict) and b.get("type") == "text"]


# -- user ------------------------------------------------------------------------------------


def _user(content: Any, est: Estimate, known: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """A user turn: tool results first (as `tool` messages), then the rest as one user message."""
    if isinstance(content, str):
        est.text(content)
        return [{"role": "user", "content": content}]
    tool_msgs: list[dict[str, Any]] = []
    result_images: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            text = block.get("text") or ""
            if text:
                est.text(text)
                parts.append({"type": "text", "text": text})
        elif kind == "image":
            part = _image(block)
            if part:
                est.tokens_add(IMAGE_TOKENS)
                parts.append(part)
        elif kind == "tool_result":
            text, images = _tool_result_content(block.get("content"), known)
            est.text(text)
            if block.get("is_error"):
                text = f"Error: {text}" if text else "Error"
            tool_msgs.append(
                {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text or "(empty result)"}
            )
            if images:
                est.tokens_add(IMAGE_TOKENS * len(images))
                result_images.append({"type": "text", "text": "Images returned by the tool call above:"})
                result_images.extend(images)
        elif kind == "document" or kind == "search_result":
            text = document_text(block) if kind == "document" else search_result_text(block)
            est.text(text)
            parts.append({"type": "text", "text": text})
        # thinking, server tool blocks and unknown types carry nothing an OpenAI engine can use.
    out = tool_msgs
    combined = result_images + parts
    if combined:
        out = out + [{"role": "user", "content": _flatten(combined)}]
    elif not tool_msgs:
        out = [{"role": "user", "content": ""}]
    return out


def _flatten(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Plain text parts become one string (every engine takes that); images keep the parts form."""
    if all(p["type"] == "text" for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return parts


def _tool_result_content(content: Any, known: dict[str, dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    found: list[str] = []  # a run of tool_reference blocks (a ToolSearch result) becomes one <functions> block
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_reference":
            if isinstance(block.get("tool_name"), str):
                found.append(block["tool_name"])
            continue
        if found:
            texts.append(toolsearch.render(found, known))
            found = []
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "image":
            part = _image(block)
            if part:
                images.append(part)
        elif block.get("type") == "document":
            texts.append(document_text(block))
        elif block.get("type") == "search_result":
            texts.append(search_result_text(block))
    if found:
        texts.append(toolsearch.render(found, known))
    return "\n\n".join(t for t in texts if t), images


def _image(block: dict[str, Any]) -> dict[str, Any] | None:
    source = block.get("source") or {}
    if source.get("type") == "base64" and source.get("data"):
        media = source.get("media_type") or "image/png"
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{source['data']}"}}
    if source.get("type") == "url" and source.get("url"):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    return None


# -- assistant -------------------------------------------------------------------------------


def _assistant(content: Any, dialect: Dialect, forward: dict[str, str], est: Estimate) -> dict[str, Any]:
    if isinstance(content, str):
        est.text(content)
        return {"role": "assistant", "content": "" if content == NO_CONTENT else content}
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            text = block.get("text") or ""
            if text and text != NO_CONTENT:
                texts.append(text)
        elif kind == "tool_use":
            calls.append(_tool_call(block, forward, est))
        elif kind == "thinking" and block.get("thinking"):
            thinking.append(block["thinking"])
        # redacted_thinking cannot be replayed to another model; server tool blocks are skipped.
    text = "".join(texts)
    est.text(text)
    msg: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        msg["tool_calls"] = calls
    if thinking and dialect.echo_reasoning:
        msg[dialect.reasoning_field] = "\n\n".join(thinking)
    return msg


def _tool_call(block: ToolUseBlock, forward: dict[str, str], est: Estimate) -> dict[str, Any]:
    name = str(block.get("name") or "")
    raw = block.get("input")
    if isinstance(raw, dict) and set(raw) == {"__unparsedToolInput"}:
        # Claude Code echoes arguments it could not parse; give the model back what it wrote.
        unparsed = raw["__unparsedToolInput"]
        arguments = str(unparsed.get("raw", "")) if isinstance(unparsed, dict) else ""
    else:
        arguments = _ARGUMENTS.encode(raw if raw is not None else {})
    est.text(arguments)
    return {
        "id": str(block.get("id", "")),
        "type": "function",
        "function": {"name": forward.get(name, name), "arguments": arguments},
    }


def _pair_tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every assistant tool call gets exactly one `tool` answer, in call order, right after it.

    Engines reject a history where a call has no result, or a result has no call; both happen
    after Claude Code compacts or the user interrupts a turn.
    """
    if not any(m["role"] == "tool" or "tool_calls" in m for m in messages):
        return messages
    out: list[dict[str, Any]] = []
    i = 0
    n = len(messages)
    while i < n:
        msg = messages[i]
        i += 1
        if msg["role"] == "tool":
            continue  # a result whose call vanished
        out.append(msg)
        calls = msg.get("tool_calls")
        if not calls:
            continue
        results: dict[str, dict[str, Any]] = {}
        while i < n and messages[i]["role"] == "tool":
            results.setdefault(messages[i]["tool_call_id"], messages[i])
            i += 1
        for call in calls:
            out.append(
                results.get(call["id"])
                or {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": "Error: this tool call was interrupted and returned no result",
                }
            )
    return out


# -- thinking and output format ---------------------------------------------------------------


def _response_format(out: dict[str, Any], body: dict[str, Any], dialect: Dialect) -> None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        fmt = body.get("output_format")  # the structured-outputs beta's spelling
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": "output",
                "schema": sanitize(fmt["schema"]) if dialect.sanitize_schema else fmt["schema"],
                "strict": False,
            },
        }


def estimate_tokens(body: dict[str, Any], dialect: Dialect) -> int:
    """An honest token estimate of a Messages request (used when the engine cannot count)."""
    return translate(body, model="-", dialect=dialect, stream=False).prompt_estimate
