"""vLLM: confirm with `GET /version`, context from `/v1/models` `max_model_len`.

Does network I/O through a Fetcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ccb.cli.engines.facts import EngineFacts
from ccb.cli.engines.reply import Listing, Reply, as_int, as_str, count_tokens_native, listing_status, parse_version
from ccb.cli.engines.status import EngineStatus, ModelInfo

if TYPE_CHECKING:
    from ccb.cli.engines.http import Fetcher

FACTS = EngineFacts(
    start="start it: `vllm serve MODEL --max-model-len {n} --enable-auto-tool-choice --tool-call-parser PARSER`",
    window_fix="restart vLLM with `--max-model-len {n}`",
    tools_fix="restart vLLM with `--enable-auto-tool-choice --tool-call-parser PARSER` (e.g. hermes for "
    "Qwen2.5/Qwen3, qwen3_coder for Qwen3-Coder, llama3_json for Llama 3.x, mistral for Mistral)",
    reasoning_flag="`--reasoning-parser NAME`",
    # Its native endpoint folds role:system messages only in recent builds: Claude Code goes through the bridge.
    direct_ok=False,
    port=8000,
)

# `vllm serve` gained /v1/messages around 0.11.1 but count_tokens only around 0.17: in between, a 404 from
# count_tokens does not mean the messages route is missing. Both versions are inferred from merge dates.
_MESSAGES_SINCE = (0, 11, 1)
_COUNT_TOKENS_SINCE = (0, 17)

_TOOLS_UNKNOWN = (
    "vLLM does not expose its tool-call parser over HTTP; tools need --enable-auto-tool-choice --tool-call-parser NAME"
)
_REASONING_UNKNOWN = (
    "vLLM does not expose its reasoning parser over HTTP; "
    "without --reasoning-parser NAME thinking stays inline in the text"
)


def models(listing: Listing) -> tuple[ModelInfo, ...]:
    # Every listed model is resident: vLLM serves what it loaded at start-up. LoRA adapters carry
    # max_model_len null and inherit their parent's window, which we do not guess.
    return tuple(
        ModelInfo(id=str(e["id"]), context_length=as_int(e.get("max_model_len")), loaded=True) for e in listing.entries
    )


def version_of(reply: Reply) -> str | None:
    body = reply.json_object
    return as_str(body.get("version")) if body else None


async def identify(fetch: Fetcher, listing: Listing, *, version_reply: Reply | None = None) -> EngineStatus:
    reply = version_reply if version_reply is not None else await fetch.get("/version")
    version = version_of(reply)
    status, detail = listing_status(listing)
    native: bool | None = None
    if not listing.needs_key:
        native = await count_tokens_native(fetch, listing.first_id)
        parsed = parse_version(version)
        if native is False and parsed and _MESSAGES_SINCE <= parsed < _COUNT_TOKENS_SINCE:
            native = True
    return EngineStatus(
        url=fetch.root,
        status=status,
        kind="vllm",
        version=version,
        models=models(listing),
        native_messages=native,
        tools=None,
        tools_detail=_TOOLS_UNKNOWN,
        reasoning=None,
        reasoning_detail=_REASONING_UNKNOWN,
        detail=detail,
    )
