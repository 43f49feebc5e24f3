"""Synthetic Claude-Code-sized requests and pre-rendered engine answers for the benchmark. No I/O.

The request imitates the shape Claude Code sends (shared/reference/claude-code.md §4–§6): three
system blocks (billing line, identity line, main prompt), 24 tools with JSON schemas using the
keywords Claude Code's schemas use, a `role:"system"` message, thinking blocks, a tool-use history
with string and list results, `is_error` in its three forms, and `cache_control`. The text itself is
generated from a fixed seed, so every run sends the same bytes.

`claude_code_request()` is ≈76 KB on the wire; `long_context_request()` adds a long tool-use history
(file reads, command output) up to ≈630 KB.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

from tool_schemas import tool_schemas

TOOL_MARKER = "[bench:tool]"  # in a request, asks the fake engine for its tool-call answer
PACE_MARKER = "[bench:paced]"  # in a request, asks the fake engine to pause between chunks, as a model does
ENGINE_MODEL = "bench-model"
CLIENT_MODEL = "bench-model"  # a non-Claude name, as `ccb launch` sets it

_WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "the a to of and in is for that with on as be by this it are or from at use when file tool call "
    "not you your can should will must any each if only one more than before after which into then "
    "also command output path directory repository branch commit test function class module import "
    "return value error result request response user assistant model context window task agent "
    "session prompt line string number array object schema field parameter option default instead "
    "always never unless run read write edit search list create update delete check verify change "
    "code project build install network process timeout background foreground status message text "
    "content block stream token"
).split()
_ODD = ("`git status`", '"quoted"', "→", "—", "é", "`./src/main.py`", "≥", "e.g.", "(see below)", "**note**")


def _text(rng: random.Random, size: int, *, lines: bool = True) -> str:
    """Prose-like filler of about `size` characters: words, punctuation, markdown bullets, some non-ASCII."""
    out: list[str] = []
    n = 0
    while n < size:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 18))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(_ODD))
        sentence = " ".join(words).capitalize() + rng.choice((". ", ". ", ": ", "? "))
        if lines and rng.random() < 0.15:
            sentence = "\n- " + sentence
        elif lines and rng.random() < 0.05:
            sentence = "\n\n" + sentence
        out.append(sentence)
        n += len(sentence)
    return "".join(out)[:size]


def _code(rng: random.Random, size: int) -> str:
    """Something that looks like a numbered file read (`cat -n` style, as Read returns it)."""
    out: list[str] = []
    n = 0
    i = 1
    while n < size:
        indent = "    " * rng.randint(0, 3)
        words = [rng.choice(_WORDS) for _ in range(rng.randint(2, 8))]
        body = rng.choice(
            (
                f"def {words[0]}_{words[-1]}(self, {words[1]}: str) -> None:",
                f'{words[0]} = {words[1]}.{words[-1]}("{" ".join(words[1:])}")',
                f"# {' '.join(words)}",
                f"if {words[0]} is not None and {words[-1]}:",
                f'return {{"{words[0]}": {words[-1]}, "n": {rng.randint(0, 999)}}}',
            )
        )
        line = f"{i:>6}\t{indent}{body}\n"
        out.append(line)
        n += len(line)
        i += 1
    return "".join(out)


# -- tools (schemas in tool_schemas.py) ---------------------------------------------------


def _tools(rng: random.Random) -> list[dict[str, Any]]:
    schemas = tool_schemas()
    # Description sizes: ≈45 KB in all, Workflow ≈18.8 KB, the big few several KB, the rest short.
    sizes = {
        "Workflow": 18800,
        "Agent": 5200,
        "Bash": 4200,
        "TaskCreate": 2400,
        "Read": 1800,
        "Edit": 1300,
        "Write": 1000,
        "WebFetch": 1200,
        "WebSearch": 1100,
        "NotebookEdit": 600,
        "Skill": 900,
    }
    for schema in schemas.values():
        _lengthen(rng, schema)  # Claude Code's property descriptions run to a sentence or two
    return [
        {"name": name, "description": _text(rng, sizes.get(name, 380)), "input_schema": schema}
        for name, schema in schemas.items()
    ]


def _lengthen(rng: random.Random, schema: Any) -> None:
    if isinstance(schema, dict):
        if isinstance(schema.get("description"), str):
            schema["description"] += ". " + _text(rng, 70, lines=False).strip()
        for value in schema.values():
            _lengthen(rng, value)
    elif isinstance(schema, list):
        for value in schema:
            _lengthen(rng, value)


# -- messages ---------------------------------------------------------------------------------


def _tool_id(rng: random.Random) -> str:
    return "toolu_01" + "".join(
        rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789") for _ in range(22)
    )


def _round(rng: random.Random, result_size: int, *, big: bool = False) -> list[dict[str, Any]]:
    """One assistant turn (thinking, text, two tool calls) and the user turn carrying both results."""
    a, b = _tool_id(rng), _tool_id(rng)
    path = f"/home/user/project/src/{rng.choice(_WORDS)}_{rng.choice(_WORDS)}.py"
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": _text(rng, 420), "signature": "ccb"},
            {"type": "text", "text": _text(rng, 160, lines=False)},
            {"type": "tool_use", "id": a, "name": "Read", "input": {"file_path": path}},
            {
                "type": "tool_use",
                "id": b,
                "name": "Bash",
                "input": {
                    "command": f"cd /home/user/project && python -m pytest tests -q -k {rng.choice(_WORDS)}",
                    "description": "Run the matching tests",
                },
            },
        ],
    }
    kind = rng.random()
    second: dict[str, Any]
    if kind < 0.25:
        second = {
            "type": "tool_result",
            "tool_use_id": b,
            "is_error": True,
            "content": "<tool_use_error>Exit code 1\n" + _text(rng, result_size // 4) + "</tool_use_error>",
        }
    elif kind < 0.5:
        second = {
            "type": "tool_result",
            "tool_use_id": b,
            "content": [{"type": "text", "text": _text(rng, result_size // 3)}],
        }
    else:
        second = {
            "tool_use_id": b,
            "type": "tool_result",
            "content": _text(rng, result_size // 3),
            "is_error": False,
        }
    user = {
        "role": "user",
        "content": [
            {
                "tool_use_id": a,
                "type": "tool_result",
                "content": _code(rng, result_size if big else result_size // 2),
            },
            second,
        ],
    }
    return [assistant, user]


def _body(rng: random.Random, rounds: list[list[dict[str, Any]]], prompt: str) -> dict[str, Any]:
    system = [
        {
            "type": "text",
            "text": "x-anthropic-billing-header: cc_version=2.1.197.a3f; cc_entrypoint=sdk-cli;",
        },
        {
            "type": "text",
            "text": "You are Claude Code, a command line tool for software engineering tasks.",
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "text", "text": _text(rng, 5750), "cache_control": {"type": "ephemeral"}},
    ]
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "<system-reminder>\n"
                    + _text(rng, 280, lines=False)
                    + "\nToday's date is 2026-05-14.\n</system-reminder>",
                },
                {"type": "text", "text": prompt},
            ],
        },
        {"role": "system", "content": _text(rng, 6000)},
    ]
    for r in rounds:
        messages.extend(r)
    last = messages[-1]["content"][-1]
    last["cache_control"] = {"type": "ephemeral"}
    return {
        "model": CLIENT_MODEL,
        "messages": messages,
        "system": system,
        "tools": _tools(rng),
        "metadata": {
            "user_id": json.dumps(
                {
                    "device_id": f"{rng.getrandbits(256):064x}",
                    "account_uuid": "",
                    "session_id": "4b1c7c0e-9d43-4f0e-8f7a-2f0c1d3e5a6b",
                }
            )
        },
        "max_tokens": 32000,
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "stream": True,
    }


def claude_code_request(*, stream: bool = True, tool: bool = False, paced: bool = False) -> dict[str, Any]:
    """≈76 KB: a first turn plus two tool rounds (a session a few steps in)."""
    rng = random.Random(76)
    rounds = [_round(rng, 1000) for _ in range(2)]
    body = _body(rng, rounds, "Fix the failing test in tests/test_parser.py and explain the cause.")
    return _finish(body, stream, tool, paced)


def long_context_request(*, stream: bool = True, tool: bool = False, paced: bool = False) -> dict[str, Any]:
    """≈630 KB: the same session after 46 tool rounds of file reads and command output."""
    rng = random.Random(630)
    rounds = [_round(rng, 7800, big=True) for _ in range(46)]
    body = _body(rng, rounds, "Refactor the storage layer so every write goes through one function.")
    return _finish(body, stream, tool, paced)


def _finish(body: dict[str, Any], stream: bool, tool: bool, paced: bool) -> dict[str, Any]:
    if not stream:
        del body["stream"]  # Claude Code's non-streaming fallback leaves the field out
    # Markers go at the end of the last tool result: the fake engine looks for them; the bridge passes
    # them on.
    markers = [m for m, on in ((TOOL_MARKER, tool), (PACE_MARKER, paced)) if on]
    if markers:
        last = body["messages"][-1]["content"][-1]
        if isinstance(last.get("content"), str):
            last["content"] += "\n" + " ".join(markers)
        else:
            body["messages"][-1]["content"].append({"type": "text", "text": " ".join(markers)})
    return body


def encode(body: dict[str, Any]) -> bytes:
    """As a JavaScript client sends it: compact separators, UTF-8 unescaped."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# -- engine answers ---------------------------------------------------------------------------


