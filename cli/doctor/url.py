"""Doctor checks on base URLs: a trailing /v1, `localhost`, OpenAI-only endpoints, and proxy variables.

Pure over a `Context` (plus the built-in presets, read from package data, and an optional engine status).
Two URLs are examined: the effective `ANTHROPIC_BASE_URL` plain `claude` would use, and the profile's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ccb.cli.doctor.context import Check, Context, same_url
from ccb.profiles import PresetError, load_presets, redact_url
from ccb.proxy.net import is_loopback, root_url

if TYPE_CHECKING:
    from ccb.cli.engines.status import EngineStatus

_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@dataclass(frozen=True)
class Target:
    label: str  # "ANTHROPIC_BASE_URL (user settings (~/.claude/settings.json))" or "profile 'x'"
    url: str
    anthropic: bool  # Claude Code will send Anthropic requests to this URL as it stands


def targets(ctx: Context) -> list[Target]:
    found: list[Target] = []
    effective = ctx.effective.get("ANTHROPIC_BASE_URL")
    if effective is not None and effective.value.strip():
        found.append(Target(f"ANTHROPIC_BASE_URL from {ctx.where(effective.source)}", effective.value.strip(), True))
    if ctx.profile is not None:
        found.append(
            Target(f"profile '{ctx.profile.name}' URL", ctx.profile.base_url, ctx.profile.protocol == "anthropic")
        )
    return found


def _none_set(cid: str, ctx: Context, finding: str) -> Check | None:
    if targets(ctx):
        return None
    return Check(cid, "baseurl", "ok", finding)


def v1_suffix_check(ctx: Context) -> Check:
    if (
        empty := _none_set(
            "baseurl.v1_suffix",
            ctx,
            "ANTHROPIC_BASE_URL is not set and no profile is selected: Claude Code talks to Anthropic",
        )
    ) is not None:
        return empty
    bad = [t for t in targets(ctx) if t.anthropic and urlsplit(t.url).path.rstrip("/").endswith("/v1")]
    if not bad:
        return Check("baseurl.v1_suffix", "baseurl", "ok", "no Anthropic base URL ends in /v1")
    t = bad[0]
    root = t.url.rstrip("/")[: -len("/v1")]
    return Check(
        "baseurl.v1_suffix",
        "baseurl",
        "fail",
        f"{t.label} is {redact_url(t.url)}: it ends in /v1, so requests would go to /v1/v1/messages",
        f"drop the /v1: use {redact_url(root)} (Claude Code appends /v1/messages itself)",
    )


def localhost_check(ctx: Context) -> Check:
    if (
        empty := _none_set("baseurl.localhost", ctx, "no base URL configured, so no `localhost` name to trip over")
    ) is not None:
        return empty
    bad = [t for t in targets(ctx) if (urlsplit(t.url).hostname or "") == "localhost"]
    if not bad:
        return Check("baseurl.localhost", "baseurl", "ok", "no base URL uses the name `localhost`")
    t = bad[0]
    fixed = t.url.replace("localhost", "127.0.0.1", 1)
    return Check(
        "baseurl.localhost",
        "baseurl",
        "warn",
        f"{t.label} uses `localhost` ({redact_url(t.url)}): it may resolve to ::1 while the server "
        "listens on 127.0.0.1 only (or the other way round)",
        f"write the address explicitly: {redact_url(fixed)}",
    )


def _known_openai_endpoint(url: str) -> str | None:
    """Which provider's OpenAI-only endpoint `url` is, or None. Data comes from the built-in presets."""
    try:
        presets = load_presets()
    except PresetError:
        return None
    host = (urlsplit(url).hostname or "").lower()
    anthropic_hosts = {
        (urlsplit(r.anthropic_url).hostname or "").lower()
        for p in presets.values()
        for r in p.regions
        if r.anthropic_url
    }
    for preset in presets.values():
        for region in preset.regions:
            if region.openai_url is None:
                continue
            if same_url(url, region.openai_url):
                better = f"; its Anthropic endpoint is {region.anthropic_url}" if region.anthropic_url else ""
                return f"the OpenAI-compatible endpoint of {preset.display_name}{better}"
            openai_host = (urlsplit(region.openai_url).hostname or "").lower()
            if host == openai_host and host not in anthropic_hosts:
                return f"{preset.display_name}, which serves only the OpenAI API"
    if host.endswith(".openai.azure.com"):
        return "Azure OpenAI, which serves only the OpenAI API"
    return None


