"""JSON on the bridge's hot path: orjson when it is installed, the standard library otherwise. No I/O.

Parsing the client's body, serialising the engine's body and parsing each streamed chunk are most of
the bridge's CPU (docs/benchmarks.md); orjson does them in about half the time. What orjson refuses
(lone UTF-16 surrogates, integers beyond 64 bits) falls back to the standard library, which takes them.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - the fallback keeps every behaviour, only slower
    orjson = None  # type: ignore[assignment]


MAX_NESTING = 1024  # orjson's limit; the standard library's is Python's recursion limit, a little lower


class TooDeep(ValueError):
    """JSON nested beyond what the bridge parses."""


def parse(data: bytes | str) -> tuple[Any, bool]:
    """(value, True when the standard library had to parse it: only then can lone surrogates be in it)."""
    if orjson is not None:
        try:
            return orjson.loads(data), False
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc):
                raise TooDeep(f"JSON nested deeper than {MAX_NESTING} levels") from None
            # invalid JSON gets the standard library's message; odd-but-valid JSON gets parsed
    try:
        return json.loads(data), True
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {MAX_NESTING} levels") from None


def loads(data: bytes | str) -> Any:
    return parse(data)[0]


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON. The fallback escapes non-ASCII (faster than building a wide string to encode)."""
    if orjson is not None:
        try:
            return orjson.dumps(value)
        except TypeError:
            pass
    return json.dumps(value, separators=(",", ":")).encode()
