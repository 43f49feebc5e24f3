"""What a probe learned about one engine: frozen value types and their JSON form. No I/O.

`EngineStatus.to_dict()` is the documented `ccb probe --json` schema (docs/probe.md): keep its keys stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The status words a probe can report, in the order a user would want to read about them.
STATUSES = ("ok", "needs_key", "loading", "not_engine", "timeout", "refused", "error")

# Engine kinds and how to name them to a person.
KIND_LABELS: dict[str, str] = {
    "ollama": "Ollama",
    "vllm": "vLLM",
    "sglang": "SGLang",
    "llamacpp": "llama.cpp",
    "lmstudio": "LM Studio",
    "tgi": "TGI",
    "mlx": "MLX-LM",
    "openai": "OpenAI-compatible server",
}


@dataclass(frozen=True)
class ModelInfo:
    """One model an engine serves.

    `context_length` is the window the engine will actually use (loaded or effective);
    `max_context_length` is the most the model could be given (trained or configurable maximum), when the
    engine tells. `capabilities` uses Ollama's vocabulary where it can: "tools", "thinking", "vision",
    "completion", "embedding".
    """

    id: str
    context_length: int | None = None
    loaded: bool | None = None
    capabilities: tuple[str, ...] = ()
    max_context_length: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "context_length": self.context_length,
            "max_context_length": self.max_context_length,
            "loaded": self.loaded,
            "capabilities": list(self.capabilities),
        }


@dataclass(frozen=True)
class EngineStatus:
    """The verdict on one candidate URL. Fields other than `url` and `status` are None when unknown."""

    url: str
    status: str
    kind: str | None = None
    version: str | None = None
    models: tuple[ModelInfo, ...] = ()
    native_messages: bool | None = None
    tools: bool | None = None
    tools_detail: str | None = None
    reasoning: bool | None = None
    reasoning_detail: str | None = None
    detail: str = ""

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"

    @property
    def label(self) -> str:
        """A person's name for the engine, e.g. "vLLM 0.11.2"."""
        name = KIND_LABELS.get(self.kind or "", "unknown server")
        return f"{name} {self.version}" if self.version else name

    @property
    def found(self) -> bool:
        """True when something that is (or guards) an inference engine answers here."""
        return self.status in ("ok", "needs_key", "loading")

    @property
    def context_length(self) -> int | None:
        # Prefer what is loaded: that window is the one a request meets. Otherwise the first listed model.
        loaded = [m for m in self.models if m.loaded]
        for model in loaded or list(self.models[:1]):
            if model.context_length is not None:
                return model.context_length
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "openai_base": self.openai_base,
            "status": self.status,
            "kind": self.kind,
            "version": self.version,
            "context_length": self.context_length,
            "models": [m.to_dict() for m in self.models],
            "native_messages": self.native_messages,
            "tools": self.tools,
            "tools_detail": self.tools_detail,
            "reasoning": self.reasoning,
            "reasoning_detail": self.reasoning_detail,
            "detail": self.detail,
        }