def openai_only_check(ctx: Context, status: EngineStatus | None = None) -> Check:
    if (
        empty := _none_set("baseurl.openai_only", ctx, "no base URL configured, so none can be an OpenAI-only endpoint")
    ) is not None:
        return empty
    profile = ctx.profile
    name = profile.name if profile else "NAME"
    fix = (
        f"run Claude Code through the bridge: `ccb launch {name}` (one session) or "
        f"`ccb profile switch {name}` (plain `claude`), and remove ANTHROPIC_BASE_URL from where it is set"
    )
    for t in targets(ctx):
        if not t.anthropic:
            continue  # the profile's own OpenAI URL is fine: ccb puts the bridge in front of it
        if (
            profile is not None
            and profile.protocol == "openai"
            and any(same_url(t.url, u) for u in (profile.base_url, profile.openai_base_url) if u)
        ):
            return Check(
                "baseurl.openai_only",
                "baseurl",
                "fail",
                f"{t.label} is profile '{profile.name}''s OpenAI endpoint ({redact_url(t.url)}): "
                "Claude Code speaks the Anthropic Messages API and gets 404s there",
                fix,
            )
        if (known := _known_openai_endpoint(t.url)) is not None:
            return Check(
                "baseurl.openai_only",
                "baseurl",
                "fail",
                f"{t.label} ({redact_url(t.url)}) is {known}: Claude Code's Anthropic requests fail there",
                fix,
            )
        if (
            status is not None
            and status.native_messages is False
            and is_loopback(t.url)
            and same_url(_root(t.url), status.url)
        ):
            return Check(
                "baseurl.openai_only",
                "baseurl",
                "fail",
                f"{t.label} points at {status.label} ({redact_url(t.url)}), which has no native /v1/messages endpoint",
                fix,
            )
    return Check("baseurl.openai_only", "baseurl", "ok", "no Anthropic base URL points at a known OpenAI-only endpoint")


def _root(url: str) -> str:
    parts = urlsplit(url)
    return root_url(f"{parts.scheme}://{parts.netloc}{parts.path}")


def _no_proxy_entries(ctx: Context) -> set[str]:
    entries: set[str] = set()
    for name in ("NO_PROXY", "no_proxy"):
        for item in (ctx.value(name) or "").split(","):
            if item.strip():
                entries.add(item.strip().lower().lstrip("."))
    return entries


def proxy_check(ctx: Context) -> Check:
    proxies = [(name, v) for name in _PROXY_VARS if (v := ctx.value(name))]
    if not proxies:
        return Check("baseurl.proxy", "baseurl", "ok", "no HTTP(S)_PROXY variable is set")
    entries = _no_proxy_entries(ctx)
    missing = [] if "*" in entries else [h for h in ("127.0.0.1", "localhost") if h not in entries]
    name, value = proxies[0]
    if not missing:
        return Check(
            "baseurl.proxy",
            "baseurl",
            "ok",
            f"{name}={redact_url(value)} is set and NO_PROXY exempts 127.0.0.1 and localhost",
        )
    return Check(
        "baseurl.proxy",
        "baseurl",
        "warn",
        f"{name}={redact_url(value)} is set but NO_PROXY does not cover {' and '.join(missing)}: "
        "Claude Code would send even loopback requests (the ccb bridge, local engines) through the proxy",
        'append, never replace: export NO_PROXY="${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost" '
        "(`ccb launch` does this for its own child)",
    )


def url_checks(ctx: Context, status: EngineStatus | None = None) -> list[Check]:
    return [v1_suffix_check(ctx), localhost_check(ctx), openai_only_check(ctx, status), proxy_check(ctx)]
