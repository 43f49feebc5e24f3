"""What a bridge needs to know about its upstream: URL, key, model mapping, window, dialect. No I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ccb.proxy.net import root_url

# How the upstream expects its key.
AUTH_STYLES = ("bearer", "x-api-key", "api-key", "none")

# Quirk flags a profile or preset may set; each adjusts the dialect (see Dialect.with_quirks).
QUIRKS = {
    "strict_fields": "rejects unknown top-level fields: send only standard OpenAI fields",
    "echo_reasoning_content": "needs assistant reasoning sent back as reasoning_content on tool-call turns",
    "sanitize_schema": "rejects JSON-schema features such as $schema, format, propertyNames, additionalProperties",
    "no_tool_choice": "does not implement tool_choice: omit it",
    "tool_choice_required_only": "tool_choice takes only strings: a named tool becomes required with that tool alone",
    "max_completion_tokens": "wants max_completion_tokens instead of max_tokens",
    "normalize_tool_ids": "tool-call ids must match ^[a-zA-Z0-9_-]+$; rewrite others",
    "no_reasoning_switch": "has no per-request thinking switch: send none",
}


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one engine family speaks OpenAI chat completions."""

    name: str = "openai"
    # Field carrying reasoning in assistant history sent upstream ("reasoning" or "reasoning_content").
    reasoning_field: str = "reasoning_content"
    # "named" (object form), "required" (strings only), "omit" (never send tool_choice).
    tool_choice: str = "named"
    # "chat_template_kwargs", "reasoning_effort", or "none": how thinking on/off is requested.
    thinking_switch: str = "none"
    # Send only standard fields (no top_k, no chat_template_kwargs).
    strict: bool = False
    sanitize_schema: bool = False
    normalize_tool_ids: bool = False
    max_completion_tokens: bool = False
    echo_reasoning: bool = True

    def with_quirks(self, quirks: frozenset[str] | set[str] | tuple[str, ...]) -> Dialect:
        d = self
        for q in quirks:
            if q == "strict_fields":
                d = replace(d, strict=True)
            elif q == "echo_reasoning_content":
                d = replace(d, reasoning_field="reasoning_content", echo_reasoning=True)
            elif q == "sanitize_schema":
                d = replace(d, sanitize_schema=True)
            elif q == "no_tool_choice":
                d = replace(d, tool_choice="omit")
            elif q == "tool_choice_required_only":
                d = replace(d, tool_choice="required")
            elif q == "max_completion_tokens":
                d = replace(d, max_completion_tokens=True)
            elif q == "normalize_tool_ids":
                d = replace(d, normalize_tool_ids=True)
            elif q == "no_reasoning_switch":
                d = replace(d, thinking_switch="none")
            else:
                raise ValueError(f"unknown quirk {q!r}; known: {', '.join(sorted(QUIRKS))}")
        return d


DIALECTS: dict[str, Dialect] = {
    "openai": Dialect(name="openai", strict=True, thinking_switch="none"),
    "ollama": Dialect(
        name="ollama", reasoning_field="reasoning", tool_choice="omit", thinking_switch="reasoning_effort"
    ),
    "vllm": Dialect(name="vllm", reasoning_field="reasoning", thinking_switch="chat_template_kwargs"),
    "sglang": Dialect(name="sglang", reasoning_field="reasoning_content", thinking_switch="chat_template_kwargs"),
    "llamacpp": Dialect(
        name="llamacpp",
        reasoning_field="reasoning_content",
        tool_choice="required",
        thinking_switch="chat_template_kwargs",
    ),
    "lmstudio": Dialect(name="lmstudio", reasoning_field="reasoning_content", tool_choice="required"),
}


def dialect_for(engine: str | None, quirks: frozenset[str] = frozenset()) -> Dialect:
    """The dialect of a known engine kind (ollama, vllm, sglang, llamacpp, lmstudio), else generic OpenAI."""
    return DIALECTS.get(engine or "openai", DIALECTS["openai"]).with_quirks(quirks)


TIERS = ("opus", "sonnet", "haiku", "fable")


@dataclass(frozen=True, slots=True)
class ModelMap:
    """Which upstream model serves a request, by the tier the client's model name names.

    `default` serves every name; a tier entry (opus, sonnet, haiku, fable) serves names containing that word
    (Claude Code 2.1.332 sends `claude-fable-5-2` for its Fable tier); an unset tier falls to `default`;
    `exact` maps a client name to an upstream name verbatim (a profile's own model ids map to themselves).
    """

    default: str
    opus: str | None = None
    sonnet: str | None = None
    haiku: str | None = None
    exact: dict[str, str] = field(default_factory=dict)
    fable: str | None = None

    def resolve(self, requested: str) -> str:
        if requested in self.exact:
            return self.exact[requested]
        low = requested.lower()
        for tier in TIERS:
            target = getattr(self, tier)
            if target and tier in low:
                return str(target)
        return self.default


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    upstream: str  # OpenAI base URL as the user writes it, e.g. http://127.0.0.1:8000/v1
    models: ModelMap
    upstream_key: str | None = None
    auth_style: str = "bearer"
    auth_token: str | None = None  # the token clients must present; None only on loopback with auth off
    context_length: int | None = None  # known window, else discovered from the engine
    dialect: Dialect = field(default_factory=Dialect)
    connect_timeout: float = 10.0  # to open a connection to the engine
    first_byte_timeout: float = 600.0  # until the engine answers with headers (long prefills are slow)
    idle_timeout: float = 600.0  # longest silence allowed inside an answer once its headers came
    ping_interval: float = 15.0
    max_body: int = 32 * 1024 * 1024
    log_bodies: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)
    # The emulated web search: a backend setting (ccb.proxy.websearch.backends), its key, the key's variable.
    web_search: str | None = None
    web_search_key: str | None = None
    web_search_key_env: str | None = None
    # Headers carrying the client's session id to the engine, for routers that pin sessions to replicas.
    affinity_headers: tuple[str, ...] = ("x-session-id",)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, keys included: for handing the config to a bridge process, never for output."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BridgeConfig:
        values = dict(data)
        values["models"] = ModelMap(**values["models"])
        values["dialect"] = Dialect(**values["dialect"])
        values["extra_headers"] = dict(values.get("extra_headers") or {})
        if "affinity_headers" in values:
            values["affinity_headers"] = tuple(values["affinity_headers"])
        return cls(**values)

    @property
    def chat_url(self) -> str:
        return self.upstream.rstrip("/") + "/chat/completions"

    @property
    def root_url(self) -> str:
        """The engine's root (the OpenAI base minus a trailing /v1), for /props, /tokenize and friends."""
        return root_url(self.upstream)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values no error message or log line may show: the upstream key, a password in the URL."""
        found = (
            self.upstream_key,
            urlsplit(self.upstream).password,
            self.web_search_key,
            urlsplit(self.web_search).password if self.web_search and "://" in self.web_search else None,
        )
        return tuple(s for s in found if s and len(s) >= 4)

    def redact(self, text: str) -> str:
        """`text` with every secret replaced (engines echo keys back in their error messages)."""
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def upstream_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.extra_headers}
        if self.upstream_key:
            if self.auth_style == "bearer":
                headers["Authorization"] = f"Bearer {self.upstream_key}"
            elif self.auth_style == "x-api-key":
                headers["x-api-key"] = self.upstream_key
            elif self.auth_style == "api-key":
                headers["api-key"] = self.upstream_key
        return headers
