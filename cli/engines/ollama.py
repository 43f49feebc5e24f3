"""Ollama: confirmed by `GET /api/version`; `/api/ps` and read-only `POST /api/show` add context and caps.

Does network I/O through a Fetcher. `/api/tags` alone proves nothing (SGLang and older llama.cpp builds
mimic it); `/api/version` answering `{"version": "..."}` is the signal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccb.cli.engines.facts import EngineFacts
from ccb.cli.engines.reply import Listing, Reply, as_dict, as_int, as_str, listing_status, parse_version
from ccb.cli.engines.status import EngineStatus, ModelInfo

if TYPE_CHECKING:
    from ccb.cli.engines.http import Fetcher

FACTS = EngineFacts(
    start="start it: `ollama serve`",
    window_fix="restart Ollama with OLLAMA_CONTEXT_LENGTH={n} (`OLLAMA_CONTEXT_LENGTH={n} ollama serve`), or set "
    "`PARAMETER num_ctx {n}` in a Modelfile (its OpenAI endpoint cannot change num_ctx)",
    tools_fix="pick a model with the `tools` capability (`ollama show MODEL` lists them), e.g. qwen3-coder",
    # Its native endpoint drops tool_choice and has no count_tokens: Claude Code goes through the bridge.
    direct_ok=False,
    port=11434,
)

_NATIVE_SINCE = (
    0,
    14,
    0,
)  # first release serving Anthropic /v1/messages (it has no count_tokens route to test)
_SHOW_CONCURRENCY = 8  # /api/show reads model files: keep a large library from flooding the server


def version_from(reply: Reply) -> str | None:
    body = reply.json_object
    return as_str(body.get("version")) if body else None


@dataclass(frozen=True)
class _Shown:
    capabilities: tuple[str, ...] | None  # None: this Ollama predates capabilities (<0.6.4) or /api/show failed
    trained_ctx: int | None


def _shown_from(reply: Reply) -> _Shown:
    body = reply.json_object
    if body is None:
        return _Shown(None, None)
    caps = body.get("capabilities")
    info = as_dict(body.get("model_info"))
    arch = as_str(info.get("general.architecture"))
    trained = as_int(info.get(f"{arch}.context_length")) if arch else None
    if trained is None:  # architecture key missing: any "<arch>.context_length" will do
        trained = next((as_int(v) for k, v in info.items() if k.endswith(".context_length") and as_int(v)), None)
    return _Shown(tuple(str(c) for c in caps) if isinstance(caps, list) else None, trained)


async def _show_all(fetch: Fetcher, names: list[str]) -> list[_Shown]:
    gate = asyncio.Semaphore(_SHOW_CONCURRENCY)

    async def show(name: str) -> _Shown:
        async with gate:
            return _shown_from(await fetch.post("/api/show", {"model": name}))

    return list(await asyncio.gather(*(show(n) for n in names)))


def _names(listing: Listing, tags: Reply | None) -> list[str]:
    if listing.entries:
        return [str(e["id"]) for e in listing.entries]
    body = tags.json_object if tags else None
    models = body.get("models") if body else None
    if not isinstance(models, list):
        return []
    names = (as_str(m.get("name")) or as_str(m.get("model")) for m in models if isinstance(m, dict))
    return [n for n in names if n]


def _loaded(ps: Reply) -> dict[str, int | None]:
    """Loaded model name -> effective context (`context_length` is reported from Ollama 0.10.0)."""
    body = ps.json_object
    loaded: dict[str, int | None] = {}
    for entry in (body.get("models") if body else None) or []:
        if isinstance(entry, dict):
            for key in ("name", "model"):
                if as_str(entry.get(key)):
                    loaded[entry[key]] = as_int(entry.get("context_length"))
    return loaded


def _verdicts(primary: ModelInfo | None, shown: _Shown | None) -> tuple[bool | None, str, bool | None, str]:
    if primary is None or shown is None or shown.capabilities is None:
        unknown = "model capabilities unavailable (/api/show reports them from Ollama 0.6.4)"
        return None, unknown, None, unknown
    caps = shown.capabilities
    if "tools" in caps:
        tools, tools_detail = True, f"{primary.id} has the tools capability"
    else:
        tools, tools_detail = (
            False,
            f"{primary.id} lacks the tools capability: Ollama rejects requests with tools",
        )
    if "thinking" in caps:
        reasoning, reasoning_detail = True, f"{primary.id} can think; thinking is on by default"
    else:
        reasoning, reasoning_detail = False, f"{primary.id} has no thinking capability"
    return tools, tools_detail, reasoning, reasoning_detail


async def identify(fetch: Fetcher, listing: Listing, *, version: str | None) -> EngineStatus:
    need_tags = not listing.entries
    ps, tags = await asyncio.gather(
        fetch.get("/api/ps"), fetch.get("/api/tags") if need_tags else asyncio.sleep(0, result=None)
    )
    names = _names(listing, tags)
    shown = await _show_all(fetch, names)
    loaded = _loaded(ps)
    models: list[ModelInfo] = []
    shown_by_id: dict[str, _Shown] = {}
    for name, info in zip(names, shown, strict=True):
        caps = info.capabilities or ()
        if "embedding" in caps and "completion" not in caps:
            continue  # embedding-only models cannot hold a conversation
        shown_by_id[name] = info
        models.append(ModelInfo(name, loaded.get(name), name in loaded, caps, info.trained_ctx))
    primary = next((m for m in models if m.loaded), models[0] if models else None)
    tools, tools_detail, reasoning, reasoning_detail = _verdicts(
        primary, shown_by_id.get(primary.id) if primary else None
    )
    status, detail = listing_status(listing)
    if models and not loaded:
        # Ollama loads on the first request, with its default num_ctx (OLLAMA_CONTEXT_LENGTH overrides it).
        detail = (detail + "; " if detail else "") + "no model loaded yet: the context is set when one loads"
    parsed = parse_version(version)
    return EngineStatus(
        url=fetch.root,
        status=status,
        kind="ollama",
        version=version,
        models=tuple(models),
        native_messages=(parsed >= _NATIVE_SINCE) if parsed else None,
        tools=tools,
        tools_detail=tools_detail,
        reasoning=reasoning,
        reasoning_detail=reasoning_detail,
        detail=detail,
    )
