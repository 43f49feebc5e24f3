"""How a profile reaches Claude Code: the route (direct or bridge), the bridge's config, and the env block.

Pure functions over a `Profile` and, for local engines, what a probe found. `ccb launch`, `ccb profile
switch`, `ccb serve --profile` and `ccb doctor` all decide through here, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ccb.cli.engines.families import facts_for
from ccb.cli.errors import CcbError
from ccb.cli.profile_store import Profile
from ccb.cli.window import RECOMMENDED_WINDOW
from ccb.proxy.config import DIALECTS, BridgeConfig, ModelMap, dialect_for
from ccb.proxy.net import is_loopback, root_url

if TYPE_CHECKING:
    from ccb.cli.claude_settings import JsonValue
    from ccb.cli.engines.status import EngineStatus
    from ccb.proxy.websearch.spec import BridgeFields

DEFAULT_API_TIMEOUT_MS = "600000"
LOCAL_API_TIMEOUT_MS = "3000000"  # CPU and small-GPU engines can take minutes per turn
# Claude Code 2.1.332 reads an auto-compact window under 100k as 100k (and warns at every start); the context
# window variable alone still drives compaction, so below this only CLAUDE_CODE_MAX_CONTEXT_TOKENS is set.
MIN_AUTO_COMPACT_WINDOW = 100_000
# What Claude Code asks of a model it does not know. After a `max_tokens` stop 2.1.327+ retries asking for
# 128k; an explicit CLAUDE_CODE_MAX_OUTPUT_TOKENS stops that escalation.
DEFAULT_OUTPUT_TOKENS = 32000
MIN_OUTPUT_TOKENS = 1024
# Model slot -> the variables Claude Code reads for it (2.1.332 added the Fable tier, the most capable one).
_SLOT_VARS = (
    ("opus", "ANTHROPIC_DEFAULT_OPUS_MODEL"),
    ("sonnet", "ANTHROPIC_DEFAULT_SONNET_MODEL"),
    ("haiku", "ANTHROPIC_DEFAULT_HAIKU_MODEL"),
    ("opus", "ANTHROPIC_DEFAULT_FABLE_MODEL"),
    ("haiku", "ANTHROPIC_SMALL_FAST_MODEL"),
    ("subagent", "CLAUDE_CODE_SUBAGENT_MODEL"),
)
_TIER_VARS = (
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_DEFAULT_FABLE_MODEL",
)
_SLOT_LABELS = {"model": "main", "opus": "opus", "sonnet": "sonnet", "haiku": "haiku", "subagent": "subagents"}


@dataclass(frozen=True)
class Route:
    kind: str  # "direct" | "bridge"
    reason: str


def is_local(profile: Profile) -> bool:
    return profile.engine is not None or is_loopback(profile.base_url)


def choose_route(profile: Profile, status: EngineStatus | None = None) -> Route:
    """Direct for native Anthropic upstreams that serve Claude Code well; the bridge otherwise."""
    if profile.protocol == "anthropic":
        return Route("direct", "the provider serves the Anthropic Messages API natively")
    if status is None or status.status != "ok":
        return Route("bridge", "the upstream speaks OpenAI chat completions")
    if not status.native_messages:
        return Route("bridge", f"{status.kind or 'the engine'} has no native /v1/messages endpoint")
    ctx = status.context_length
    if ctx is None or ctx < RECOMMENDED_WINDOW:
        return Route(
            "bridge",
            f"the engine's window ({ctx or 'unknown'} tokens) is too small to trust its native "
            "endpoint; the bridge clamps max_tokens and reports overflows",
        )
    if status.tools is not True:
        return Route("bridge", "tool calling on the engine's native endpoint is not confirmed")
    if not facts_for(status.kind).direct_ok:  # engines.md: what each native endpoint mishandles
        return Route(
            "bridge",
            f"{status.kind}'s native endpoint mishandles parts of what Claude Code sends "
            "(role:system messages, count_tokens, tool_choice)",
        )
    return Route("direct", f"{status.kind} serves /v1/messages natively with a {ctx}-token window and tool calling")


def direct_base_url(profile: Profile, status: EngineStatus | None = None) -> str:
    """ANTHROPIC_BASE_URL for the direct route: Claude Code appends /v1/messages itself, so an OpenAI-side
    profile of a local engine must point at the engine's root, never at its .../v1 base."""
    if profile.protocol == "anthropic":
        return profile.base_url.rstrip("/")
    if status is not None and status.url:
        return status.url.rstrip("/")
    return root_url(profile.base_url)


