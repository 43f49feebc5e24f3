"""llama.cpp `llama-server`: confirm with `GET /props`; spot its "Loading model" 503.

Does network I/O through a Fetcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccb.cli.engines.facts import EngineFacts
from ccb.cli.engines.reply import Listing, Reply, as_dict, as_int, as_str, count_tokens_native, listing_status
from ccb.cli.engines.status import EngineStatus, ModelInfo

if TYPE_CHECKING:
    from ccb.cli.engines.http import Fetcher

FACTS = EngineFacts(
    start="start it: `llama-server -m MODEL.gguf -c {n} -np 1`",
    window_fix="restart llama-server with `-c {n} -np 1` (the window is per slot: -c divided by -np)",
    tools_fix="use a recent llama-server (jinja templates are on by default) or add `--jinja`; if the model's "
    "template has no tool support, pass one with `--chat-template-file`",
    reasoning_flag="`--reasoning-format auto`",
    direct_ok=True,
    port=8080,
)

LOADING_DETAIL = 'llama.cpp is still loading its model (every route answers 503 "Loading model"); try again shortly'

# reasoning_format values that split thinking into `reasoning_content` instead of leaving <think> in the text.
_SEPARATING_FORMATS = frozenset({"auto", "deepseek", "deepseek-legacy"})


def is_loading(reply: Reply) -> bool:
    """llama.cpp's 503 while the model loads: `{"error": {"code": 503, "message": "Loading model", ...}}`."""
    if reply.status != 503 or not isinstance(reply.body, dict):
        return False
    error = reply.body.get("error")
    return isinstance(error, dict) and "loading model" in str(error.get("message", "")).lower()


@dataclass(frozen=True)
class Props:
    build_info: str | None
    n_ctx: int | None
    supports_tools: bool | None
    tool_use_template: bool
    reasoning_format: str | None
    sleeping: bool


def props_from(reply: Reply) -> Props | None:
    body = reply.json_object
    if body is None or not ("build_info" in body or "default_generation_settings" in body):
        return None
    settings = as_dict(body.get("default_generation_settings"))
    params = as_dict(settings.get("params"))
    supports = as_dict(body.get("chat_template_caps")).get("supports_tools")
    return Props(
        build_info=as_str(body.get("build_info")),
        n_ctx=as_int(settings.get("n_ctx")),
        supports_tools=supports if isinstance(supports, bool) else None,
        tool_use_template=bool(as_str(body.get("chat_template_tool_use"))),
        reasoning_format=as_str(params.get("reasoning_format")),
        sleeping=body.get("is_sleeping") is True,
    )


def _models(listing: Listing, props: Props | None) -> tuple[ModelInfo, ...]:
    found: list[ModelInfo] = []
    single = len(listing.entries) == 1
    for entry in listing.entries:
        meta = as_dict(entry.get("meta"))
        state = entry.get("status")
        # Router mode (no -m) lists every model with a status object; otherwise the one model is loaded.
        loaded = state.get("value") == "loaded" if isinstance(state, dict) else True
        ctx = as_int(meta.get("n_ctx"))
        if ctx is None and single and props is not None:
            ctx = props.n_ctx
        found.append(
            ModelInfo(
                id=str(entry["id"]),
                context_length=ctx,
                loaded=loaded,
                max_context_length=as_int(meta.get("n_ctx_train")),
            )
        )
    return tuple(found)


def _tools(props: Props | None) -> tuple[bool | None, str]:
    if props is None:
        return None, "/props unavailable, so the chat template's tool support is unknown"
    if props.supports_tools is True:
        return True, "chat template supports tools"
    if props.supports_tools is False:
        if props.tool_use_template:
            return True, "tool-use chat template present"
        return False, "chat template has no tool support: tool definitions are dropped from the prompt"
    if props.tool_use_template:
        return True, "tool-use chat template present"
    return None, "chat template capabilities not reported (older builds need --jinja for tools)"


def _reasoning(props: Props | None) -> tuple[bool | None, str]:
    fmt = props.reasoning_format if props else None
    if fmt is None:
        return None, "reasoning format not reported"
    if fmt in _SEPARATING_FORMATS:
        return True, f"reasoning_format={fmt}: thinking arrives as reasoning_content"
    if fmt == "none":
        return False, "reasoning_format=none: thinking stays inline as <think> text"
    return None, f"reasoning_format={fmt}"


async def identify(fetch: Fetcher, listing: Listing, *, props_reply: Reply | None = None) -> EngineStatus:
    props = props_from(props_reply if props_reply is not None else await fetch.get("/props"))
    status, detail = listing_status(listing)
    if props is not None and props.sleeping:
        detail = (detail + "; " if detail else "") + "the model is asleep and reloads on the next request"
    native = None if listing.needs_key else await count_tokens_native(fetch, listing.first_id)
    tools, tools_detail = _tools(props)
    reasoning, reasoning_detail = _reasoning(props)
    return EngineStatus(
        url=fetch.root,
        status=status,
        kind="llamacpp",
        version=props.build_info if props else None,
        models=_models(listing, props),
        native_messages=native,
        tools=tools,
        tools_detail=tools_detail,
        reasoning=reasoning,
        reasoning_detail=reasoning_detail,
        detail=detail,
    )
