"""User profiles: which provider or engine ccb talks to, with which key and models.

Profiles live in `paths.profiles_file()` as versioned JSON:
`{"version": 1, "active": name | null, "profiles": {name: {...}}}`. Older files are upgraded in memory by
`migrate()` and written back in the current format on the next change; reading never writes.

I/O: `load_profiles`, `get_profile`, `active_profile` read the file; `add_profile`, `remove_profile` and
`set_active` rewrite it atomically with mode 0600 (a profile may hold a literal key). Everything else is
pure. A key is never part of an error message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ccb.cli import paths
from ccb.cli.errors import CcbError
from ccb.cli.fileio import read_json, write_json_atomic
from ccb.cli.redact import mask_key, masked
from ccb.profiles import (
    ENGINE_KINDS,
    ENV_NAME_RE,
    PROTOCOLS,
    ModelSuggestions,
    PresetError,
    get_preset,
    redact_url,
    url_problem,
)
from ccb.proxy.config import AUTH_STYLES, QUIRKS

SCHEMA_VERSION = 1
FILE_MODE = 0o600  # always private: simpler than tracking whether some profile holds a literal key

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Context-window variables a preset may pin; they follow the profile's context length when the user sets one.
_CONTEXT_ENV = ("CLAUDE_CODE_MAX_CONTEXT_TOKENS", "CLAUDE_CODE_AUTO_COMPACT_WINDOW")


@dataclass(frozen=True)
class Profile:
    """One named way to reach a model. Validated on construction; invalid values raise `CcbError`."""

    name: str
    preset: str
    protocol: str  # "anthropic" | "openai"
    base_url: str  # Anthropic root (no /v1) for "anthropic"; OpenAI base (…/v1) for "openai"
    openai_base_url: str | None = None  # OpenAI-compatible base when there is one (model listing)
    auth: str = "bearer"
    api_key: str | None = None
    api_key_env: str | None = None
    model: str | None = None
    opus_model: str | None = None
    sonnet_model: str | None = None
    haiku_model: str | None = None
    subagent_model: str | None = None
    context_length: int | None = None
    engine: str | None = None
    region: str | None = None
    quirks: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    web_search: str | None = None  # search backend for WebSearch through the bridge (ccb.proxy.websearch.spec)
    web_search_key_env: str | None = None  # variable holding a Brave or Tavily key, when not the usual one
    # The engine serves several users: launch Claude Code so its prompt prefix is the same for all of them.
    shared_engine: bool = False

    def __post_init__(self) -> None:
        if problem := _profile_problem(self):
            raise CcbError(f"profile '{self.name}': {problem}")

    def resolve_key(self) -> str | None:
        """The literal key, else the value of `api_key_env` when set and non-empty, else None."""
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return None

    def slots(self) -> dict[str, str]:
        """Model per Claude Code slot. Unset slots take the main model; the main model falls back to
        the sonnet, then the opus model. Slots that end up empty are left out."""
        main = self.model or self.sonnet_model or self.opus_model
        chosen = {
            "model": main,
            "opus": self.opus_model or main,
            "sonnet": self.sonnet_model or main,
            "haiku": self.haiku_model or main,
            "subagent": self.subagent_model or main,
        }
        return {slot: value for slot, value in chosen.items() if value}

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready. Holds the literal key if there is one: for storage only, never output."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["quirks"] = list(self.quirks)
        data["env"] = dict(self.env)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Build from stored JSON. Unknown keys are ignored (a newer ccb may add some); wrong types raise."""
        name = data.get("name")
        label = f"profile '{name}'" if isinstance(name, str) else "profile"
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            check, wanted = _CHECKS[str(f.type)]
            if not check(value):
                raise CcbError(f"{label}: field '{f.name}' must be {wanted}, not {type(value).__name__}")
            values[f.name] = tuple(value) if f.name == "quirks" else dict(value) if f.name == "env" else value
        for required in ("name", "preset", "protocol", "base_url"):
            if required not in values:
                raise CcbError(f"{label}: field '{required}' is missing")
        return cls(**values)

    def to_public_dict(self) -> dict[str, Any]:
        """A view safe to print: the key masked, where it comes from, and the resolved slots."""
        data = self.to_dict()
        data["api_key"] = mask_key(self.api_key) if self.api_key else None
        data["key_source"] = "literal" if self.api_key else "env" if self.api_key_env else "none"
        data["key_available"] = self.resolve_key() is not None
        # Hand-edited env entries could hold secrets; mask anything named like one.
        data["env"] = {k: masked(k, v) for k, v in self.env.items()}
        data["slots"] = self.slots()
        if self.web_search and "@" in self.web_search:  # a SearXNG behind a password
            kind, sep, rest = self.web_search.partition(":") if not self.web_search.startswith("http") else ("", "", "")
            data["web_search"] = kind + sep + redact_url(rest) if sep else redact_url(self.web_search)
        return data


