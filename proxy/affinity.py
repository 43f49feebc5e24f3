"""Session affinity: the client's session id, passed on to the engine in the header a router hashes on. Pure.

Claude Code names its session in the `X-Claude-Code-Session-Id` header and, inside the body, in the JSON
string `metadata.user_id` (`{"device_id": ..., "session_id": ...}`). A gateway in front of the bridge may
drop the header but keeps the body, so the body is the fallback. Routers in front of replicated engines pin a
session to one replica by a header (vLLM production-stack `--session-key NAME`, SGLang's model gateway
`x-smg-routing-key`, LiteLLM `x-litellm-session-id`, Ray Serve and most gateways `x-session-id`); the
bridge sends the id under the names configured (`--affinity-header`, default `x-session-id`), so every turn
of a session reaches the replica that already holds its prefix in cache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

CLIENT_HEADER = "X-Claude-Code-Session-Id"
DEFAULT_HEADERS = ("x-session-id",)
# What may travel in a header: ids, UUIDs, hashes. Anything else (control characters, long text) is dropped.
_SAFE = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


def header_name_problem(name: str) -> str | None:
    """Why `name` cannot be a header name, or None."""
    if not _HEADER_NAME.fullmatch(name):
        return f"{name!r} is not a valid HTTP header name"
    if name.lower() in ("authorization", "x-api-key", "api-key", "content-type", "content-length", "host"):
        return f"{name!r} is a header the bridge sets itself"
    return None


def session_id(headers: Mapping[str, str], body: dict[str, Any]) -> str | None:
    """The client's session id: Claude Code's header, else `session_id` inside `metadata.user_id`."""
    value = headers.get(CLIENT_HEADER)
    if value and _SAFE.fullmatch(value):
        return value
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user, str) and '"session_id"' in user:
        try:
            parsed = json.loads(user)
        except ValueError:
            return None
        sid = parsed.get("session_id") if isinstance(parsed, dict) else None
        if isinstance(sid, str) and _SAFE.fullmatch(sid):
            return sid
    return None


def engine_headers(base: dict[str, str], names: tuple[str, ...], sid: str | None) -> dict[str, str]:
    """`base` plus the session id under each configured name (`base` itself when there is nothing to add)."""
    if not sid or not names:
        return base
    return {**base, **{name: sid for name in names}}
