"""Tool search for engines that do not implement it. Pure functions, no I/O.

Claude Code (2.1.304 and later, on any base URL) holds most tools back: it sends them with
`defer_loading: true` only once the model has found them with its ToolSearch tool, plus a
`DeferredToolPlaceholder` that must never be called. ToolSearch's result is a list of
`{"type": "tool_reference", "tool_name": …}` blocks, which Anthropic's API expands into the tools'
definitions. An OpenAI engine knows nothing of this, so the bridge does it:

- each `tool_reference` becomes the referenced tool's complete definition as text, in the
  `<functions><function>{…}</function></functions>` block ToolSearch's own description promises;
- a deferred tool is offered to the engine as a function only once a `tool_reference` in the
  conversation names it, after every tool that is not deferred, in the order the conversation first
  named them. Claude Code inserts found tools in alphabetical position instead; keeping the earlier
  tools in place keeps the engine's prompt prefix (and its KV cache) intact across a search
  (docs/tool-search.md has the measurements);
- the placeholder never reaches an engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

PLACEHOLDER = "DeferredToolPlaceholder"
_FUNCTION = json.JSONEncoder(ensure_ascii=False)


def is_deferred(tool: dict[str, Any]) -> bool:
    return tool.get("defer_loading") is True or tool.get("name") == PLACEHOLDER


def referenced(messages: Iterable[Any]) -> list[str]:
    """Tool names named by `tool_reference` blocks in the conversation's tool results, first mention first."""
    names: dict[str, None] = {}
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") != "user" or not isinstance(msg.get("content"), list):
            continue
        for block in msg["content"]:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            inner = block.get("content")
            if not isinstance(inner, list):
                continue
            for ref in inner:
                if isinstance(ref, dict) and ref.get("type") == "tool_reference":
                    name = ref.get("tool_name")
                    if isinstance(name, str) and name:
                        names.setdefault(name, None)
    return list(names)


def offered(tools: list[Any], messages: Iterable[Any]) -> list[dict[str, Any]]:
    """The tools an engine gets: every tool not deferred, in the client's order, then each deferred tool a
    `tool_reference` has named, in the order the conversation named them. Never the placeholder."""
    plain = [t for t in tools if isinstance(t, dict) and not is_deferred(t)]
    if len(plain) == len(tools):
        return plain
    deferred = {
        t.get("name"): t for t in tools if isinstance(t, dict) and is_deferred(t) and t.get("name") != PLACEHOLDER
    }
    if not deferred:
        return plain
    found = [deferred[name] for name in referenced(messages) if name in deferred]
    return plain + found


def catalog(tools: list[Any]) -> dict[str, dict[str, Any]]:
    """Every client tool by name, for expanding references."""
    return {t["name"]: t for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)}


def render(names: list[str], tools: dict[str, dict[str, Any]]) -> str:
    """The text a ToolSearch result becomes: each found tool's definition (description, name, JSON schema)."""
    if not names:
        return ""
    lines = []
    missing = []
    for name in names:
        tool = tools.get(name)
        if tool is None:
            missing.append(name)
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            schema = {"type": "object", "properties": {}}
        elif "$schema" in schema:
            schema = {k: v for k, v in schema.items() if k != "$schema"}
        fn = {"description": tool.get("description") or "", "name": name, "parameters": schema}
        lines.append("<function>" + _FUNCTION.encode(fn) + "</function>")
    text = "<functions>\n" + "\n".join(lines) + "\n</functions>" if lines else ""
    if missing:
        note = "Found but not loaded (no definition was sent): " + ", ".join(missing)
        text = f"{text}\n{note}" if text else note
    return text
