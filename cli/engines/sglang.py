"""SGLang: confirm with `GET /server_info` (older: `/get_server_info`). Does network I/O through a Fetcher.

The server-info body lists every server argument, including `api_key` and `admin_api_key` in clear text.
We copy four harmless fields out of it and drop the rest at once: the body is never stored, logged, printed
or returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ccb.cli.engines.facts import EngineFacts
from ccb.cli.engines.reply import Listing, Reply, as_int, as_str, count_tokens_native, listing_status
from ccb.cli.engines.status import EngineStatus, ModelInfo

if TYPE_CHECKING:
    from ccb.cli.engines.http import Fetcher

FACTS = EngineFacts(
    start="start it: `python -m sglang.launch_server --model-path MODEL --tool-call-parser PARSER`",
    window_fix="restart SGLang with `--context-length {n}`",
    tools_fix="restart SGLang with `--tool-call-parser PARSER` (e.g. qwen25, qwen3_coder, llama3, mistral); "
    "without it tool calls come back as plain text",
    reasoning_flag="`--reasoning-parser NAME`",
    direct_ok=True,
    port=30000,
)

# Keys whose presence marks a server-info body; any one suffices next to `version`.
_MARKERS = ("tool_call_parser", "reasoning_parser", "context_length", "model_path", "max_total_num_tokens")


@dataclass(frozen=True)
class ServerFacts:
    """The only parts of /server_info ccb keeps."""

    version: str | None
    tool_call_parser: str | None
    reasoning_parser: str | None
    context_length: int | None


def facts_from(reply: Reply) -> ServerFacts | None:
    """Extract the safe fields, or None when the body is not SGLang's server info."""
    body: dict[str, Any] | None = reply.json_object
    if body is None or "version" not in body or not any(k in body for k in _MARKERS):
        return None
    return ServerFacts(
        version=as_str(body.get("version")),
        tool_call_parser=as_str(body.get("tool_call_parser")),
        reasoning_parser=as_str(body.get("reasoning_parser")),
        context_length=as_int(body.get("context_length")),
    )


async def fetch_facts(fetch: Fetcher) -> ServerFacts | None:
    facts = facts_from(await fetch.get("/server_info"))
    if facts is None:  # renamed route: releases before the rename only answer the old path
        facts = facts_from(await fetch.get("/get_server_info"))
    return facts


def _models(listing: Listing, fallback_ctx: int | None) -> tuple[ModelInfo, ...]:
    # `max_model_len` is the effective window; /server_info's context_length may be null: it only fills gaps.
    return tuple(
        ModelInfo(id=str(e["id"]), context_length=as_int(e.get("max_model_len")) or fallback_ctx, loaded=True)
        for e in listing.entries
    )


async def identify(fetch: Fetcher, listing: Listing, *, facts: ServerFacts | None = None) -> EngineStatus:
    if facts is None:
        facts = await fetch_facts(fetch)
    status, detail = listing_status(listing)
    native = None if listing.needs_key else await count_tokens_native(fetch, listing.first_id)
    tools: bool | None = None
    tools_detail = "server info unavailable, so the tool-call parser is unknown"
    reasoning: bool | None = None
    reasoning_detail = "server info unavailable, so the reasoning parser is unknown"
    if facts is not None:
        if facts.tool_call_parser:
            tools, tools_detail = True, f"tool_call_parser={facts.tool_call_parser}"
        else:
            # Without a parser SGLang answers 200 with the tool syntax as plain text: worse than an error.
            tools, tools_detail = False, "no --tool-call-parser: tool calls would come back as plain text"
        if facts.reasoning_parser:
            reasoning, reasoning_detail = True, f"reasoning_parser={facts.reasoning_parser}"
        else:
            reasoning, reasoning_detail = False, "no --reasoning-parser: thinking stays inline in the text"
    return EngineStatus(
        url=fetch.root,
        status=status,
        kind="sglang",
        version=facts.version if facts else None,
        models=_models(listing, facts.context_length if facts else None),
        native_messages=native,
        tools=tools,
        tools_detail=tools_detail,
        reasoning=reasoning,
        reasoning_detail=reasoning_detail,
        detail=detail,
    )
