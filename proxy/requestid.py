"""Request ids: every answer carries one (`request-id` header, `request_id` in error bodies) and the
request's log line names it, so a user can match a Claude Code error to the bridge's log. No I/O."""

from __future__ import annotations

import secrets
from contextvars import ContextVar

from ccb.proxy.translate.types import ErrorResponse

HEADER = "request-id"
_CURRENT: ContextVar[str | None] = ContextVar("ccb_request_id", default=None)


def new() -> str:
    return "req_" + secrets.token_hex(12)


def begin() -> str:
    """A fresh id for the request being handled in this task (and the tasks it starts)."""
    rid = new()
    _CURRENT.set(rid)
    return rid


def current() -> str | None:
    return _CURRENT.get()


def stamp(body: ErrorResponse) -> ErrorResponse:
    """An Anthropic error body with the current request's id, as the Messages API sends it."""
    rid = _CURRENT.get()
    return {**body, "request_id": rid} if rid else body
