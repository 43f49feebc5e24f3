"""Built-in presets: one TOML file per provider or local engine, shipped beside this module.

A preset is data, never a lock: it suggests a URL, a key variable, model ids and bridge quirks, and the
user's profile may override any of them. Every file is validated on load (unknown fields, wrong types,
unknown quirks, malformed URLs) so a broken preset fails loudly in tests rather than at launch time.

I/O: reads the shipped *.toml files (or the folder a caller names); writes nothing. This package must not
import `ccb.cli`, so its errors are `PresetError` (a ValueError) and the CLI turns them into `CcbError`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from ccb.proxy.config import AUTH_STYLES, QUIRKS

CATEGORIES = ("local", "anthropic-cloud", "openai-cloud", "custom")
PROTOCOLS = ("anthropic", "openai")
ENGINE_KINDS = ("ollama", "vllm", "sglang", "llamacpp", "lmstudio")
SLOTS = ("opus", "sonnet", "haiku", "subagent")

PRESET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_IPV6_RE = re.compile(r"^[0-9A-Fa-f:.]+$")

# A preset must not decide these for Claude Code: ANTHROPIC_* (URL, key, model slots) is derived from the
# profile by the launcher, and the two privacy switches also disable Claude Code feature gates.
_FORBIDDEN_ENV_PREFIX = "ANTHROPIC_"
_FORBIDDEN_ENV = frozenset({"DISABLE_TELEMETRY", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"})


class PresetError(ValueError):
    """A preset file is malformed, or a preset or region name is unknown."""


def url_problem(url: str, *, anthropic_root: bool = False) -> str | None:
    """Why `url` is unusable as an endpoint base URL, or None when it is fine.

    URLs may not carry credentials, a query or a fragment: keys travel in headers only, so a URL can be
    printed and logged freely. With `anthropic_root`, a trailing /v1 is refused because Claude Code appends
    /v1/messages itself.
    """
    if not url or any(c.isspace() for c in url):
        return "must be a non-empty URL without spaces"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    host = parts.hostname or ""
    if not host or not (_HOST_RE.match(host) or (":" in host and _IPV6_RE.match(host))):
        return "has no valid host name"
    try:
        _ = parts.port  # urlsplit validates the port lazily
    except ValueError:
        return "has an invalid port"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials (keys go in the profile, never in the URL)"
    if parts.query or parts.fragment:
        return "must not contain a query string or fragment"
    if anthropic_root and parts.path.rstrip("/").endswith("/v1"):
        return "must be the Anthropic root URL without /v1 (Claude Code appends /v1/messages)"
    return None


def redact_url(url: str) -> str:
    """`url` with any user:password and query replaced by ***, safe to quote in an error message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = "***@" + parts.netloc.rsplit("@", 1)[1] if "@" in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


@dataclass(frozen=True)
class ModelSuggestions:
    """Suggested model ids per Claude Code slot. Defaults that go stale: check the provider's live list."""

    opus: str | None = None
    sonnet: str | None = None
    haiku: str | None = None
    subagent: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {slot: value for slot in SLOTS if (value := getattr(self, slot))}


@dataclass(frozen=True)
class Region:
    """One deployment of a provider (e.g. Moonshot's cn and intl hosts; keys are often region-bound)."""

    name: str
    anthropic_url: str | None = None  # Anthropic root, no /v1
    openai_url: str | None = None  # OpenAI-compatible base, usually ending in /v1
    models: ModelSuggestions | None = None  # replaces the preset's suggestions in this region

    def url(self, protocol: str) -> str | None:
        return self.anthropic_url if protocol == "anthropic" else self.openai_url