def with_engine_model(profile: Profile, status: EngineStatus | None) -> Profile:
    """Fill the main model from a local engine's loaded model when the profile names none."""
    if profile.slots().get("model") or status is None or not status.models:
        return profile
    loaded = [m for m in status.models if m.loaded] or list(status.models)
    return replace(profile, model=loaded[0].id)


def with_model(profile: Profile, model: str | None) -> Profile:
    """`--model M`: one model for every slot."""
    if not model:
        return profile
    return replace(profile, model=model, opus_model=model, sonnet_model=model, haiku_model=model, subagent_model=model)


def context_length(profile: Profile, status: EngineStatus | None) -> int | None:
    return profile.context_length or (status.context_length if status is not None else None)


def bridge_config(profile: Profile, *, token: str, status: EngineStatus | None = None) -> BridgeConfig:
    slots = profile.slots()
    if "model" not in slots:
        raise CcbError(
            f"profile '{profile.name}' names no model: pass --model, or set one with "
            f"`ccb profile add {profile.name} --preset {profile.preset} --model NAME`"
        )
    exact = {name: name for name in slots.values()}
    models = ModelMap(
        default=slots["model"],
        opus=slots.get("opus"),
        sonnet=slots.get("sonnet"),
        haiku=slots.get("haiku"),
        fable=slots.get("fable"),
        exact=exact,
    )
    kind = profile.engine or (status.kind if status is not None and status.kind in DIALECTS else None)
    return BridgeConfig(
        upstream=(profile.openai_base_url or profile.base_url).rstrip("/"),
        models=models,
        upstream_key=profile.resolve_key(),
        auth_style=profile.auth,
        auth_token=token,
        context_length=context_length(profile, status),
        dialect=dialect_for(kind, frozenset(profile.quirks)),
        **web_search_fields(profile),
    )


def web_search_fields(profile: Profile) -> BridgeFields:
    """The bridge's search backend: the profile's `web_search`, else $CCB_WEB_SEARCH, else none."""
    import os

    from ccb.proxy.websearch.spec import SpecError, bridge_fields

    spec = profile.web_search or os.environ.get("CCB_WEB_SEARCH")
    try:
        return bridge_fields(spec, profile.web_search_key_env)
    except SpecError as exc:
        where = f"profile '{profile.name}'" if profile.web_search else "$CCB_WEB_SEARCH"
        raise CcbError(f"web search setting of {where}: {exc}") from exc


