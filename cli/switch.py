"""`ccb profile switch` and `ccb restore`: make plain `claude` use a profile, and undo it. Does I/O.

Only the env keys ccb owns are written into `~/.claude/settings.json` (see `claude_settings`); an
OpenAI-only profile gets a detached bridge that outlives the command, and settings point at it.
"""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ccb.cli import bridge_daemon, login_service, paths
from ccb.cli.claude_settings import ApplyResult, RestoreResult, apply_env, ensure_onboarding, owned_keys, restore
from ccb.cli.errors import CcbError
from ccb.cli.plan import (
    Route,
    choose_route,
    claude_env,
    context_length,
    direct_base_url,
    model_picker,
    with_engine_model,
)
from ccb.cli.profile_store import Profile, set_active


@dataclass(frozen=True)
class Switched:
    profile: Profile
    route: Route
    base_url: str
    applied: ApplyResult
    daemon: bridge_daemon.DaemonState | None
    onboarding_set: bool
    service: login_service.Service | None = None  # what keeps the bridge's port after a reboot or logout
    service_note: str | None = None  # said once: the service could not be enabled here


def switch(name: str) -> Switched:
    from ccb.cli.commands.launch import resolve_profile

    profile, status = asyncio.run(resolve_profile(name))
    if profile.preset == "embedded":  # its engine lives only as long as the command that started it
        raise CcbError(
            f"'{name}' runs on ccb's built-in engine, which lives only as long as the ccb command that started "
            f"it, and plain `claude` needs a bridge that stays up: use `ccb launch {name}` (the engine starts and "
            f"stops with the session), or keep `ccb serve --profile {name}` running in a terminal of its own and "
            "start `claude` with the lines it prints"
        )
    profile = with_engine_model(profile, status)
    route = choose_route(profile, status)
    daemon = None
    token: str | None
    if route.kind == "bridge":
        if "model" not in profile.slots():
            raise CcbError(f"profile '{name}' names no model and the engine lists none; set one with --model")
        daemon = bridge_daemon.start(name, follow_settings=False)  # the settings follow its port below
        base_url, token = daemon.url, daemon.token
    else:
        base_url, token = direct_base_url(profile, status), profile.resolve_key()
        if token is None and profile.api_key_env:
            # Plain `claude` cannot read ccb's env-var reference: the key must be in its settings.
            raise CcbError(
                f"profile '{name}' takes its key from ${profile.api_key_env}, which is not set here; "
                "export it, then run the switch again"
            )
    block = claude_env(
        profile, base_url=base_url, token=token, route=route.kind, context=context_length(profile, status)
    )
    picker = model_picker(profile)
    applied = apply_env(block, top={"modelPicker": picker} if picker is not None else None, profile=name)
    _make_private(applied.path)
    onboarding = ensure_onboarding()
    remember_active_before_switch()
    set_active(name)
    service, note = login_service.after_switch(daemon.port if daemon else None, name)
    return Switched(profile, route, base_url, applied, daemon, onboarding, service, note)


def _make_private(path: Path) -> None:
    """The settings file now holds a key or the bridge token: readable by its owner only."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except OSError:
        pass


def undo() -> RestoreResult:
    return restore()


def current_target() -> dict[str, object]:
    """What plain `claude` will use now, and from which file (user settings and the process env)."""
    from ccb.cli.claude_settings import effective_env, settings_layers

    env = effective_env(settings_layers(Path.cwd()), dict(os.environ))
    owned = owned_keys()
    info: dict[str, object] = {"settings_file": str(paths.claude_settings_file())}
    for key in ("ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL"):
        value = env.get(key)
        info[key] = {"value": value.value, "source": value.source, "by_ccb": key in owned} if value else None
    base = env.get("ANTHROPIC_BASE_URL")
    if base is not None:
        host = urlsplit(base.value).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            info.update(listener_report(base.value))
    return info


def listener_report(url: str) -> dict[str, object]:
    """Who answers at a loopback URL plain `claude` uses: ccb's own bridge (proved with its token, never
    sent), nothing, or a listener of another user (which would receive every prompt and the token)."""
    from ccb.cli.bridge_identity import describe_uid, listener_uid

    state = bridge_daemon.read_state()
    if (
        state is not None
        and state.url.rstrip("/") == url.rstrip("/")
        and bridge_daemon.healthy(url, timeout=1.5, token=state.token)
    ):
        return {"bridge_alive": True}
    port = urlsplit(url).port
    holder = listener_uid(port) if port else None
    if holder is not None and holder != os.getuid():
        return {"bridge_alive": False, "foreign_listener": describe_uid(holder)}
    if state is None or state.url.rstrip("/") != url.rstrip("/"):
        return {"bridge_alive": bridge_daemon.healthy(url, timeout=1.5)}
    return {"bridge_alive": False}


def remember_active_before_switch() -> None:
    """The first switch records which profile was ccb's active one, so that `ccb restore` can put it back."""
    from ccb.cli.fileio import write_json_atomic
    from ccb.cli.profile_store import load_profiles

    if not paths.active_record_file().exists():
        write_json_atomic(paths.active_record_file(), {"active": load_profiles().active}, mode=0o600)


def restore_active() -> str | None:
    """Put back the active profile of before the first switch; the name, or None when nothing was recorded."""
    from ccb.cli.fileio import read_json
    from ccb.cli.profile_store import load_profiles

    record = read_json(paths.active_record_file(), default=None)
    if not isinstance(record, dict):
        return None
    previous = record.get("active")
    paths.active_record_file().unlink(missing_ok=True)
    if not isinstance(previous, str) or previous not in load_profiles().profiles:
        previous = None
    set_active(previous)
    return previous or ""
