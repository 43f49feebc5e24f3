"""Engines without an Anthropic endpoint or a fingerprint of their own: TGI, MLX-LM, generic OpenAI servers.

Does network I/O through a Fetcher (only the generic server gets a count_tokens check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ccb.cli.engines.reply import Listing, Reply, as_int, as_str, count_tokens_native, listing_status
from ccb.cli.engines.status import EngineStatus, ModelInfo

if TYPE_CHECKING:
    from ccb.cli.engines.http import Fetcher

# Fields OpenAI-compatible servers and gateways use for a model's window, most specific first.
CONTEXT_KEYS = ("max_model_len", "context_length", "context_window", "max_context_length", "max_total_tokens")


def context_of(entry: dict[str, Any]) -> int | None:
    for key in CONTEXT_KEYS:
        value = as_int(entry.get(key))
        if value is not None:
            return value
    meta = entry.get("meta")
    return as_int(meta.get("n_ctx")) if isinstance(meta, dict) else None


def generic_models(listing: Listing) -> tuple[ModelInfo, ...]:
    return tuple(ModelInfo(id=str(e["id"]), context_length=context_of(e)) for e in listing.entries)


def is_tgi_info(reply: Reply) -> bool:
    body = reply.json_object
    return body is not None and bool(as_str(body.get("model_id"))) and "max_total_tokens" in body


def tgi(fetch: Fetcher, listing: Listing, info: Reply) -> EngineStatus:
    body = info.json_object or {}
    status, detail = listing_status(listing)
    model = ModelInfo(id=str(body["model_id"]), context_length=as_int(body.get("max_total_tokens")), loaded=True)
    return EngineStatus(
        url=fetch.root,
        status=status,
        kind="tgi",
        version=as_str(body.get("version")),
        models=(model,),
        native_messages=False,  # TGI has no Anthropic endpoint: ccb's bridge is needed
        tools=None,
        tools_detail="TGI constrains tool calls with a grammar; quality depends on the model",
        reasoning=None,
        reasoning_detail="TGI does not separate reasoning",
        detail=detail,
    )


def looks_like_mlx(listing: Listing, health: Reply) -> bool:
    """MLX-LM: `/health` says ok like llama.cpp, but models carry no `owned_by` and there is no `/props`."""
    body = health.json_object
    healthy = body is not None and body.get("status") == "ok"
    return healthy and listing.valid and bool(listing.entries) and listing.owner is None


def mlx(fetch: Fetcher, listing: Listing) -> EngineStatus:
    status, detail = listing_status(listing)
    return EngineStatus(
        url=fetch.root,
        status=status,
        kind="mlx",
        models=generic_models(listing),
        native_messages=False,  # mlx_lm.server has no Anthropic endpoint
        tools=None,
        tools_detail="mlx_lm.server parses tool calls when the model's chat template supports them",
        reasoning=None,
        reasoning_detail="mlx_lm.server reports reasoning in the `reasoning` field for thinking models",
        detail=detail or "MLX-LM or another llama.cpp-like server (/health ok, no /props)",
    )


async def generic(fetch: Fetcher, listing: Listing) -> EngineStatus:
    status, detail = listing_status(listing)
    native = None if listing.needs_key else await count_tokens_native(fetch, listing.first_id)
    return EngineStatus(
        url=fetch.root,
        status=status,
        kind="openai",
        models=generic_models(listing),
        native_messages=native,
        tools=None,
        tools_detail="not observable on an unrecognised OpenAI-compatible server",
        reasoning=None,
        reasoning_detail="not observable on an unrecognised OpenAI-compatible server",
        detail=detail or "OpenAI-compatible model list, engine not recognised",
    )
