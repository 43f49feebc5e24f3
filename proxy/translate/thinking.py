"""Thinking and effort: how a Messages request's `thinking` and `output_config.effort` reach an engine. No I/O.

Each engine family switches reasoning its own way (engines.md): Ollama by `reasoning_effort`, vLLM,
SGLang and llama.cpp by chat-template kwargs, gpt-oss-style models (any engine) by `reasoning_effort`
with the values low, medium and high. A model that cannot think must get no switch at all: Ollama
answers 400 "does not support thinking" to one. `strip_switch` takes the switch back out of a
translated body for such a model, and `refuses_switch` recognises an engine's refusal of it.
"""

from __future__ import annotations

import re
from typing import Any

from ccb.proxy.config import Dialect

# What each family accepts as reasoning_effort (0.14-era Ollama: only these, else 400).
OLLAMA_EFFORTS = ("none", "low", "medium", "high")
GPT_OSS_EFFORTS = ("low", "medium", "high")
_GPT_OSS = re.compile(r"gpt-oss|gpt_oss|harmony", re.IGNORECASE)
# Fields of the translated body that carry a thinking switch.
SWITCH_FIELDS = ("reasoning_effort", "chat_template_kwargs")
_TEMPLATE_KEYS = ("enable_thinking", "thinking")
_REFUSALS = (
    "does not support thinking",
    "does not support reasoning",
    "thinking is not supported",
    "reasoning is not supported",
    "invalid reasoning",
    "reasoning_effort",
    "reasoning effort",
    "enable_thinking",
    "chat_template_kwargs",
)


def is_gpt_oss(model: str) -> bool:
    """gpt-oss-style models take `reasoning_effort` (low, medium, high) and cannot switch reasoning off."""
    return bool(_GPT_OSS.search(model))


def wanted(body: dict[str, Any]) -> tuple[bool | None, str | None]:
    """(thinking on/off/None for the model's default, the effort asked for or None) of a Messages request."""
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    effort = effort if isinstance(effort, str) else None
    if kind == "disabled":
        return False, effort
    if kind == "enabled":
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        if isinstance(budget, int) and not isinstance(budget, bool):
            if budget <= 0:
                return False, effort
            if effort is None:
                effort = "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
        return True, effort
    return None, effort  # adaptive or absent: the model's own default, effort if one is named


def map_effort(effort: str, accepted: tuple[str, ...]) -> str:
    """An Anthropic effort (low, medium, high, xhigh, max; minimal from older clients) onto `accepted`."""
    if effort in accepted:
        return effort
    if effort in ("minimal", "none"):
        return "low"
    return "high"  # xhigh, max and anything newer: the strongest the engine takes


def apply(out: dict[str, Any], body: dict[str, Any], dialect: Dialect) -> None:
    """Add the engine's thinking switch and effort to the translated body `out` (its `model` is set)."""
    on, effort = wanted(body)
    if on is None and effort is None:
        return
    model = str(out.get("model") or "")
    switch = dialect.thinking_switch
    if is_gpt_oss(model) and dialect.name in ("vllm", "sglang", "lmstudio", "ollama"):
        # gpt-oss always reasons; off is its lowest effort.
        if on is False:
            out["reasoning_effort"] = "low"
        elif effort is not None:
            out["reasoning_effort"] = map_effort(effort, GPT_OSS_EFFORTS)
        return
    if switch == "chat_template_kwargs" and on is not None:
        out["chat_template_kwargs"] = {"enable_thinking": on, "thinking": on}
    elif switch == "reasoning_effort":
        if on is False:
            out["reasoning_effort"] = "none"
        elif effort is not None:
            out["reasoning_effort"] = map_effort(effort, OLLAMA_EFFORTS[1:])


def has_switch(body: dict[str, Any]) -> bool:
    kwargs = body.get("chat_template_kwargs")
    return "reasoning_effort" in body or (isinstance(kwargs, dict) and any(k in kwargs for k in _TEMPLATE_KEYS))


def strip_switch(body: dict[str, Any]) -> bool:
    """Remove the thinking switch from a translated body; True when there was one."""
    found = body.pop("reasoning_effort", None) is not None
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, dict) and any(k in kwargs for k in _TEMPLATE_KEYS):
        found = True
        rest = {k: v for k, v in kwargs.items() if k not in _TEMPLATE_KEYS}
        if rest:
            body["chat_template_kwargs"] = rest
        else:
            del body["chat_template_kwargs"]
    return found


def refuses_switch(status: int, message: str) -> bool:
    """Whether an engine's error says it will not take the thinking switch it was sent."""
    if status not in (400, 422):
        return False
    low = message.lower()
    return any(word in low for word in _REFUSALS)
