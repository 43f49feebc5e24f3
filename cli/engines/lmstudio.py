"""LM Studio: confirm with `GET /lmstudio-greeting`, models from `/api/v0/models` and `/api/v1/models`.

Does network I/O through a Fetcher. LM Studio answers unknown routes with HTTP 200 and `{"error": "Unexpected
endpoint or method. (GET /x)"}`, so every check here reads the body shape, never the status alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ccb.cli.engines.facts import EngineFacts
from ccb.cli.engines.reply import Listing, Reply, as_dict, as_int, as_str, listing_status
from ccb.cli.engines.status import EngineStatus, ModelInfo

if TYPE_CHECKING:
    from ccb.cli.engines.http import Fetcher

FACTS = EngineFacts(
    start="start LM Studio's server (`lms server start`) and load a model",
    window_fix="reload the model with a larger window: `lms load MODEL --context-length {n}`",
    tools_fix="load a model LM Studio marks as trained for tool use",
    direct_ok=True,
    port=1234,
)

# Embedding models cannot hold a conversation; listing them next to chat models would only mislead.
_EMBEDDING_TYPES = frozenset({"embedding", "embeddings"})


def is_greeting(reply: Reply) -> bool:
    body = reply.json_object
    return body is not None and body.get("lmstudio") is True


@dataclass
class _Draft:
    """Mutable while merging the two model lists; frozen into a ModelInfo at the end."""

    id: str
    context_length: int | None = None
    max_context_length: int | None = None
    loaded: bool | None = None
    caps: list[str] = field(default_factory=list)
    reasoning: dict[str, Any] | None = None
    described_by_v1: bool = False

    def add_cap(self, cap: str) -> None:
        if cap not in self.caps:
            self.caps.append(cap)

    def freeze(self) -> ModelInfo:
        return ModelInfo(self.id, self.context_length, self.loaded, tuple(self.caps), self.max_context_length)


def _merge_v0(drafts: dict[str, _Draft], body: dict[str, Any]) -> None:
    for entry in body.get("data") or []:
        if not isinstance(entry, dict) or not as_str(entry.get("id")) or entry.get("type") in _EMBEDDING_TYPES:
            continue
        draft = drafts.setdefault(entry["id"], _Draft(entry["id"]))
        draft.loaded = entry.get("state") == "loaded"
        # A model that is not loaded will get LM Studio's small default window on JIT load, not its maximum,
        # so only a loaded model has a known effective context.
        if draft.loaded:
            draft.context_length = as_int(entry.get("loaded_context_length"))
        draft.max_context_length = as_int(entry.get("max_context_length"))
        for cap in entry.get("capabilities") or []:
            draft.add_cap("tools" if cap == "tool_use" else str(cap))
        if entry.get("type") == "vlm":
            draft.add_cap("vision")


def _merge_v1(drafts: dict[str, _Draft], body: dict[str, Any], listed_only: bool) -> None:
    for entry in body.get("models") or []:
        if not isinstance(entry, dict) or not as_str(entry.get("key")) or entry.get("type") in _EMBEDDING_TYPES:
            continue
        if listed_only and entry["key"] not in drafts:
            continue
        draft = drafts.setdefault(entry["key"], _Draft(entry["key"]))
        draft.described_by_v1 = True
        draft.max_context_length = draft.max_context_length or as_int(entry.get("max_context_length"))
        instances = [i for i in entry.get("loaded_instances") or [] if isinstance(i, dict)]
        if instances:
            draft.loaded = True
            config = instances[0].get("config")
            if draft.context_length is None and isinstance(config, dict):
                draft.context_length = as_int(config.get("context_length"))
        elif draft.loaded is None:
            draft.loaded = False
        caps = as_dict(entry.get("capabilities"))
        if caps.get("trained_for_tool_use") is True:
            draft.add_cap("tools")
        if caps.get("vision") is True:
            draft.add_cap("vision")
        if isinstance(caps.get("reasoning"), dict):
            draft.reasoning = caps["reasoning"]
            draft.add_cap("thinking")


def _primary(drafts: list[_Draft]) -> _Draft | None:
    return next((d for d in drafts if d.loaded), drafts[0] if drafts else None)


def _tools(primary: _Draft | None, described: bool) -> tuple[bool | None, str]:
    if primary is None or not described:
        return None, "model capabilities not reported"
    if "tools" in primary.caps:
        return True, f"{primary.id} is trained for tool use"
    return (
        None,
        f"{primary.id} is not marked as trained for tool use; LM Studio falls back to a generic tool prompt",
    )


def _reasoning(primary: _Draft | None) -> tuple[bool | None, str]:
    if primary is None or not primary.described_by_v1:
        return None, "reasoning capability not reported (needs LM Studio 0.4 or later)"
    if primary.reasoning is None:
        return False, f"{primary.id} has no reasoning capability"
    options = [str(o) for o in primary.reasoning.get("allowed_options") or []]
    return True, ("reasoning options: " + ", ".join(options)) if options else "reasoning supported"


async def identify(fetch: Fetcher, listing: Listing, *, greeted: bool = False) -> EngineStatus | None:
    """LM Studio's status, or None when the greeting does not match (then it is not LM Studio)."""
    if not greeted and not is_greeting(await fetch.get("/lmstudio-greeting")):
        return None
    v0, v1 = await asyncio.gather(fetch.get("/api/v0/models"), fetch.get("/api/v1/models"))
    drafts: dict[str, _Draft] = {}
    v0_body, v1_body = v0.json_object, v1.json_object
    if v0_body is not None:
        _merge_v0(drafts, v0_body)
    if v1_body is not None and isinstance(v1_body.get("models"), list):
        # v0 lists what /v1/models serves; only fall back to v1's own list when v0 is missing.
        _merge_v1(drafts, v1_body, listed_only=bool(drafts))
    if not drafts:
        for entry in listing.entries:
            drafts[str(entry["id"])] = _Draft(str(entry["id"]))
    # /api/v1/models exists from 0.4.0 and /v1/messages from 0.4.1; a JSON answer (or a demand for the token)
    # means the new API is there. An old LM Studio answers it with its 200-with-error body.
    has_v1 = v1_body is not None or v1.status in (401, 403)
    ordered = list(drafts.values())
    primary = _primary(ordered)
    tools, tools_detail = _tools(primary, v0_body is not None or v1_body is not None)
    reasoning, reasoning_detail = _reasoning(primary)
    status, detail = listing_status(listing)
    if not has_v1:
        detail = (detail + "; " if detail else "") + "no /api/v1 (LM Studio older than 0.4): no native /v1/messages"
    return EngineStatus(
        url=fetch.root,
        status=status,
        kind="lmstudio",
        version=None,  # LM Studio publishes no version route
        models=tuple(d.freeze() for d in ordered),
        native_messages=has_v1,
        tools=tools,
        tools_detail=tools_detail,
        reasoning=reasoning,
        reasoning_detail=reasoning_detail,
        detail=detail,
    )