def output_limit(window: int | None) -> int:
    """The output limit ccb gives Claude Code: its own 32k, and at most a quarter of a known window, so a
    prompt plus an answer (or 2.1.327+'s 128k retry, which the explicit limit prevents) fits the engine."""
    if not window:
        return DEFAULT_OUTPUT_TOKENS
    return max(MIN_OUTPUT_TOKENS, min(DEFAULT_OUTPUT_TOKENS, window // 4))


def window_env(window: int | None) -> dict[str, str]:
    """The context window and output limit variables for a window (None: unknown)."""
    block: dict[str, str] = {}
    if window:
        block["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] = str(window)
        if window >= MIN_AUTO_COMPACT_WINDOW:
            block["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] = str(window)
    block["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(output_limit(window))
    return block


def model_env(profile: Profile) -> dict[str, str]:
    """Every model slot Claude Code reads, from the profile: main, the four tiers (with the name and
    description `/model` shows), small/fast and subagents."""
    slots = profile.slots()
    block: dict[str, str] = {}
    if "model" in slots:
        block["ANTHROPIC_MODEL"] = slots["model"]
    for slot, var in _SLOT_VARS:
        if slot in slots:
            block[var] = slots[slot]
    for var in _TIER_VARS:
        if var in block:
            block[var + "_NAME"] = block[var]
            block[var + "_DESCRIPTION"] = f"{block[var]}: {_tier(var)} tier of ccb profile {profile.name}"
    if profile.subagent_model and "subagent" in slots:
        # Since 2.1.332 Explore subagents run on the main model unless this is set.
        block["CLAUDE_CODE_SUBAGENT_MODEL_FORCE"] = "1"
    return block


def _tier(var: str) -> str:
    return var.removeprefix("ANTHROPIC_DEFAULT_").removesuffix("_MODEL").lower()


def model_picker(profile: Profile) -> dict[str, JsonValue] | None:
    """The `modelPicker` setting (Claude Code 2.1.332+) that lists the profile's models in `/model`: one row
    per distinct model, in slot order, naming the slots it serves. None when the profile names no model."""
    roles: dict[str, list[str]] = {}
    for slot, model in profile.slots().items():
        roles.setdefault(model, []).append(_SLOT_LABELS[slot])
    if not roles:
        return None
    options: list[JsonValue] = [
        {"model": model, "label": model, "description": f"{', '.join(used)} · ccb profile {profile.name}"}
        for model, used in roles.items()
    ]
    return {"options": options, "replaceBuiltInOptions": True}


def launch_settings(profile: Profile, block: dict[str, str]) -> dict[str, object]:
    """The private `--settings` layer of `ccb launch`: the env block, and the profile's models in `/model`."""
    settings: dict[str, object] = {"env": block}
    if (picker := model_picker(profile)) is not None:
        settings["modelPicker"] = picker
    return settings


def claude_env(
    profile: Profile, *, base_url: str, token: str | None, route: str, context: int | None = None
) -> dict[str, str]:
    """The env block Claude Code gets: base URL, auth, every model slot, timeouts, the context window and
    the output limit. The profile's own `env` entries win, except an auto-compact window below 100k."""
    block: dict[str, str] = {"ANTHROPIC_BASE_URL": base_url.rstrip("/")}
    if route == "direct" and profile.auth == "x-api-key":
        block.update(ANTHROPIC_API_KEY=token or "", ANTHROPIC_AUTH_TOKEN="")
    else:
        block.update(ANTHROPIC_AUTH_TOKEN=token or "", ANTHROPIC_API_KEY="")
    block.update(model_env(profile))
    block["CLAUDE_CODE_ATTRIBUTION_HEADER"] = "0"
    block["API_TIMEOUT_MS"] = LOCAL_API_TIMEOUT_MS if is_local(profile) else DEFAULT_API_TIMEOUT_MS
    block.update(window_env(context or profile.context_length))
    block.update(preset_switches(profile))
    block.update(profile.env)
    window = _as_int(block.get("CLAUDE_CODE_MAX_CONTEXT_TOKENS"))
    if "CLAUDE_CODE_MAX_OUTPUT_TOKENS" not in profile.env:
        block["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(output_limit(window))
    compact = _as_int(block.get("CLAUDE_CODE_AUTO_COMPACT_WINDOW"))
    if compact is not None and compact < MIN_AUTO_COMPACT_WINDOW:
        del block["CLAUDE_CODE_AUTO_COMPACT_WINDOW"]
    return block


# Claude Code's own switches a preset sets because its vendor's endpoint rejects what newer releases send
# (docs/tool-search.md). Read from the preset as it is now, so a profile made before the preset gained one
# gets it too; the profile's own env still wins.
VENDOR_SWITCHES = frozenset({"CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS"})


def preset_switches(profile: Profile) -> dict[str, str]:
    """The vendor switches of the profile's preset (none for a preset this ccb does not ship)."""
    from ccb.profiles import PresetError, get_preset

    try:
        preset = get_preset(profile.preset)
    except PresetError:
        return {}
    return {k: v for k, v in preset.env.items() if k in VENDOR_SWITCHES}


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# Moves per-machine sections (cwd, environment, memory paths, git status) from Claude Code's system prompt
# into its first user message, so users of one engine share the system prompt's cached prefix.
EXCLUDE_DYNAMIC = "--exclude-dynamic-system-prompt-sections"
# Claude Code's subcommands: they take no session flags.
_SUBCOMMANDS = frozenset(
    {
        "mcp",
        "config",
        "doctor",
        "update",
        "upgrade",
        "install",
        "migrate-installer",
        "setup-token",
        "plugin",
        "plugins",
        "auth",
        "agents",
    }
)


def claude_args(profile: Profile, args: list[str]) -> list[str]:
    """The arguments for `claude`: the user's, plus the shared-engine flag when the profile asks for it."""
    if not profile.shared_engine or EXCLUDE_DYNAMIC in args or (args and args[0] in _SUBCOMMANDS):
        return list(args)
    return [EXCLUDE_DYNAMIC, *args]
