"""Doctor checks on the detached bridge (`ccb serve --profile NAME --detach`) and on loopback base URLs.

Does I/O, all of it on this machine: reads `state_dir()/bridge.json` (absence and garbage are tolerated), ccb's
record of what `ccb profile switch` wrote and its profiles,
asks psutil whether the recorded pid lives, sends `GET {url}/health`, and opens a TCP connection to the
loopback port `ANTHROPIC_BASE_URL` names. The state file holds the bridge token: it is never printed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from urllib.parse import urlsplit

import httpx
import psutil

from ccb.cli.bridge_daemon import DaemonState, load_state
from ccb.cli.bridge_identity import describe_uid, listener_uid, process_is_ours
from ccb.cli.doctor.context import Check, Context, short_path
from ccb.cli.paths import bridge_state_file
from ccb.proxy.net import health_proof, is_loopback

HEALTH_TIMEOUT_S = 3.0
CONNECT_TIMEOUT_S = 1.5


def read_record() -> tuple[DaemonState | None, str | None]:
    """(record, None), (None, problem) for an unreadable file, or (None, None) when there is no file."""
    state, problem = load_state()
    return state, problem.replace(str(bridge_state_file()), short_path(bridge_state_file())) if problem else None


def process_state(pid: int, create_time: float = 0.0) -> str:
    """ "ours" (this user's live ccb bridge, started when recorded), "other" (the pid now belongs to
    something else) or "dead"."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return "dead"
    except psutil.NoSuchProcess:
        return "dead"
    except psutil.AccessDenied:
        return "other"
    # A pid can be recycled after the bridge died: a command line with "serve" in it is no proof.
    return "ours" if process_is_ours(pid, create_time) else "other"


async def health(url: str, token: str | None = None) -> tuple[str, str]:
    """("ok", "") for a ccb bridge (with `token`: one that proved it holds it), ("other", what answered) for
    a stranger, ("none", why) for silence."""
    challenge = secrets.token_hex(16)
    try:
        async with httpx.AsyncClient(follow_redirects=False, timeout=HEALTH_TIMEOUT_S, trust_env=False) as client:
            response = await client.get(url.rstrip("/") + "/health", params={"challenge": challenge})
    except httpx.TimeoutException:
        return "none", f"no answer within {HEALTH_TIMEOUT_S:g} s"
    except httpx.HTTPError as exc:
        return "none", "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and body.get("status") == "ok":
        if token is None or secrets.compare_digest(str(body.get("proof", "")), health_proof(token, challenge)):
            return "ok", ""
        return "other", "a listener that answers like a bridge but cannot prove it holds the bridge token"
    server = response.headers.get("server")
    return "other", f"HTTP {response.status_code}" + (f" from {server}" if server else "")


async def listening(host: str, port: int) -> bool:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


async def daemon_check(record: DaemonState | None, problem: str | None) -> Check:
    if problem is not None:
        return Check(
            "bridge.daemon",
            "bridge",
            "warn",
            f"detached-bridge state: {problem}",
            "`ccb serve --stop` clears it (or delete the file); then `ccb serve --profile NAME --detach`",
        )
    if record is None:
        return Check("bridge.daemon", "bridge", "skip", "no detached bridge is recorded")
    name = record.profile or "NAME"
    restart = f"`ccb serve --profile {name} --detach`"
    proc = process_state(record.pid, record.create_time)
    verdict, what = await health(record.url, record.token)
    log = f"; its log: {record.log}" if record.log else ""
    if proc == "ours" and verdict == "ok":
        return Check(
            "bridge.daemon",
            "bridge",
            "ok",
            f"running for profile '{name}' (pid {record.pid}) at {record.url}, /health ok",
        )
    if proc == "ours":
        return Check(
            "bridge.daemon",
            "bridge",
            "fail",
            f"the bridge process (pid {record.pid}) is alive but {record.url}/health does not answer ({what})",
            f"restart it: `ccb serve --stop`, then {restart}{log}",
        )
    if verdict == "ok":
        return Check(
            "bridge.daemon",
            "bridge",
            "warn",
            f"a bridge answers at {record.url}, but the recorded pid {record.pid} is not running it",
            f"restart it so the record is right: `ccb serve --stop`, then {restart}",
        )
    if verdict == "other":
        return Check(
            "bridge.daemon",
            "bridge",
            "fail",
            f"the bridge (pid {record.pid}) is gone and port {record.port} is taken by another program ({what})",
            f"start the bridge on another port: {restart} --port PORT "
            "(then `ccb profile switch` again so settings follow)",
        )
    return Check(
        "bridge.daemon",
        "bridge",
        "warn",
        f"the detached bridge for '{name}' (pid {record.pid}, port {record.port}) is no longer running",
        f"start it again: {restart}{log}",
    )


