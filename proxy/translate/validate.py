"""The checks a Messages request must pass before translation, as strict as Anthropic's API. Pure, no I/O.

A malformed request gets a 400 whose message names the field path and what was expected
(`messages.2.content.0.text: expected a string`), never a silently repaired answer. What is checked:
the type of every top-level field the Messages API defines, every message and the content blocks it
knows (text, image, document, search_result, tool_use, tool_result, thinking, redacted_thinking), tool
definitions, tool_choice, thinking, output formats, and how deep the free-form JSON the bridge forwards
(tool schemas, tool inputs) is nested. Unknown top-level fields and unknown block types pass: newer
clients send them, and the translator leaves them out.
"""

from __future__ import annotations

from typing import Any, NoReturn

try:
    import orjson
except ImportError:  # pragma: no cover - the walk below does the same, only slower
    orjson = None  # type: ignore[assignment]

# Deeper free-form JSON (tool schemas, tool inputs, output schemas) is refused: real ones stay far below.
# The limit is orjson's, so that its C encoder does the check at no cost for every real request.
MAX_DEPTH = 254
ROLES = ("user", "assistant", "system")
TOOL_CHOICES = ("auto", "any", "tool", "none")
THINKING = ("enabled", "disabled", "adaptive")


class RequestError(ValueError):
    """The client's request is malformed; the message names the field."""


def _fail(path: str, expected: str) -> NoReturn:
    raise RequestError(f"{path}: {expected}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(path, "expected an object")
    return value


def _string(obj: dict[str, Any], key: str, path: str, *, required: bool = False, nullable: bool = False) -> None:
    if key not in obj:
        if required:
            _fail(f"{path}.{key}", "field required")
        return
    value = obj[key]
    if value is None and nullable:
        return
    if not isinstance(value, str):
        _fail(f"{path}.{key}", "expected a string")


def _optional(obj: dict[str, Any], key: str, path: str, kind: type, expected: str) -> None:
    value = obj.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        _fail(f"{path}.{key}", expected)


def _depth(value: Any, path: str) -> None:
    """Refuse free-form JSON nested deeper than MAX_DEPTH."""
    if orjson is not None:
        try:
            orjson.dumps(value)
            return
        except orjson.JSONEncodeError as exc:
            if "ecursion" in str(exc):
                _fail(path, f"nested deeper than {MAX_DEPTH} levels")
            # anything else orjson refuses (integers past 64 bits): walk it
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            _fail(path, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))


