"""Doctor checks about Claude Code itself: the binary, its settings files, env provenance, auth, onboarding.

`binary_checks` runs `claude --version` (a subprocess); every other function is pure over a `Context`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ccb.cli.claude_bin import (
    NATIVE_INSTALL_COMMAND,
    NEWEST_TESTED,
    NPM_INSTALL_COMMAND,
    NPM_PACKAGE,
    OLDEST_TESTED,
    claude_version,
    find_claude,
)
from ccb.cli.claude_versions import issues_for, range_position
from ccb.cli.doctor.context import Check, Context, short_path, shown
from ccb.cli.redact import mask_key

CLOUD_MODES = {
    "CLAUDE_CODE_USE_BEDROCK": "Amazon Bedrock",
    "CLAUDE_CODE_USE_VERTEX": "Google Vertex AI",
    "CLAUDE_CODE_USE_FOUNDRY": "Microsoft Foundry",
}
_FALSY = frozenset({"", "0", "false", "no", "off"})
# Variables whose source doctor reports: everything that decides where requests go, which model answers,
# and how long Claude Code waits.
_TRACKED = frozenset(
    {
        "CLAUDE_CODE_SUBAGENT_MODEL",
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS",
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
        "API_TIMEOUT_MS",
        "CLAUDE_CODE_MAX_RETRIES",
        "CLAUDE_STREAM_IDLE_TIMEOUT_MS",
        "MAX_THINKING_TOKENS",
        "CLAUDE_CODE_EFFORT_LEVEL",
    }
)


def tracked(name: str) -> bool:
    return name.startswith("ANTHROPIC_") or name in _TRACKED


def _conflict_worthy(name: str) -> bool:
    return tracked(name) or name.startswith("CLAUDE_CODE_")


def _on_path(path: Path) -> bool:
    found = shutil.which("claude")
    return found is not None and Path(found).absolute() == path


@dataclass(frozen=True)
class Installed:
    """The `claude` ccb would run, and the version it reports (None when it is missing or does not answer)."""

    path: Path | None
    version: str | None


def find_installed() -> Installed:
    """Find `claude` and run `claude --version` once."""
    path = find_claude()
    return Installed(path, claude_version(path) if path is not None else None)


def binary_checks(ctx: Context | None = None, installed: Installed | None = None) -> list[Check]:
    """Where `claude` is, whether it runs, which version it is, and that release's known problems as they
    affect the env in `ctx`. Runs `claude --version` once, unless `installed` already says."""
    found = installed if installed is not None else find_installed()
    path = found.path
    if path is None:
        return [
            Check(
                "claude.found",
                "claude",
                "fail",
                "Claude Code (`claude`) is not installed or not on PATH",
                f"install it: `{NPM_INSTALL_COMMAND}` or `{NATIVE_INSTALL_COMMAND}`, then open a new shell",
            ),
            Check("claude.runnable", "claude", "skip", "`claude --version` not run: claude was not found"),
            Check("claude.version", "claude", "skip", "version unknown: claude was not found"),
        ]
    checks: list[Check] = []
    if _on_path(path):
        checks.append(Check("claude.found", "claude", "ok", f"claude found at {short_path(path)}"))
    else:
        checks.append(
            Check(
                "claude.found",
                "claude",
                "warn",
                f"claude is installed at {short_path(path)} but is not on PATH",
                f"add {short_path(path.parent)} to PATH (or restart your shell after installing)",
            )
        )
    version = found.version
    if version is None:
        checks.append(
            Check(
                "claude.runnable",
                "claude",
                "fail",
                f"`{short_path(path)} --version` failed or gave no answer",
                f"run `{path} --version` to see the error; reinstall with `{NPM_INSTALL_COMMAND}` if it is broken",
            )
        )
        checks.append(Check("claude.version", "claude", "skip", "version unknown: claude does not run"))
        return checks
    checks.append(Check("claude.runnable", "claude", "ok", "`claude --version` answers"))
    checks.append(version_check(version))
    checks += issue_checks(version, {k: v.value for k, v in ctx.effective.items()} if ctx is not None else {})
    return checks


def version_check(version: str) -> Check:
    """The installed version against the range ccb is tested with."""
    tested = f"{OLDEST_TESTED} to {NEWEST_TESTED}"
    pin = f"npm install -g {NPM_PACKAGE}@{NEWEST_TESTED}"
    position = range_position(version)
    if position == "inside":
        return Check(
            "claude.version", "claude", "ok", f"Claude Code {version}, inside the range ccb is tested with ({tested})"
        )
    if position == "older":
        return Check(
            "claude.version",
            "claude",
            "warn",
            f"Claude Code {version} is older than the oldest release ccb supports ({OLDEST_TESTED})",
            f"upgrade: `{pin}`",
        )
    if position == "newer":
        return Check(
            "claude.version",
            "claude",
            "warn",
            f"Claude Code {version} is newer than the releases ccb "
            f"is tested with ({tested}); releases change what they send often",
            f"if requests start failing, pin the newest tested release: `{pin}`",
        )
    return Check(
        "claude.version",
        "claude",
        "warn",
        f"`claude --version` printed {version!r}, not a version number ccb can compare",
        f"reinstall a tested release: `{pin}`",
    )


def issue_checks(version: str, env: dict[str, str]) -> list[Check]:
    """One check per known problem of this release: a warning when the set-up Claude Code will see is
    affected, for information otherwise."""
    checks = []
    for issue in issues_for(version):
        if issue.affected is not None and issue.affected(env):
            checks.append(
                Check(f"claude.issue.{issue.id}", "claude", "warn", f"{issue.since}+: {issue.problem}", issue.remedy)
            )
        else:
            checks.append(Check(f"claude.issue.{issue.id}", "claude", "ok", f"{issue.since}+: {issue.summary}"))
    return checks


def onboarding_check(ctx: Context) -> Check:
    name = ctx.profile.name if ctx.profile else "NAME"
    fix = f"`ccb profile switch {name}` or `ccb launch` sets it for you"
    if ctx.global_config is not None and ctx.global_config.get("hasCompletedOnboarding") is True:
        return Check("claude.onboarding", "claude", "ok", "first-run onboarding is marked complete")
    where = short_path(ctx.global_config_path)
    if ctx.global_config is None and ctx.global_config_error is None:
        return Check(
            "claude.onboarding",
            "claude",
            "warn",
            f"{where} does not exist: interactive Claude Code opens with its first-run screens",
            fix,
        )
    return Check(
        "claude.onboarding",
        "claude",
        "warn",
        f"hasCompletedOnboarding is missing in {where}: interactive Claude Code opens with its "
        "first-run screens (theme picker, login) instead of using the profile",
        fix,
    )


def settings_checks(ctx: Context) -> list[Check]:
    """Each settings file Claude Code reads is valid JSON (absent is fine), plus ~/.claude.json."""
    checks: list[Check] = []
    for layer in ctx.layers:
        cid = f"settings.valid.{layer.source}"
        where = short_path(layer.path)
        if layer.error is not None:
            checks.append(
                Check(
                    cid,
                    "settings",
                    "fail",
                    f"{layer.source} settings: {layer.error.split(';')[0]}",
                    f"fix the JSON in {where} or move the file away; `claude -p` silently ignores a broken "
                    "file, so its env, permissions and hooks are lost",
                )
            )
        elif layer.exists:
            checks.append(Check(cid, "settings", "ok", f"{layer.source} settings {where}: valid JSON"))
        else:
            checks.append(Check(cid, "settings", "ok", f"{layer.source} settings {where}: not present"))
    where = short_path(ctx.global_config_path)
    if ctx.global_config_error is not None:
        checks.append(
            Check(
                "settings.valid.global",
                "settings",
                "warn",
                f"{where}: {ctx.global_config_error.split(';')[0]}",
                f"fix or move {where}; Claude Code keeps rotating backups in ~/.claude/backups/",
            )
        )
    elif ctx.global_config is not None:
        checks.append(Check("settings.valid.global", "settings", "ok", f"global config {where}: valid JSON"))
    else:
        checks.append(Check("settings.valid.global", "settings", "ok", f"global config {where}: not present yet"))
    model_layer = next(
        (
            layer
            for layer in reversed(ctx.layers)
            if layer.data is not None and isinstance(layer.data.get("model"), str)
        ),
        None,
    )
    if model_layer is not None and model_layer.data is not None:
        checks.append(
            Check(
                "settings.model",
                "settings",
                "ok",
                f"`model` = {model_layer.data['model']!r} from {ctx.where(model_layer.source)} "
                "(ANTHROPIC_MODEL and --model take precedence)",
            )
        )
    return checks


def provenance_checks(ctx: Context) -> list[Check]:
    """Where each effective ANTHROPIC_* / model / timeout value comes from, and what overrides what."""
    checks: list[Check] = []
    for name in sorted(ctx.effective):
        value = ctx.effective[name]
        if tracked(name):
            checks.append(
                Check(
                    f"env.source.{name}",
                    "env",
                    "ok",
                    f"{name} = {shown(name, value.value)} from {ctx.where(value.source)}",
                )
            )
    for name in sorted(ctx.effective):
        value = ctx.effective[name]
        if not _conflict_worthy(name):
            continue
        losers = [(src, v) for src, v in value.overridden if v != value.value]
        if not losers:
            continue
        lost = " and ".join(f"{shown(name, v)} from {ctx.where(src)}" for src, v in losers)
        finding = f"{name}: {shown(name, value.value)} from {ctx.where(value.source)} overrides {lost}"
        winner_path = short_path(ctx.layer_path(value.source))
        if value.source == "managed":
            fix = (
                f"a managed policy file sets it ({winner_path}); even `ccb launch` cannot override it: "
                "ask your administrator"
            )
        elif value.source == "user" and name in ctx.owned:
            fix = (
                f"ccb wrote it into {winner_path} with `ccb profile switch`: run `ccb restore` to take it "
                "out, or unset the other value"
            )
        else:
            fix = (
                f'keep one: remove "{name}" from the env block of {winner_path}, or drop the other value '
                "(`ccb launch` passes its own values with --settings, which beat both)"
            )
        checks.append(Check(f"env.conflict.{name}", "env", "warn", finding, fix))
    return checks


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in _FALSY


def cloud_check(ctx: Context) -> Check:
    active = [(name, label) for name, label in CLOUD_MODES.items() if _truthy(ctx.value(name))]
    if not active:
        return Check("env.cloud_provider", "env", "ok", "no Bedrock, Vertex or Foundry mode is switched on")
    parts = [
        f"{name}={ctx.value(name)!r} ({label}, from {ctx.where(ctx.effective[name].source)})" for name, label in active
    ]
    names = " ".join(name for name, _ in active)
    return Check(
        "env.cloud_provider",
        "env",
        "fail",
        "; ".join(parts) + ": Claude Code then ignores ANTHROPIC_BASE_URL and talks to that cloud",
        f"unset {names} (remove it from the settings file named above, or `unset {names}` in your shell)",
    )


def auth_checks(ctx: Context) -> list[Check]:
    checks: list[Check] = []
    token, key = ctx.value("ANTHROPIC_AUTH_TOKEN"), ctx.value("ANTHROPIC_API_KEY")
    if token and key:
        t_src, k_src = ctx.effective["ANTHROPIC_AUTH_TOKEN"].source, ctx.effective["ANTHROPIC_API_KEY"].source
        checks.append(
            Check(
                "auth.both_set",
                "auth",
                "warn",
                f"both ANTHROPIC_AUTH_TOKEN ({mask_key(token)}, {ctx.where(t_src)}) and ANTHROPIC_API_KEY "
                f"({mask_key(key)}, {ctx.where(k_src)}) are set: Claude Code sends both headers with -p and "
                'warns "auth may not work as expected" interactively',
                'keep one and set the other to "" (a Bearer token suits most providers); `ccb launch` blanks '
                "the unused one by itself",
            )
        )
    else:
        checks.append(
            Check(
                "auth.both_set",
                "auth",
                "ok",
                "at most one of ANTHROPIC_AUTH_TOKEN and ANTHROPIC_API_KEY is set",
            )
        )
    config = ctx.global_config or {}
    saved = []
    if config.get("oauthAccount"):
        saved.append("a claude.ai OAuth login (oauthAccount)")
    if isinstance(config.get("primaryApiKey"), str) and config["primaryApiKey"]:
        saved.append(f"an API key saved by /login (primaryApiKey {mask_key(config['primaryApiKey'])})")
    where = short_path(ctx.global_config_path)
    if not saved:
        checks.append(Check("auth.saved_login", "auth", "ok", f"no saved login in {where}"))
    elif ctx.profile is None and not ctx.value("ANTHROPIC_BASE_URL"):
        checks.append(
            Check(
                "auth.saved_login",
                "auth",
                "ok",
                f"{' and '.join(saved)} in {where}: used while no other endpoint is configured",
            )
        )
    else:
        target = f"profile '{ctx.profile.name}'" if ctx.profile else "ANTHROPIC_BASE_URL"
        checks.append(
            Check(
                "auth.saved_login",
                "auth",
                "warn",
                f"{' and '.join(saved)} in {where} competes with the token of {target}",
                "run /logout inside Claude Code to drop the saved login, or always start it with "
                "`ccb launch`, which passes the profile's token explicitly",
            )
        )
    return checks