def _is_opt_str(v: object) -> bool:
    return v is None or isinstance(v, str)


def _is_opt_int(v: object) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool))


def _is_str_list(v: object) -> bool:
    return isinstance(v, list | tuple) and all(isinstance(q, str) for q in v)


def _is_str_map(v: object) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())


# Type checks for stored values, keyed by the field's annotation (a string under postponed evaluation).
_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "str | None": (_is_opt_str, "a string or null"),
    "int | None": (_is_opt_int, "an integer or null"),
    "tuple[str, ...]": (_is_str_list, "a list of strings"),
    "dict[str, str]": (_is_str_map, "an object of strings"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
}


def _profile_problem(p: Profile) -> str | None:
    """What is wrong with a profile, or None. Never quotes the key."""
    if not NAME_RE.match(p.name):
        return "names use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)"
    if p.protocol not in PROTOCOLS:
        return f"protocol must be one of {', '.join(PROTOCOLS)}, not {p.protocol!r}"
    if problem := url_problem(p.base_url, anthropic_root=p.protocol == "anthropic"):
        return f"base URL {problem}: {redact_url(p.base_url)!r}"
    if p.openai_base_url is not None and (problem := url_problem(p.openai_base_url)):
        return f"OpenAI base URL {problem}: {redact_url(p.openai_base_url)!r}"
    if p.auth not in AUTH_STYLES:
        return f"auth must be one of {', '.join(AUTH_STYLES)}, not {p.auth!r}"
    if p.api_key is not None and (not p.api_key or p.api_key != p.api_key.strip()):
        return "the API key is empty or has surrounding whitespace"
    if p.api_key_env is not None and not ENV_NAME_RE.match(p.api_key_env):
        return f"{p.api_key_env!r} is not an environment variable name"
    for slot in ("model", "opus_model", "sonnet_model", "haiku_model", "subagent_model"):
        value = getattr(p, slot)
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            return f"{slot.replace('_', ' ')} {value!r} is empty or contains spaces"
    if p.context_length is not None and p.context_length <= 0:
        return f"context length must be positive, not {p.context_length}"
    if p.engine is not None and p.engine not in ENGINE_KINDS:
        return f"engine must be one of {', '.join(ENGINE_KINDS)}, not {p.engine!r}"
    if unknown := [q for q in p.quirks if q not in QUIRKS]:
        return f"unknown quirk {unknown[0]!r}; known: {', '.join(sorted(QUIRKS))}"
    if bad := [k for k in p.env if not ENV_NAME_RE.match(k)]:
        return f"env name {bad[0]!r} is not an environment variable name"
    if p.web_search_key_env is not None and not ENV_NAME_RE.match(p.web_search_key_env):
        return f"{p.web_search_key_env!r} is not an environment variable name"
    if p.web_search is not None:
        from ccb.proxy.websearch.spec import SpecError, parse_spec

        try:
            parse_spec(p.web_search)
        except SpecError as exc:
            return str(exc)
    return None