async def settings_port_check(ctx: Context, record: DaemonState | None) -> Check | None:
    """A loopback ANTHROPIC_BASE_URL whose port nobody listens on (a bridge that died, say)."""
    base = ctx.effective.get("ANTHROPIC_BASE_URL")
    if base is None or not is_loopback(base.value):
        return None
    parts = urlsplit(base.value)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None  # a malformed port: the base-URL checks speak about the URL itself
    host = parts.hostname or "127.0.0.1"
    where = ctx.where(base.source)
    holder = listener_uid(port)
    if holder is not None and holder != os.getuid():
        return Check(
            "bridge.settings_port",
            "bridge",
            "fail",
            f"ANTHROPIC_BASE_URL from {where} points at {host}:{port}, where another user, {describe_uid(holder)}, listens, "
            "not your bridge: plain `claude` would send that user every prompt and the token",
            "`ccb restore` now (it takes ccb's settings out); then `ccb profile switch NAME` picks a free port",
        )
    if await listening(host, port):
        return Check(
            "bridge.settings_port",
            "bridge",
            "ok",
            f"ANTHROPIC_BASE_URL from {where} points at {host}:{port}, and something listens there",
        )
    name = record.profile if record is not None and record.profile else (ctx.profile.name if ctx.profile else "NAME")
    return Check(
        "bridge.settings_port",
        "bridge",
        "fail",
        f"settings point at a dead port: ANTHROPIC_BASE_URL={base.value} from {where}, but nothing "
        f"listens on {host}:{port}",
        f"`ccb serve --profile {name} --detach` to bring the bridge back, or `ccb restore` to remove "
        "ccb's settings"
        + (
            ""
            if "ANTHROPIC_BASE_URL" in ctx.owned
            else f" (ccb did not write this one: start the server it names, or delete it from {where})"
        ),
    )


def profile_check(record: DaemonState | None) -> Check | None:
    """When plain `claude`'s settings (written by `ccb profile switch`) point at the background bridge: does
    it serve the profile they were switched to? `ccb serve --profile OTHER --detach --replace` can change it."""
    from ccb.cli.bridge_daemon import settings_port
    from ccb.cli.claude_settings import switched_profile
    from ccb.cli.errors import CcbError
    from ccb.cli.profile_store import load_profiles

    if record is None or not record.profile or settings_port() != record.port:
        return None
    try:
        switched, what = switched_profile(), "plain `claude` is switched to"
        if switched is None:  # switched by a ccb that did not record it: the switch made it the active one
            switched, what = load_profiles().active, "ccb's active profile is"
    except CcbError:
        return None
    if switched is None:
        return None
    if switched == record.profile:
        return Check(
            "bridge.profile",
            "bridge",
            "ok",
            f"plain `claude`'s settings point at the background bridge, which serves '{switched}', as switched",
        )
    return Check(
        "bridge.profile",
        "bridge",
        "fail",
        f"{what} '{switched}', but the background bridge its settings point at ({record.url}) serves "
        f"'{record.profile}': plain `claude` gets '{record.profile}''s engine under '{switched}''s model names",
        f"`ccb profile switch {switched}` to put its bridge back, or `ccb profile switch {record.profile}` to "
        f"use '{record.profile}' with matching settings",
    )


def login_service_check(record: DaemonState | None) -> Check | None:
    """While the settings point at ccb's bridge, the login service keeps its port after a reboot or logout."""
    from ccb.cli import login_service
    from ccb.cli.bridge_daemon import settings_port

    port = settings_port()
    service = login_service.status()
    where = short_path(service.path) if service.path else "none"
    if port is None:
        if service.installed:
            return Check(
                "bridge.login_service",
                "bridge",
                "warn",
                f"a login service from an earlier switch ({where}) is still installed, but Claude Code's "
                "settings no longer point at ccb's bridge",
                "`ccb restore` removes it",
            )
        return None
    if service.enabled:
        return Check(
            "bridge.login_service",
            "bridge",
            "ok",
            f"a login service ({service.kind}: {where}) takes 127.0.0.1:{port} back at every login",
        )
    name = record.profile if record is not None and record.profile else "NAME"
    risk = (
        f"after a reboot or logout nothing holds 127.0.0.1:{port}, where plain `claude` sends its prompts "
        "and the token, until the bridge starts again"
    )
    if service.installed:
        return Check(
            "bridge.login_service",
            "bridge",
            "warn",
            f"the login service ({where}) is written but will not run at login ({service.problem}): {risk}",
            f"run `ccb serve --profile {name} --detach` after each login, or `ccb restore` before logging out"
            + ("" if "init" in (service.problem or "") else f"; or `systemctl --user enable {login_service.UNIT}`"),
        )
    return Check(
        "bridge.login_service",
        "bridge",
        "warn",
        f"no login service is installed ({service.problem or where}): {risk}",
        f"`ccb profile switch {name}` installs it",
    )


async def bridge_checks(ctx: Context) -> list[Check]:
    record, problem = read_record()
    daemon, dead_port, service = await asyncio.gather(
        daemon_check(record, problem), settings_port_check(ctx, record), asyncio.to_thread(login_service_check, record)
    )
    matching = profile_check(record)
    return [daemon] + [check for check in (matching, dead_port, service) if check is not None]