def _chunk(
    cid: str,
    delta: dict[str, Any] | None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
) -> bytes:
    data: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": ENGINE_MODEL,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        data["usage"] = usage
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def text_stream(n_chunks: int = 200) -> list[bytes]:
    """A role chunk, `n_chunks` content chunks, a finish chunk, a usage chunk and `[DONE]` (vLLM's shape)."""
    rng = random.Random(200)
    cid = "chatcmpl-bench0000000000000000text"
    out = [_chunk(cid, {"role": "assistant", "content": ""})]
    for i in range(n_chunks):
        word = rng.choice(_WORDS)
        out.append(_chunk(cid, {"content": (" " if i else "") + word + ("." if i % 17 == 16 else "")}))
    out.append(_chunk(cid, {}, "stop"))
    out.append(
        _chunk(
            cid,
            None,
            usage={"prompt_tokens": 19012, "completion_tokens": n_chunks, "total_tokens": 19012 + n_chunks},
        )
    )
    out.append(b"data: [DONE]\n\n")
    return out


def tool_stream(n_fragments: int = 170) -> list[bytes]:
    """One Edit call whose arguments arrive in `n_fragments` pieces, as vLLM's tool parsers stream them."""
    rng = random.Random(170)
    cid = "chatcmpl-bench0000000000000000tool"
    args = json.dumps(
        {
            "file_path": "/home/user/project/src/parser.py",
            "old_string": _code(rng, 260),
            "new_string": _code(rng, 300),
        },
        ensure_ascii=False,
    )
    cuts = [len(args) * i // n_fragments for i in range(n_fragments + 1)]
    pieces = [args[a:b] for a, b in itertools.pairwise(cuts)]
    out = [_chunk(cid, {"role": "assistant", "content": ""})]
    out.append(
        _chunk(
            cid,
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "chatcmpl-tool-0b1c2d3e4f5a6b7c",
                        "type": "function",
                        "function": {"name": "Edit", "arguments": ""},
                    }
                ]
            },
        )
    )
    for piece in pieces:
        out.append(_chunk(cid, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    out.append(_chunk(cid, {}, "tool_calls"))
    out.append(
        _chunk(
            cid,
            None,
            usage={
                "prompt_tokens": 19012,
                "completion_tokens": len(pieces),
                "total_tokens": 19012 + len(pieces),
            },
        )
    )
    out.append(b"data: [DONE]\n\n")
    return out


def completion() -> bytes:
    """A ≈450-byte non-streaming chat completion."""
    text = (
        "I found the cause: the parser drops the last token when the input ends without a newline. "
        "The fix appends a sentinel before splitting; the failing test now passes."
    )
    data = {
        "id": "chatcmpl-bench0000000000000000json",
        "object": "chat.completion",
        "created": 1767225600,
        "model": ENGINE_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "tool_calls": []},
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "usage": {"prompt_tokens": 19012, "completion_tokens": 38, "total_tokens": 19050},
    }
    return json.dumps(data, separators=(",", ":")).encode()


if __name__ == "__main__":
    for name, body in (
        ("claude_code_request", claude_code_request()),
        ("long_context_request", long_context_request()),
    ):
        raw = encode(body)
        print(
            f"{name}: {len(raw)} bytes, {len(body['tools'])} tools, {len(body['messages'])} messages, "
            f"tools {len(encode(body['tools']))} B, system {len(encode(body['system']))} B"
        )
    print(
        f"text stream {sum(map(len, text_stream()))} B in {len(text_stream())} events; "
        f"tool stream {len(tool_stream())} events; completion {len(completion())} B"
    )
