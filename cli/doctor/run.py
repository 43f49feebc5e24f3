"""`ccb doctor`'s engine: gather what Claude Code will see, run every check, return verdicts in report order.

Does I/O: reads Claude Code's settings files, `~/.claude.json` and ccb's profiles (`gather_context`), runs
`claude --version`, and unless offline talks to the profile's backend and local engine; the detached-bridge
checks only touch this machine. Independent network checks run concurrently, each with a short timeout
(≈3 s; the live smoke test ≈30 s per request). The JSON form is documented in docs/doctor.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccb.cli.claude_settings import effective_env, owned_keys, settings_layers
from ccb.cli.doctor import claude as claude_checks
from ccb.cli.doctor.backend import (
    Listing,
    backend_checks,
    fetch_listing,
    key_check,
    model_check,
    profile_selected_check,
    route_check,
    skipped_backend,
)
from ccb.cli.doctor.bridge import bridge_checks, read_record
from ccb.cli.doctor.context import AREAS, STATUSES, Check, Context, collect_secrets, scrub
from ccb.cli.doctor.engine import engine_checks, skipped_engine, vllm_tool_probe
from ccb.cli.doctor.smoke import run_smoke, skipped_smoke
from ccb.cli.doctor.url import url_checks
from ccb.cli.doctor.websearch import web_search_checks
from ccb.cli.embedded import is_embedded
from ccb.cli.errors import CcbError
from ccb.cli.fileio import read_json
from ccb.cli.paths import claude_global_config_file, embedded_log_file
from ccb.cli.plan import is_local, with_engine_model
from ccb.cli.profile_store import Profile, active_profile, get_profile

if TYPE_CHECKING:
    from ccb.cli.engines.status import EngineStatus

PROBE_TIMEOUT_S = 3.0
OFFLINE = "skipped (--offline)"


def _global_config(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = read_json(path, default=None)
    except CcbError as exc:
        return None, exc.message
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path} is unreadable ({type(exc).__name__})"
    if data is None:
        return None, None
    if not isinstance(data, dict):
        return None, f"{path} is not a JSON object"
    return data, None


def _choose_profile(name: str | None) -> tuple[Profile | None, str, str | None]:
    try:
        if name:
            return get_profile(name), "--profile", None
        found = active_profile()
    except CcbError as exc:
        return None, "", exc.message
    return (found, "active profile", None) if found is not None else (None, "", None)


def gather_context(
    profile_name: str | None, *, offline: bool, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Context:
    """Read every file the offline checks need, once. Never raises for broken files: they become findings."""
    here = cwd or Path.cwd()
    process_env = dict(os.environ if env is None else env)
    layers = tuple(settings_layers(here))
    effective = effective_env(list(layers), process_env)
    config_path = claude_global_config_file()
    config, config_error = _global_config(config_path)
    try:
        owned: Mapping[str, Any] = owned_keys()
    except CcbError:
        owned = {}  # an unreadable ownership record only loses the "ccb put it there" hint
    profile, origin, profile_error = _choose_profile(profile_name)
    record, _ = read_record()
    secrets = collect_secrets(
        process_env,
        effective,
        profile,
        config,
        extra=[record.token] if record is not None and record.token else [],
    )
    return Context(
        layers=layers,
        effective=effective,
        global_config=config,
        global_config_path=config_path,
        global_config_error=config_error,
        owned=owned,
        profile=profile,
        profile_origin=origin,
        profile_error=profile_error,
        offline=offline,
        secrets=secrets,
    )


async def _probe(profile: Profile) -> EngineStatus | None:
    from ccb.cli.engines.probe import probe_url

    try:
        return await probe_url(profile.base_url, api_key=profile.resolve_key(), timeout=PROBE_TIMEOUT_S)
    except ValueError:
        return None  # not an http(s) URL: profile validation normally rules this out


async def _none() -> None:
    return None


def _smoke_blocker(listing: Listing | None, status: EngineStatus | None, probed: bool) -> str | None:
    """Why the smoke test would only repeat an earlier failure, or None when it is worth running."""
    if probed and (status is None or status.status != "ok"):
        return "not run: the local engine is not ready (see engine.found)"
    if listing is not None:
        if listing.final.failure is not None:
            return "not run: the backend did not answer (see backend.reachable)"
        if listing.final.status in (401, 403):
            return "not run: the backend refused the key (see backend.auth)"
    return None


async def run_checks(ctx: Context) -> list[Check]:
    """Every check, grouped by area in report order, with secrets scrubbed from the text."""
    profile = ctx.profile
    online = profile is not None and not ctx.offline
    builtin = profile is not None and is_embedded(profile)  # no server until ccb starts one: see _builtin_checks
    # Like `ccb launch`: only an OpenAI-protocol local engine is probed; its answers decide the route.
    probe_engine = online and profile is not None and profile.protocol == "openai" and is_local(profile) and not builtin
    installed, status, listing, bridge = await asyncio.gather(
        asyncio.to_thread(claude_checks.find_installed),
        _probe(profile) if probe_engine and profile is not None else _none(),
        fetch_listing(profile) if online and profile is not None and not builtin else _none(),
        bridge_checks(ctx),
    )
    checks: list[Check] = [*claude_checks.binary_checks(ctx, installed), claude_checks.onboarding_check(ctx)]
    checks += claude_checks.settings_checks(ctx)
    checks += [*claude_checks.provenance_checks(ctx), claude_checks.cloud_check(ctx)]
    checks += claude_checks.auth_checks(ctx)
    checks += url_checks(ctx, status)
    checks.append(profile_selected_check(ctx))
    if profile is not None:
        checks += [
            key_check(profile),
            model_check(profile),
            route_check(profile, status, probed=probe_engine or builtin),
        ]
        if builtin:
            checks += await _builtin_checks(ctx, profile, installed.version)
        else:
            checks += await _online_checks(ctx, profile, status, listing, probe_engine, installed.version)
    checks += bridge
    checks += await web_search_checks(ctx)
    order = list(AREAS)
    checks.sort(key=lambda c: order.index(c.area) if c.area in order else len(order))  # stable within an area
    return [scrub(c, ctx.secrets) for c in checks]


async def _online_checks(
    ctx: Context,
    profile: Profile,
    status: EngineStatus | None,
    listing: Listing | None,
    probed: bool,
    claude_version: str | None,
) -> list[Check]:
    if ctx.offline:
        found = skipped_backend(OFFLINE)
        if profile.protocol == "openai" and is_local(profile):
            found += skipped_engine(OFFLINE)
        return found + skipped_smoke(OFFLINE)
    found = backend_checks(profile, listing, status) if listing is not None else []
    if probed:
        if status is None:
            found += skipped_engine("not checked: the profile's URL is not an http(s) URL")
        else:
            tools = None
            if status.status == "ok" and status.kind == "vllm" and status.tools is None:
                model = with_engine_model(profile, status).slots().get("model")
                tools = await vllm_tool_probe(status.url, model, profile.resolve_key())
            found += engine_checks(profile, status, tools, claude_version)
    blocker = _smoke_blocker(listing, status, probed)
    if blocker is not None:
        return found + skipped_smoke(blocker)
    return found + await run_smoke(profile, status)


async def _builtin_checks(ctx: Context, profile: Profile, claude_version: str | None) -> list[Check]:
    """ccb's built-in engine: what starting it needs; then, online, the engine started as `ccb launch` would
    start it, checked like any local engine, and stopped."""
    from ccb.cli.doctor.embedded import static_checks
    from ccb.cli.embedded import start_for_profile
    from ccb.cli.window import prompt_size

    found, startable = static_checks(profile, claude_version)
    if ctx.offline or not startable:
        why = OFFLINE if ctx.offline else "not checked: the built-in engine cannot start (see above)"
        return found + skipped_backend(why) + skipped_engine(why) + skipped_smoke(why)
    try:
        live, status, engine = await start_for_profile(
            profile, minimum=prompt_size(claude_version).minimum_window(), quiet=True
        )
    except CcbError as exc:
        why = "not checked: the built-in engine did not start"
        failed = Check("engine.found", "engine", "fail", exc.message, f"see {embedded_log_file()}")
        return [*found, failed, *skipped_backend(why), *skipped_engine(why)[1:], *skipped_smoke(why)]
    found = [c for c in found if c.id != "engine.window"]  # the running engine's own window says it better
    try:
        listing = await fetch_listing(live)
        found += backend_checks(live, listing, status)
        found += [_builtin_fix(c) for c in engine_checks(live, status, None, claude_version)]
        blocker = _smoke_blocker(listing, status, True)
        return found + (skipped_smoke(blocker) if blocker is not None else await run_smoke(live, status))
    finally:
        await engine.stop()


def _builtin_fix(check: Check) -> Check:
    """ccb starts the built-in engine itself: fixes that say to restart llama-server with a flag do not apply."""
    from dataclasses import replace

    if check.status == "ok":
        return check
    if check.id == "engine.tools":
        return replace(
            check,
            fix="ccb already starts it with jinja chat templates: this model's template has no tool support; "
            "pick a GGUF model trained for tool calls (e.g. Qwen2.5-Coder-Instruct, Qwen3-Coder)",
        )
    if check.id == "engine.reasoning":
        return replace(
            check,
            fix="ccb's built-in engine leaves thinking inline; for a thinking model, run llama-server yourself "
            "with `--reasoning-format auto` and use a profile of preset llamacpp",
        )
    return check


def run_doctor(profile_name: str | None, *, offline: bool = False) -> list[Check]:
    return asyncio.run(run_checks(gather_context(profile_name, offline=offline)))


def summary(checks: list[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in STATUSES}


def report(checks: list[Check]) -> dict[str, Any]:
    """The documented `ccb doctor --json` document (docs/doctor.md)."""
    return {"checks": [c.to_dict() for c in checks], "summary": summary(checks)}
