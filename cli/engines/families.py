"""The engine families ccb knows by kind, each with its own module in `ccb.cli.engines`. No I/O.

An engine module holds everything ccb knows about its engine: the probe that recognises it and judges what it
can do, and its `FACTS` (how to start it, widen its window, turn tool calling on). Importing this module
imports the engine modules but not httpx: their network I/O goes through the `Fetcher` a probe hands them.
"""

from __future__ import annotations

from ccb.cli.engines import llamacpp, lmstudio, ollama, sglang, vllm
from ccb.cli.engines.facts import GENERIC, EngineFacts

# Kinds with a module (and a preset) of their own, in the order `ccb probe` looks at their default ports.
FAMILIES: dict[str, EngineFacts] = {
    "ollama": ollama.FACTS,
    "lmstudio": lmstudio.FACTS,
    "vllm": vllm.FACTS,
    "sglang": sglang.FACTS,
    "llamacpp": llamacpp.FACTS,
}


def facts_for(kind: str | None) -> EngineFacts:
    """The facts of an engine kind; a generic OpenAI-compatible server's for any other kind or None."""
    return FAMILIES.get(kind or "", GENERIC)
