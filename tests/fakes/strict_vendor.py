"""A native Anthropic endpoint that validates like the strict vendors of 2026 (ecosystem-2026.md §2.1).

It rejects, with a 400 each, exactly what those endpoints were reported to reject from newer Claude Code:
- `anthropic-beta` values it does not know (Kimi and z.ai validate the header; "Invalid request");
- deferred tools and `tool_reference` blocks (tool search: "Deferred custom tools are only supported on
  Anthropic models");
- unknown fields: top-level `safeguards`, `thinking.display` ("Extra inputs are not permitted");
- a tool schema `pattern` its regex engine cannot compile (the Artifact tool: Unicode property escapes and
  lookarounds; "is not a 'regex'").
Everything else goes to the scripted FakeAnthropic behind it. Rejected requests are recorded.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_upstream import FakeAnthropic

KNOWN_BETAS = frozenset(
    {
        "claude-code-20250219",
        "interleaved-thinking-2025-05-14",
        "effort-2025-11-24",
        "token-counting-2024-11-01",
        "fine-grained-tool-streaming-2025-05-14",
        "mid-conversation-system-2026-04-07",
    }
)
_UNSUPPORTED_REGEX = re.compile(r"\\[pP]\{|\(\?<?[=!]")


def _patterns(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        found = [schema["pattern"]] if isinstance(schema.get("pattern"), str) else []
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                found += [p for sub in value.values() for p in _patterns(sub)]
            elif key != "pattern":
                found += _patterns(value)
        return found
    if isinstance(schema, list):
        return [p for s in schema for p in _patterns(s)]
    return []


def problem(body: dict[str, Any], betas: str) -> str | None:
    for beta in filter(None, (b.strip() for b in betas.split(","))):
        if beta not in KNOWN_BETAS:
            return f"Invalid request: unsupported anthropic-beta value '{beta}'"
    if "safeguards" in body:
        return "safeguards: Extra inputs are not permitted"
    if isinstance(body.get("thinking"), dict) and "display" in body["thinking"]:
        return "thinking.display: Extra inputs are not permitted"
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("defer_loading"):
            return f"tools.{i}: Deferred custom tools are only supported on Anthropic models"
        for pattern in _patterns(tool.get("input_schema")):
            try:
                re.compile(pattern)
                bad = bool(_UNSUPPORTED_REGEX.search(pattern))
            except re.error:
                bad = True
            if bad:
                return f"Invalid schema for function '{tool.get('name')}': '{pattern}' is not a 'regex'"
    for msg in body.get("messages") or []:
        for block in msg.get("content") if isinstance(msg.get("content"), list) else ():
            inner = block.get("content") if isinstance(block, dict) else None
            if isinstance(inner, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_reference" for b in inner
            ):
                return "messages: tool_reference blocks are only supported on Anthropic models"
    return None


class StrictVendor(FakeAnthropic):
    def __init__(self, *, key: str | None = None) -> None:
        super().__init__(key=key)
        self.rejected: list[str] = []
        self.app.middlewares.append(self._validate)

    @web.middleware
    async def _validate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "POST" and request.path.startswith("/v1/messages"):
            body = json.loads(await request.read())
            why = problem(body, request.headers.get("anthropic-beta", ""))
            if why:
                self.rejected.append(why)
                return web.json_response(
                    {"type": "error", "error": {"type": "invalid_request_error", "message": why}}, status=400
                )
        return await handler(request)
