"""Anthropic-shaped answers to requests aiohttp rejects before any handler runs. Does network I/O.

A request line or header over 8190 bytes, too many headers, or broken framing is refused by aiohttp's
parser, which answers in plain text ("400 Bad Request ... Got more than 8190 bytes") outside the app and
its middleware. Claude Code and the anthropic SDK then show a bare status. `BridgeRunner` makes every
such answer the bridge's usual JSON error (`{"type": "error", "error": {"type": "invalid_request_error",
"message": ...}}`), with a message saying what was too large.
"""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from ccb.proxy.net import printable
from ccb.proxy.translate.errors import error_for

MESSAGE_MAX = 300


def describe(status: int, exc: BaseException | None, max_headers: int) -> str:
    """What the client did wrong, in words (never the whole offending line: it may be megabytes)."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else "the limit of"
        return (
            f"request line or header too large: one line is over {limit} bytes (the bridge's limit per "
            "line); send large values in the body"
        )
    if isinstance(exc, HttpProcessingError):
        detail = printable(str(exc.message))[:MESSAGE_MAX]
        if "too many headers" in detail.lower():
            return f"too many request headers: the bridge accepts up to {max_headers} per request"
        return f"malformed HTTP request: {detail}"
    if status >= 500:
        return "the bridge could not handle this request"
    return "malformed HTTP request"


class _Handler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        plain = super().handle_error(request, status, exc, message)  # logs it; refuses after a partial answer
        answer = web.Response(
            status=plain.status,
            body=json.dumps(error_for(plain.status, describe(plain.status, exc, self.max_headers))).encode(),
            content_type="application/json",
        )
        answer.force_close()  # the rest of what arrived cannot be trusted to frame a next request
        return answer


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Handler(self, loop=self._loop, **self._kwargs)


class BridgeRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer parser-level errors with Anthropic JSON."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The server aiohttp built for the app, with only the per-connection protocol class changed.
        server.__class__ = _Server
        return server