@dataclass(frozen=True)
class Preset:
    """A validated built-in preset. `name` is the file stem (`kimi`), `display_name` is for people."""

    name: str
    display_name: str
    category: str
    protocol: str
    note: str
    regions: tuple[Region, ...] = ()
    default_region: str | None = None
    auth: str = "bearer"
    api_key_env: str | None = None
    models: ModelSuggestions = field(default_factory=ModelSuggestions)
    context_length: int | None = None
    engine: str | None = None
    port: int | None = None
    quirks: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    url_hint: str | None = None  # shape of the URL the user must supply when there are no regions

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regions)

    @property
    def needs_base_url(self) -> bool:
        """True when the preset ships no URL at all (custom, Azure): the user must give one."""
        return not self.regions

    def region(self, name: str | None = None) -> Region | None:
        """The named region, else the default one; None when the preset has no regions."""
        if not self.regions:
            if name is not None:
                raise PresetError(f"preset '{self.name}' has no regions; give a base URL instead")
            return None
        wanted = name or self.default_region or self.regions[0].name
        for region in self.regions:
            if region.name == wanted:
                return region
        raise PresetError(
            f"preset '{self.name}' has no region '{wanted}'; known regions: {', '.join(self.region_names)}"
        )

    def base_url(self, region: str | None = None, protocol: str | None = None) -> str | None:
        """The base URL for `protocol` (default: the preset's) in `region` (default: the default region).

        None when the preset has no URL for that protocol there (e.g. an OpenAI-only provider asked for
        its Anthropic URL, or a preset whose URL the user must supply).
        """
        chosen = self.region(region)
        return chosen.url(protocol or self.protocol) if chosen else None

    def suggested_models(self, region: str | None = None) -> ModelSuggestions:
        chosen = self.region(region)
        return chosen.models if chosen and chosen.models else self.models

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the `ccb profile presets --json` shape)."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "category": self.category,
            "protocol": self.protocol,
            "default_region": self.default_region,
            "regions": {
                r.name: {
                    "anthropic_url": r.anthropic_url,
                    "openai_url": r.openai_url,
                    "models": r.models.as_dict() if r.models else None,
                }
                for r in self.regions
            },
            "url_hint": self.url_hint,
            "auth": self.auth,
            "api_key_env": self.api_key_env,
            "models": self.models.as_dict(),
            "context_length": self.context_length,
            "engine": self.engine,
            "port": self.port,
            "quirks": list(self.quirks),
            "env": dict(self.env),
            "note": self.note,
        }