def validate(body: Any, *, require_max_tokens: bool = True) -> None:
    """Raise RequestError naming the first field a Messages request gets wrong."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    model = body.get("model")
    if "model" not in body:
        _fail("model", "field required")
    if not isinstance(model, str) or not model:
        _fail("model", "expected a non-empty string")
    if "messages" not in body:
        _fail("messages", "field required")
    messages = body["messages"]
    if not isinstance(messages, list):
        _fail("messages", "expected an array of messages")
    if not messages:
        _fail("messages", "expected at least one message")
    for i, msg in enumerate(messages):
        _message(msg, f"messages.{i}")
    if messages and messages[-1]["role"] == "assistant" and _ends_in_space(messages[-1]["content"]):
        _fail(f"messages.{len(messages) - 1}", "final assistant content cannot end with trailing whitespace")
    if require_max_tokens and "max_tokens" not in body:
        _fail("max_tokens", "field required")
    mt = body.get("max_tokens")
    if (mt is not None or require_max_tokens) and (not isinstance(mt, int) or isinstance(mt, bool) or mt < 1):
        _fail("max_tokens", "expected a positive integer")
    _system(body.get("system"))
    _top_level(body)
    tools = body.get("tools")
    if tools is not None:
        _tools(tools)
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"])
    if body.get("thinking") is not None:
        _thinking(body["thinking"])


def _ends_in_space(content: Any) -> bool:
    """A prefill ending in whitespace (the Messages API refuses one: the model would continue oddly)."""
    if isinstance(content, list):
        texts = [b for b in content if b.get("type") == "text"]
        if not texts or texts[-1] is not content[-1]:
            return False
        content = texts[-1].get("text")
    return isinstance(content, str) and content != content.rstrip()


def _top_level(body: dict[str, Any]) -> None:
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        _fail("stream", "expected a boolean")
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None and (not _is_number(value) or not 0 <= value <= 1):
            _fail(key, "expected a number from 0 to 1")
    top_k = body.get("top_k")
    if top_k is not None and (not _is_int(top_k) or top_k < 0):
        _fail("top_k", "expected a non-negative integer")
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list):
            _fail("stop_sequences", "expected an array of strings")
        for i, stop in enumerate(stops):
            if not isinstance(stop, str):
                _fail(f"stop_sequences.{i}", "expected a string")
    metadata = body.get("metadata")
    if metadata is not None:
        _string(_object(metadata, "metadata"), "user_id", "metadata", nullable=True)
    for key in ("service_tier", "inference_geo", "speed"):
        if body.get(key) is not None and not isinstance(body[key], str):
            _fail(key, "expected a string")
    for key in ("context_management", "cache_control"):
        if body.get(key) is not None:
            _object(body[key], key)
    container = body.get("container")
    if container is not None and not isinstance(container, (str, dict)):
        _fail("container", "expected a string or an object")
    servers = body.get("mcp_servers")
    if servers is not None:
        if not isinstance(servers, list):
            _fail("mcp_servers", "expected an array of objects")
        for i, server in enumerate(servers):
            _object(server, f"mcp_servers.{i}")
    config = body.get("output_config")
    if config is not None:
        config = _object(config, "output_config")
        _string(config, "effort", "output_config", nullable=True)
        if config.get("format") is not None:
            _output_format(config["format"], "output_config.format")
    if body.get("output_format") is not None:
        _output_format(body["output_format"], "output_format")


def _output_format(value: Any, path: str) -> None:
    fmt = _object(value, path)
    if fmt.get("type") != "json_schema":
        _fail(f"{path}.type", "expected 'json_schema'")
    if not isinstance(fmt.get("schema"), dict):
        _fail(f"{path}.schema", "expected a JSON schema object")
    _depth(fmt["schema"], f"{path}.schema")


def _system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        _fail("system", "expected a string or an array of text blocks")
    for i, block in enumerate(system):
        path = f"system.{i}"
        block = _object(block, path)
        if block.get("type") != "text":
            _fail(f"{path}.type", "expected 'text'")
        _string(block, "text", path, required=True)


def _message(msg: Any, path: str) -> None:
    msg = _object(msg, path)
    if "role" not in msg:
        _fail(f"{path}.role", "field required")
    if msg["role"] not in ROLES:
        _fail(f"{path}.role", "expected 'user' or 'assistant'")
    if "content" not in msg:
        _fail(f"{path}.content", "field required")
    content = msg["content"]
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        _fail(f"{path}.content", "expected a string or an array of content blocks")
    for j, block in enumerate(content):
        _block(block, f"{path}.content.{j}")


def _block(block: Any, path: str, *, nested: bool = False) -> None:
    block = _object(block, path)
    kind = block.get("type")
    if not isinstance(kind, str):
        _fail(f"{path}.type", "field required (a string naming the block type)")
    if block.get("cache_control") is not None:
        _object(block["cache_control"], f"{path}.cache_control")
    if kind == "text":
        _string(block, "text", path, required=True)
        if block.get("citations") is not None and not isinstance(block["citations"], list):
            _fail(f"{path}.citations", "expected an array")
    elif kind == "image":
        _source(block, path, ("base64", "url", "file"))
    elif kind == "document":
        _source(block, path, ("text", "base64", "url", "content", "file"))
        _string(block, "title", path, nullable=True)
        _string(block, "context", path, nullable=True)
    elif kind == "search_result":
        _string(block, "source", path, required=True)
        _string(block, "title", path, required=True)
        content = block.get("content")
        if not isinstance(content, list):
            _fail(f"{path}.content", "expected an array of text blocks")
        for k, item in enumerate(content):
            item = _object(item, f"{path}.content.{k}")
            if item.get("type") != "text":
                _fail(f"{path}.content.{k}.type", "expected 'text'")
            _string(item, "text", f"{path}.content.{k}", required=True)
    elif kind == "tool_use" and not nested:
        _string(block, "id", path, required=True)
        _string(block, "name", path, required=True)
        if "input" not in block:
            _fail(f"{path}.input", "field required")
        _object(block["input"], f"{path}.input")
        _depth(block["input"], f"{path}.input")
    elif kind == "tool_result" and not nested:
        _string(block, "tool_use_id", path, required=True)
        content = block.get("content")
        if content is not None and not isinstance(content, str):
            if not isinstance(content, list):
                _fail(f"{path}.content", "expected a string or an array of content blocks")
            for k, item in enumerate(content):
                _block(item, f"{path}.content.{k}", nested=True)
        _optional(block, "is_error", path, bool, "expected a boolean")
    elif kind == "thinking":
        _string(block, "thinking", path, required=True)
        _string(block, "signature", path)
    elif kind == "redacted_thinking":
        _string(block, "data", path, required=True)
    # Other types (server tool blocks, container uploads, newer kinds) are left out by the translator.


def _source(block: dict[str, Any], path: str, kinds: tuple[str, ...]) -> None:
    if "source" not in block:
        _fail(f"{path}.source", "field required")
    source = _object(block["source"], f"{path}.source")
    kind = source.get("type")
    where = f"{path}.source"
    if kind not in kinds:
        _fail(f"{where}.type", "expected one of " + ", ".join(f"'{k}'" for k in kinds))
    if kind == "base64":
        _string(source, "media_type", where, required=True)
        _string(source, "data", where, required=True)
    elif kind == "url":
        _string(source, "url", where, required=True)
    elif kind == "file":
        _string(source, "file_id", where, required=True)
    elif kind == "text":
        _string(source, "data", where, required=True)
    elif kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            return
        if not isinstance(content, list):
            _fail(f"{where}.content", "expected a string or an array of content blocks")
        for k, item in enumerate(content):
            _block(item, f"{where}.content.{k}", nested=True)


def _tools(tools: Any) -> None:
    if not isinstance(tools, list):
        _fail("tools", "expected an array of tools")
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        path = f"tools.{i}"
        tool = _object(tool, path)
        if "name" not in tool:
            _fail(f"{path}.name", "field required")
        name = tool["name"]
        if not isinstance(name, str) or not name:
            _fail(f"{path}.name", "expected a non-empty string")
        if name in seen:
            _fail(f"{path}.name", f"tool names must be unique ({name!r} is given twice)")
        seen.add(name)
        kind = tool.get("type")
        if kind is not None and not isinstance(kind, str):
            _fail(f"{path}.type", "expected a string")
        _string(tool, "description", path)
        if kind in (None, "custom"):
            if "input_schema" not in tool:
                _fail(f"{path}.input_schema", "field required")
            schema = _object(tool["input_schema"], f"{path}.input_schema")
            if schema.get("type") != "object":
                _fail(f"{path}.input_schema.type", "expected 'object'")
            _depth(schema, f"{path}.input_schema")
        elif tool.get("input_schema") is not None:
            _depth(_object(tool["input_schema"], f"{path}.input_schema"), f"{path}.input_schema")
        if tool.get("cache_control") is not None:
            _object(tool["cache_control"], f"{path}.cache_control")


def _tool_choice(choice: Any) -> None:
    choice = _object(choice, "tool_choice")
    kind = choice.get("type")
    if kind not in TOOL_CHOICES:
        _fail("tool_choice.type", "expected one of 'auto', 'any', 'tool', 'none'")
    if kind == "tool":
        _string(choice, "name", "tool_choice", required=True)
    _optional(choice, "disable_parallel_tool_use", "tool_choice", bool, "expected a boolean")


def _thinking(thinking: Any) -> None:
    thinking = _object(thinking, "thinking")
    kind = thinking.get("type")
    if kind not in THINKING:
        _fail("thinking.type", "expected one of 'enabled', 'disabled', 'adaptive'")
    budget = thinking.get("budget_tokens")
    if kind == "enabled" and budget is None:
        _fail("thinking.budget_tokens", "field required")
    if budget is not None and not _is_int(budget):
        _fail("thinking.budget_tokens", "expected an integer")
