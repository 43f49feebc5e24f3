"""Tool definitions and tool_choice for OpenAI engines: names, schemas, sanitising. Pure, no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ccb.proxy.config import Dialect
from ccb.proxy.translate.estimate import Estimate

try:
    import orjson
except ImportError:  # pragma: no cover - without it every schema is converted on every request
    orjson = None  # type: ignore[assignment]

MAX_TOOL_NAME = 64
# Built once; sizing skips the circular-reference check: a parsed request cannot hold a cycle.
_SIZER = json.JSONEncoder(check_circular=False)
# Converted schemas by (sanitised?, the client's schema as JSON): Claude Code sends the same tools with every
# request, so each distinct schema is converted and sized once. The oldest entries go first once the keys pass
# MEMO_BYTES (about 300 of Claude Code's schemas).
_CONVERTED: dict[tuple[bool, bytes], tuple[dict[str, Any], int]] = {}
MEMO_BYTES = 1 << 20
_memo_bytes = 0

# JSON-schema keywords that strict backends (Gemini above all) reject.
_STRIP_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "$ref",
        "$defs",
        "definitions",
        "format",
        "propertyNames",
        "patternProperties",
        "additionalProperties",
        "default",
        "pattern",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "const",
        "examples",
        "oneOf",
        "allOf",
    }
)


def is_function_tool(tool: dict[str, Any]) -> bool:
    # Server tools (web_search_20250305, …) have a versioned `type` and no schema.
    kind = tool.get("type")
    return kind in (None, "custom") or "input_schema" in tool


def function_tool(tool: dict[str, Any], dialect: Dialect, names: dict[str, str], est: Estimate) -> dict[str, Any]:
    """An Anthropic tool as an OpenAI function; names over 64 characters are shortened (and recorded)."""
    name = tool["name"]
    if len(name) > MAX_TOOL_NAME:
        short = name[: MAX_TOOL_NAME - 9] + "_" + hashlib.sha1(name.encode()).hexdigest()[:8]
        names[short] = name
        name = short
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        schema = {"type": "object", "properties": {}}
    schema, size = engine_schema(schema, dialect.sanitize_schema)
    est.chars(size)
    fn: dict[str, Any] = {"name": name, "parameters": schema}
    description = tool.get("description")
    if description:
        fn["description"] = description
        est.text(description)
    return {"type": "function", "function": fn}


def engine_schema(schema: dict[str, Any], sanitized: bool) -> tuple[dict[str, Any], int]:
    """The schema the engine gets (sanitised for strict backends, else portable) and its length as JSON, for
    the token estimate. The result may be shared with other requests: it must not be changed."""
    key = None
    if orjson is not None:
        try:
            key = (sanitized, orjson.dumps(schema))
        except TypeError:  # integers past 64 bits: converted every time
            pass
        else:
            found = _CONVERTED.get(key)
            if found is not None:
                return found
    if sanitized:
        converted = sanitize(schema)
    else:
        converted = portable(schema)
        converted.pop("$schema", None)
    result = converted, len(_SIZER.encode(converted))
    if key is not None and len(key[1]) <= MEMO_BYTES // 16:
        _remember(key, result)
    return result


def _remember(key: tuple[bool, bytes], result: tuple[dict[str, Any], int]) -> None:
    global _memo_bytes
    _memo_bytes += len(key[1])
    _CONVERTED[key] = result
    while _memo_bytes > MEMO_BYTES:
        oldest = next(iter(_CONVERTED))
        del _CONVERTED[oldest]
        _memo_bytes -= len(oldest[1])


# Regex features outside the common subset (ECMA-262 without flags, Python `re`, RE2): Unicode property
# escapes, lookaround, named groups, backreferences, atomic groups. OpenAI, DeepSeek and GLM
# answer 400 "... is not a 'regex'" to a tool schema holding one (Claude Code's Artifact tool, 2.1.265).
_NON_PORTABLE = re.compile(r"\\[pPk]|\(\?[=!<>P]|\\[1-9]")


def portable_pattern(pattern: Any) -> bool:
    if not isinstance(pattern, str) or _NON_PORTABLE.search(pattern):
        return False
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


def portable(schema: Any) -> Any:
    """A schema every OpenAI-style validator takes: `allOf` members folded into their parent (a key the
    parent already has is kept from the parent), regex `pattern`s outside the common subset dropped.
    Everything else stays; walks schemas structurally, so a property may be named `pattern`."""
    if isinstance(schema, list):
        return [portable(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "pattern":
            if portable_pattern(value):
                out[key] = value
        elif key == "allOf":
            continue
        elif key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: portable(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "not", "additionalProperties", "prefixItems", "contains"):
            out[key] = portable(value)
        else:
            out[key] = value
    for member in schema.get("allOf") or () if isinstance(schema.get("allOf"), list) else ():
        for key, value in (portable(member) if isinstance(member, dict) else {}).items():
            out.setdefault(key, value)
    return out


def sanitize(schema: Any) -> Any:
    """Strip keywords strict backends reject, walking schemas structurally (a property may be named `format`)."""
    if isinstance(schema, list):
        return [sanitize(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _STRIP_KEYWORDS:
            if key == "const" and "enum" not in schema:
                out["enum"] = [value]
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: sanitize(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "not"):
            out[key] = sanitize(value)
        else:
            out[key] = value
    return out


def tool_choice(out: dict[str, Any], choice: Any, dialect: Dialect, names: dict[str, str]) -> None:
    if not isinstance(choice, dict) or dialect.tool_choice == "omit":
        return
    kind = choice.get("type")
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        wanted = str(choice.get("name", ""))
        wanted = next((short for short, full in names.items() if full == wanted), wanted)
        if dialect.tool_choice == "named":
            out["tool_choice"] = {"type": "function", "function": {"name": wanted}}
        else:
            # String-only engines: require a call and offer only the named tool.
            out["tool_choice"] = "required"
            out["tools"] = [t for t in out["tools"] if t["function"]["name"] == wanted] or out["tools"]
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False
