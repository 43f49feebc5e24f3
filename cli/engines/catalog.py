"""Where an OpenAI- or Anthropic-style endpoint keeps its model list, and what the list says. No I/O
(`ccb.cli.engines.http` fetches it).

The caller gives a base URL. An OpenAI base (its path holds a version segment such as `/v1` or
`/v1beta/openai`) is asked `GET {base}/models`. Anything else is taken for an Anthropic-style root and
asked `{base}/v1/models`, then `{base}/models`, then the same two on the bare host, because vendors mount
their Anthropic skin under a sub-path while the model list stays at the root.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ccb.cli.engines.others import context_of
from ccb.cli.engines.reply import as_str
from ccb.cli.engines.status import ModelInfo
from ccb.cli.errors import CcbError

_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*(/|$)")


def model_list_urls(base: str) -> list[str]:
    """The URLs to try, in order, for a base URL."""
    text = base.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CcbError(f"not an http(s) URL: {base!r}")
    if _VERSION_SEGMENT.search(parts.path):
        return [text + "/models"]
    urls = [text + "/v1/models", text + "/models"]
    if parts.path not in ("", "/"):
        origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        urls += [origin + "/v1/models", origin + "/models"]
    return urls


def _capabilities(entry: dict[str, Any]) -> tuple[str, ...]:
    caps: list[str] = []
    listed = entry.get("capabilities")  # Ollama-style lists ("tools", "thinking", "vision")
    for cap in listed if isinstance(listed, list) else []:
        name = "tools" if cap == "tool_use" else cap
        if isinstance(name, str) and name not in caps:
            caps.append(name)
    params = entry.get("supported_parameters")  # gateways such as OpenRouter advertise request parameters
    if isinstance(params, list):
        if "tools" in params and "tools" not in caps:
            caps.append("tools")
        if "reasoning" in params and "thinking" not in caps:
            caps.append("thinking")
    return tuple(caps)


def _model(entry: dict[str, Any]) -> ModelInfo | None:
    model_id = as_str(entry.get("id")) or as_str(entry.get("name")) or as_str(entry.get("model"))
    if model_id is None:
        return None
    status = entry.get("status")
    loaded = status.get("value") == "loaded" if isinstance(status, dict) else None
    meta = entry.get("meta")
    trained = meta.get("n_ctx_train") if isinstance(meta, dict) else None
    return ModelInfo(
        id=model_id,
        context_length=context_of(entry),
        loaded=loaded,
        capabilities=_capabilities(entry),
        max_context_length=trained if isinstance(trained, int) and not isinstance(trained, bool) else None,
    )


def parse_model_list(body: Any) -> tuple[list[ModelInfo], str | None] | None:
    """Models and the next-page cursor from an OpenAI, Anthropic, Ollama-style or bare-array list.

    None when the body is none of these.
    """
    if isinstance(body, list):
        entries: Any = body
    elif isinstance(body, dict) and isinstance(body.get("data"), list):
        entries = body["data"]
    elif isinstance(body, dict) and isinstance(body.get("models"), list):
        entries = body["models"]
    else:
        return None
    models = [m for m in (_model(e) for e in entries if isinstance(e, dict)) if m is not None]
    cursor = None
    if isinstance(body, dict) and body.get("has_more") is True:
        cursor = as_str(body.get("last_id"))
    return models, cursor
