"""Shared vocabulary of `ccb doctor`: the `Check` verdict, the gathered `Context`, and the report's secrets.

No I/O: everything here is pure data and string handling. The check modules beside it build
`Check`s from a `Context`; `ccb.cli.doctor.run` gathers the context and runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ccb.cli.claude_settings import EnvValue, SettingsLayer
from ccb.cli.profile_store import Profile
from ccb.cli.redact import looks_secret, mask_key, scrubbable
from ccb.cli.redact import scrub as scrub_text

STATUSES = ("ok", "warn", "fail", "skip")

# Report order of the areas, and their headings. The JSON carries the keys; the table shows the titles.
AREAS: dict[str, str] = {
    "claude": "Claude Code",
    "settings": "Settings files",
    "env": "Environment",
    "auth": "Authentication",
    "baseurl": "Base URL",
    "profile": "Profile",
    "backend": "Backend",
    "engine": "Local engine",
    "smoke": "Live smoke test",
    "bridge": "Detached bridge",
    "websearch": "Web search",
}


@dataclass(frozen=True)
class Check:
    """One verdict: a stable dotted `id`, its `area`, a status, a one-line finding and (warn/fail) a fix."""

    id: str
    area: str
    status: str  # one of STATUSES
    finding: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "area": self.area,
            "status": self.status,
            "finding": self.finding,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Context:
    """Everything the offline checks look at, read once up front so every check sees the same picture."""

    layers: tuple[SettingsLayer, ...]
    effective: Mapping[str, EnvValue]  # what each variable ends up as inside Claude Code
    global_config: Mapping[str, Any] | None  # ~/.claude.json; None when absent or unreadable
    global_config_path: Path
    global_config_error: str | None
    owned: Mapping[str, Any]  # env keys ccb wrote into the user settings file
    profile: Profile | None
    profile_origin: str  # "--profile", "active profile", or "" when there is none
    profile_error: str | None
    offline: bool
    secrets: tuple[str, ...] = field(default=())

    def layer_path(self, source: str) -> Path | None:
        return next((layer.path for layer in self.layers if layer.source == source), None)

    def where(self, source: str) -> str:
        """A person's name for a value's source: "the shell environment" or "user settings ~/.claude/…"."""
        if source == "process":
            return "the shell environment"
        path = self.layer_path(source)
        return f"{source} settings {short_path(path)}" if path else f"{source} settings"

    def value(self, name: str) -> str | None:
        found = self.effective.get(name)
        return found.value if found is not None else None


def short_path(path: Path | None) -> str:
    """`~/.claude/settings.json` rather than the full home path: shorter, and no user name in reports."""
    if path is None:
        return "?"
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def shown(name: str, value: str) -> str:
    """A value as it may appear in a report: masked when the variable is secret, quoted otherwise."""
    if looks_secret(name):
        return mask_key(value) if value else '""'
    return repr(value)


def collect_secrets(
    ctx_env: Mapping[str, str],
    effective: Mapping[str, EnvValue],
    profile: Profile | None,
    global_config: Mapping[str, Any] | None,
    extra: Iterable[str] = (),
) -> tuple[str, ...]:
    """Every secret value doctor might come across, for the last-line scrub of the report."""
    found: set[str] = set()
    for name, value in ctx_env.items():
        if looks_secret(name) and value:
            found.add(value)
    for name, env_value in effective.items():
        if looks_secret(name):
            found.add(env_value.value)
            found.update(v for _, v in env_value.overridden)
    if profile is not None and (key := profile.resolve_key()):
        found.add(key)
    if global_config is not None and isinstance(key := global_config.get("primaryApiKey"), str):
        found.add(key)
    found.update(extra)
    return scrubbable(found)  # not "1" or "300000" (CLAUDE_CODE_API_KEY_HELPER_TTL_MS): no credential


def scrub(check: Check, secrets: Iterable[str]) -> Check:
    """Replace any secret that slipped into a finding or fix (an echoed error body, say) by its mask."""
    secrets = tuple(secrets)
    finding = scrub_text(check.finding, secrets)
    fix = scrub_text(check.fix, secrets) if check.fix else check.fix
    return check if (finding, fix) == (check.finding, check.fix) else replace(check, finding=finding, fix=fix)


def same_url(a: str, b: str) -> bool:
    """Equal after trimming slashes and case of the scheme and host (paths stay case-sensitive)."""
    try:
        pa, pb = urlsplit(a.strip()), urlsplit(b.strip())
    except ValueError:
        return False
    return (pa.scheme.lower(), pa.netloc.lower(), pa.path.rstrip("/")) == (
        pb.scheme.lower(),
        pb.netloc.lower(),
        pb.path.rstrip("/"),
    )


def error_message(body: Any, text: str, limit: int = 200) -> str:
    """The `error.message` of an Anthropic- or OpenAI-shaped error body, else the raw text, shortened."""
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        message = message or body.get("message")
    text = str(message) if message else text.strip()
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "") if text else "(no body)"