@dataclass(frozen=True)
class ProfileSet:
    """Every stored profile by name, and the name of the active one (which may be dangling)."""

    profiles: dict[str, Profile] = field(default_factory=dict)
    active: str | None = None


# The file format and its migrations.


def _v0_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 0 is any file without "version": either `{"profiles": {...}, "active": ...}` or a bare
    `{name: profile}` object. Pre-1 profiles were OpenAI bridges, so a missing protocol means "openai"
    and a missing preset means "custom"."""
    wrapped = isinstance(doc.get("profiles"), dict)
    old_profiles = doc["profiles"] if wrapped else {k: v for k, v in doc.items() if isinstance(v, dict)}
    profiles = {
        name: {"preset": "custom", "protocol": "openai", **entry}
        for name, entry in old_profiles.items()
        if isinstance(entry, dict)
    }
    upgraded = {k: v for k, v in doc.items() if k not in ("profiles", "active")} if wrapped else {}
    active = doc.get("active") if wrapped else None
    upgraded.update(version=1, active=active if isinstance(active, str) else None, profiles=profiles)
    return upgraded


_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1}


def migrate(doc: Any, source: str = "profiles.json") -> dict[str, Any]:
    """Upgrade a profiles document of any known version to SCHEMA_VERSION (pure; returns a new dict)."""
    if not isinstance(doc, dict):
        raise CcbError(f"{source}: expected a JSON object; fix or move the file, then try again")
    version = doc.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise CcbError(f"{source}: 'version' must be a non-negative integer, not {version!r}")
    if version > SCHEMA_VERSION:
        raise CcbError(
            f"{source} has format version {version}, newer than this ccb understands ({SCHEMA_VERSION}); upgrade ccb"
        )
    while version < SCHEMA_VERSION:
        doc = _MIGRATIONS[version](doc)
        version = doc["version"]
    profiles = doc.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise CcbError(f"{source}: 'profiles' must be an object of profile objects")
    if not _is_opt_str(doc.get("active")):
        raise CcbError(f"{source}: 'active' must be a profile name or null")
    return {**doc, "profiles": dict(profiles), "active": doc.get("active")}


def _read_document() -> dict[str, Any]:
    path = paths.profiles_file()
    raw = read_json(path, default=None)
    if raw is None:
        return {"version": SCHEMA_VERSION, "active": None, "profiles": {}}
    return migrate(raw, str(path))


def _write_document(doc: dict[str, Any]) -> None:
    write_json_atomic(paths.profiles_file(), {**doc, "version": SCHEMA_VERSION}, mode=FILE_MODE)


# The interface the rest of ccb uses.


def load_profiles() -> ProfileSet:
    doc = _read_document()
    profiles: dict[str, Profile] = {}
    for name, entry in doc["profiles"].items():
        try:
            profiles[name] = Profile.from_dict({**entry, "name": name})
        except CcbError as exc:
            raise CcbError(f"{paths.profiles_file()}: {exc.message}; fix or remove that profile") from None
    return ProfileSet(profiles=profiles, active=doc["active"])


def get_profile(name: str) -> Profile:
    found = load_profiles().profiles
    if name in found:
        return found[name]
    known = ", ".join(sorted(found)) if found else "none yet (add one with `ccb profile add`)"
    raise CcbError(f"no profile named '{name}'; known profiles: {known}")


def add_profile(profile: Profile) -> None:
    doc = _read_document()
    if profile.name in doc["profiles"]:
        raise CcbError(
            f"a profile named '{profile.name}' already exists; pick another name "
            f"or remove it first with `ccb profile remove {profile.name}`"
        )
    entry = profile.to_dict()
    del entry["name"]  # the key of the "profiles" object is the name
    doc["profiles"][profile.name] = entry
    _write_document(doc)


def remove_profile(name: str) -> None:
    doc = _read_document()
    if name not in doc["profiles"]:
        get_profile(name)  # raises the standard "no profile named" error
    del doc["profiles"][name]
    if doc["active"] == name:
        doc["active"] = None
    _write_document(doc)


def set_active(name: str | None) -> None:
    doc = _read_document()
    if name is not None and name not in doc["profiles"]:
        get_profile(name)
    doc["active"] = name
    _write_document(doc)


def active_profile() -> Profile | None:
    """The active profile; None when none is set or the stored name no longer exists."""
    found = load_profiles()
    return found.profiles.get(found.active) if found.active else None


def profile_from_preset(
    name: str,
    preset_name: str,
    *,
    base_url: str | None = None,
    region: str | None = None,
    api_key: str | None = None,
    api_key_env: str | None = None,
    model: str | None = None,
    opus_model: str | None = None,
    sonnet_model: str | None = None,
    haiku_model: str | None = None,
    subagent_model: str | None = None,
    context_length: int | None = None,
    protocol: str | None = None,
    web_search: str | None = None,
    web_search_key_env: str | None = None,
) -> Profile:
    """A new profile filled from a preset, with the caller's values taking precedence.

    `protocol` picks the preset's other side when it has one (e.g. OpenRouter or DeepSeek through the
    bridge); a literal `api_key` and `api_key_env` exclude each other. The preset's suggested models fill
    the slots only when no main `model` is given. Pure apart from loading presets: nothing is stored.
    """
    if api_key is not None and api_key_env is not None:
        raise CcbError("give either a literal key (--api-key) or an environment variable (--api-key-env), not both")
    try:
        preset = get_preset(preset_name)
        chosen_region = preset.region(region)
    except PresetError as exc:
        raise CcbError(str(exc)) from None
    protocol = protocol or preset.protocol
    if protocol not in PROTOCOLS:
        raise CcbError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    if base_url is not None:
        if problem := url_problem(base_url, anthropic_root=protocol == "anthropic"):
            raise CcbError(f"base URL {problem}: {redact_url(base_url)!r}")
        url = base_url
    elif chosen_region is not None and (found := chosen_region.url(protocol)) is not None:
        url = found
    elif preset.needs_base_url:
        raise CcbError(f"preset '{preset.name}' needs a base URL: pass --base-url, e.g. {preset.url_hint}")
    else:
        where = f" in region '{chosen_region.name}'" if chosen_region else ""
        raise CcbError(f"preset '{preset.name}' has no {protocol} endpoint{where}; pass --base-url or another region")
    if api_key is not None:
        api_key = api_key.strip()
        if not api_key:
            raise CcbError("the API key is empty")
    # "none" means the engine needs no key by default; a key the user supplies travels as a Bearer token,
    # which every local engine accepts when started with one.
    auth = "bearer" if preset.auth == "none" and (api_key or api_key_env) else preset.auth
    # A main model from the user replaces the preset's suggestions: slots the user left unset then follow
    # that model (see Profile.slots) instead of pointing at a model the user may not have meant to use.
    region_name = chosen_region.name if chosen_region else None
    suggested = ModelSuggestions() if model else preset.suggested_models(region_name)
    env = dict(preset.env)
    if context_length is not None and context_length != preset.context_length:
        env.update({var: str(context_length) for var in _CONTEXT_ENV if var in env})
    return Profile(
        name=name,
        preset=preset.name,
        protocol=protocol,
        base_url=url,
        openai_base_url=url if protocol == "openai" else chosen_region.openai_url if chosen_region else None,
        auth=auth,
        api_key=api_key,
        api_key_env=api_key_env if api_key_env is not None else None if api_key else preset.api_key_env,
        model=model,
        opus_model=opus_model or suggested.opus,
        sonnet_model=sonnet_model or suggested.sonnet,
        haiku_model=haiku_model or suggested.haiku,
        subagent_model=subagent_model or suggested.subagent,
        context_length=context_length if context_length is not None else preset.context_length,
        engine=preset.engine,
        region=region_name,
        quirks=preset.quirks,
        env=env,
        web_search=web_search.strip() if web_search and web_search.strip() else None,
        web_search_key_env=web_search_key_env,
    )
