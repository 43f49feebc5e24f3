"""What an engine answered, as values: `Reply`, `Listing`, and the readers of JSON fields. No I/O of its own.

The engine modules judge these; `count_tokens_native` asks one read-only question through the `Fetcher` it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ccb.cli.engines.http import Fetcher


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, or the reason there was none (`status` 0 and `failure` set)."""

    status: int
    body: Any = None  # parsed JSON; None when the body was empty or not JSON
    failure: str | None = None  # "refused" | "timeout" | "protocol" | "error"
    reason: str = ""  # plain-language explanation of a failure

    @property
    def json_object(self) -> dict[str, Any] | None:
        """The body when it is a JSON object answered with 2xx and not an error envelope, else None.

        LM Studio answers unknown routes with 200 and `{"error": "..."}`: the status alone proves nothing.
        """
        if 200 <= self.status < 300 and isinstance(self.body, dict) and "error" not in self.body:
            return self.body
        return None


def as_int(value: Any) -> int | None:
    """A positive integer from JSON, or None (bools are ints in Python but never a context length)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def as_dict(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else an empty one: lets nested lookups skip type checks."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """ "0.14.3", "v0.5.9rc1", "0.11.1-dev" -> (0, 14, 3) ... ; None when no leading number."""
    if not text:
        return None
    parts: list[int] = []
    for piece in text.lstrip("vV").split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):  # "3rc1", "1-dev": the suffix ends the numeric part
            break
    return tuple(parts) or None


@dataclass(frozen=True)
class Listing:
    """The answer to `GET /v1/models`, reduced to what identification needs."""

    status: int
    entries: tuple[dict[str, Any], ...] = ()
    valid: bool = False  # an OpenAI-style `{"data": [...]}` list came back
    needs_key: bool = False  # 401/403: the engine wants a key for /v1/*

    @property
    def owner(self) -> str | None:
        for entry in self.entries:
            owner = as_str(entry.get("owned_by"))
            if owner:
                return owner
        return None

    @property
    def first_id(self) -> str | None:
        return next((as_str(e.get("id")) for e in self.entries if as_str(e.get("id"))), None)

    @classmethod
    def from_reply(cls, reply: Reply) -> Listing:
        if reply.status in (401, 403):
            return cls(reply.status, needs_key=True)
        body = reply.json_object
        data = body.get("data") if body else None
        if not isinstance(data, list):
            return cls(reply.status)
        entries = tuple(e for e in data if isinstance(e, dict) and as_str(e.get("id")))
        return cls(reply.status, entries, valid=True)


async def count_tokens_native(fetch: Fetcher, model: str | None) -> bool | None:
    """Whether the engine serves Anthropic `/v1/messages`, judged by its read-only count_tokens route.

    True: 200 with an integer `input_tokens`, or an Anthropic-shaped error (the route exists).
    False: 404/405, or a 200 carrying `error` (LM Studio's answer to unknown routes). None: cannot tell.
    """
    payload = {"model": model or "probe", "messages": [{"role": "user", "content": "hi"}]}
    reply = await fetch.post("/v1/messages/count_tokens", payload)
    body = reply.body if isinstance(reply.body, dict) else {}
    if reply.status == 200:
        if "error" in body:
            return False
        tokens = body.get("input_tokens")
        return isinstance(tokens, int) and not isinstance(tokens, bool)
    if reply.status in (404, 405):
        return False
    if reply.status == 400 and body.get("type") == "error":
        return True
    return None


NEEDS_KEY_DETAIL = "/v1/models answered 401/403: this server wants an API key (pass it with --api-key-env VAR)"


def listing_status(listing: Listing) -> tuple[str, str]:
    """The status word and detail for an identified engine, given how its model list answered."""
    if listing.needs_key:
        return "needs_key", NEEDS_KEY_DETAIL
    return "ok", ""