class _Table:
    """Typed reads from one TOML table; what is never read is reported as an unknown field."""

    def __init__(self, data: Mapping[str, Any], source: str, prefix: str = "") -> None:
        self.data = data
        self.source = source
        self.prefix = prefix
        self.seen: set[str] = set()

    def fail(self, key: str, problem: str) -> NoReturn:
        raise PresetError(f"{self.source}: field '{self.prefix}{key}' {problem}")

    def get(self, key: str, kind: type, kind_name: str, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.fail(key, "is required")
            return None
        value = self.data[key]
        # bool is an int subclass in Python; `port = true` must not pass as a number.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(key, f"must be {kind_name}, not {type(value).__name__} {value!r}")
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value: str | None = self.get(key, str, "a string", required)
        if value is not None and (not value.strip() or "\n" in value):
            self.fail(key, "must be a non-empty single-line string")
        return value

    def choice(self, key: str, options: Iterable[str], *, required: bool = False) -> str | None:
        value = self.text(key, required=required)
        options = tuple(options)
        if value is not None and value not in options:
            self.fail(key, f"is {value!r}; expected one of: {', '.join(options)}")
        return value

    def number(self, key: str, *, low: int, high: int) -> int | None:
        value: int | None = self.get(key, int, "an integer", False)
        if value is not None and not low <= value <= high:
            self.fail(key, f"is {value}; expected {low}..{high}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values: list[Any] = self.get(key, list, "a list of strings", False) or []
        for item in values:
            if not isinstance(item, str):
                self.fail(key, f"must hold only strings, found {item!r}")
        return tuple(values)

    def table(self, key: str) -> _Table:
        value: Mapping[str, Any] = self.get(key, dict, "a table", False) or {}
        return _Table(value, self.source, f"{self.prefix}{key}.")

    def url(self, key: str, *, anthropic_root: bool = False) -> str | None:
        value: str | None = self.get(key, str, "a string", False)
        if value is not None and (problem := url_problem(value, anthropic_root=anthropic_root)):
            self.fail(key, f"{problem}: {redact_url(value)!r}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise PresetError(f"{self.source}: unknown field '{self.prefix}{unknown[0]}' (known: {known})")


def _models(table: _Table) -> ModelSuggestions:
    values = {slot: table.text(slot) for slot in SLOTS}
    table.finish()
    return ModelSuggestions(**values)


def _regions(top: _Table, protocol: str, port: int | None) -> tuple[Region, ...]:
    regions_table = top.table("regions")
    regions: list[Region] = []
    for name in regions_table.data:
        if not PRESET_NAME_RE.match(name):
            regions_table.fail(name, "is not a valid region name (lowercase letters, digits, '-')")
        sub = regions_table.table(name)
        anthropic_url = sub.url("anthropic_url", anthropic_root=True)
        openai_url = sub.url("openai_url")
        has_models = "models" in sub.data
        models = _models(sub.table("models")) if has_models else None
        sub.finish()
        if (anthropic_url if protocol == "anthropic" else openai_url) is None:
            sub.fail(f"{protocol}_url", f"is required: the preset's protocol is {protocol}")
        for key, url in (("anthropic_url", anthropic_url), ("openai_url", openai_url)):
            # Local presets describe the engine's stock loopback address; anything else is a typo.
            if port is not None and url is not None:
                parts = urlsplit(url)
                if parts.hostname != "127.0.0.1" or parts.port != port:
                    sub.fail(key, f"must be on http://127.0.0.1:{port} (the preset's port): {url!r}")
        regions.append(Region(name, anthropic_url, openai_url, models))
    regions_table.finish()
    return tuple(regions)


def parse_preset(name: str, text: str, source: str) -> Preset:
    """Validate one preset's TOML text. `source` names the file in error messages."""
    if not PRESET_NAME_RE.match(name):
        raise PresetError(f"{source}: preset file names must be lowercase letters, digits and '-'")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{source}: not valid TOML: {exc}") from exc
    top = _Table(data, source)
    display_name = top.text("display_name", required=True)
    category = top.choice("category", CATEGORIES, required=True)
    protocol = top.choice("protocol", PROTOCOLS, required=True)
    note = top.text("note", required=True)
    auth = top.choice("auth", AUTH_STYLES) or "bearer"
    api_key_env = top.text("api_key_env")
    if api_key_env is not None and not ENV_NAME_RE.match(api_key_env):
        top.fail("api_key_env", f"is not an environment variable name: {api_key_env!r}")
    if auth == "none" and api_key_env is not None:
        top.fail("api_key_env", 'makes no sense with auth = "none"')
    engine = top.choice("engine", ENGINE_KINDS)
    port = top.number("port", low=1, high=65535)
    if (category == "local") != (engine is not None) or (category == "local") != (port is not None):
        top.fail("engine", "and 'port' are required for category \"local\" and allowed only there")
    context_length = top.number("context_length", low=1024, high=100_000_000)
    quirks = top.strings("quirks")
    for quirk in quirks:
        if quirk not in QUIRKS:
            top.fail("quirks", f"has unknown quirk {quirk!r}; known: {', '.join(sorted(QUIRKS))}")
    if len(set(quirks)) != len(quirks):
        top.fail("quirks", "lists a quirk twice")
    env_table = top.table("env")
    env: dict[str, str] = {}
    for key in env_table.data:
        value = env_table.text(key, required=True)
        if not ENV_NAME_RE.match(key):
            env_table.fail(key, "is not an environment variable name")
        if key.startswith(_FORBIDDEN_ENV_PREFIX) or key in _FORBIDDEN_ENV:
            env_table.fail(key, "may not be set by a preset (the launcher derives it, or it breaks features)")
        env[key] = str(value)
    env_table.finish()
    models = _models(top.table("models"))
    regions = _regions(top, str(protocol), port)
    default_region = top.text("default_region")
    url_hint = top.text("url_hint")
    top.finish()
    if regions and default_region is None and len(regions) > 1:
        top.fail("default_region", "is required when a preset has several regions")
    if default_region is not None and default_region not in {r.name for r in regions}:
        top.fail("default_region", f"names no region of this preset: {default_region!r}")
    if not regions and url_hint is None:
        top.fail("regions", "is required unless 'url_hint' tells the user which URL to supply")
    return Preset(
        name=name,
        display_name=str(display_name),
        category=str(category),
        protocol=str(protocol),
        note=str(note),
        regions=regions,
        default_region=default_region or (regions[0].name if regions else None),
        auth=auth,
        api_key_env=api_key_env,
        models=models,
        context_length=context_length,
        engine=engine,
        port=port,
        quirks=quirks,
        env=MappingProxyType(env),
        url_hint=url_hint,
    )


def load_preset_file(path: Path) -> Preset:
    """Load and validate one preset file; its stem is the preset's name."""
    if path.suffix != ".toml":
        raise PresetError(f"{path}: preset files end in .toml")
    return parse_preset(path.stem, path.read_text(encoding="utf-8"), str(path))


def load_presets_from(directory: Path) -> dict[str, Preset]:
    """Every *.toml preset in `directory`, by name (uncached; for tests and tooling)."""
    return {p.stem: load_preset_file(p) for p in sorted(directory.glob("*.toml"))}


@functools.cache
def load_presets() -> dict[str, Preset]:
    """The shipped presets by name, sorted, validated once per process. Shared: treat it as read-only."""
    package = resources.files(__name__)
    files = {e.name.removesuffix(".toml"): e for e in package.iterdir() if e.name.endswith(".toml")}
    return {
        name: parse_preset(name, files[name].read_text(encoding="utf-8"), str(files[name])) for name in sorted(files)
    }


def get_preset(name: str) -> Preset:
    presets = load_presets()
    try:
        return presets[name]
    except KeyError:
        raise PresetError(
            f"unknown preset '{name}'; known presets: {', '.join(presets)} (see `ccb profile presets`)"
        ) from None
