"""`ccb setup`: the onboarding wizard's command, and the glue that saves its answer and acts on it.

Does I/O. `test_connection` sends one tiny streamed request along the route `ccb launch` would take (an
in-process bridge on 127.0.0.1 port 0, or straight at the provider's Anthropic endpoint). `save` writes the
profile only after every question was answered, so Ctrl-C anywhere leaves nothing behind. Also offers
`onboard_for_launch`, which `ccb launch` runs on a terminal when there is nothing to launch.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Iterable

import httpx
import typer

from ccb.cli import onboard, render
from ccb.cli.commands.launch import _launch
from ccb.cli.doctor.smoke import stream_request
from ccb.cli.engines.http import auth_headers
from ccb.cli.engines.probe import DEFAULT_PORTS
from ccb.cli.engines.status import EngineStatus
from ccb.cli.errors import CcbError, ExitCode
from ccb.cli.plan import bridge_config, choose_route, direct_base_url, is_local, with_engine_model
from ccb.cli.profile_store import Profile, active_profile, add_profile, load_profiles, set_active
from ccb.cli.redact import mask_key
from ccb.profiles import redact_url
from ccb.proxy.net import is_loopback
from ccb.proxy.runner import RunningBridge, start_bridge

NO_TERMINAL = (
    "`ccb setup` asks questions and needs a terminal; without one, add a profile with "
    "`ccb profile add NAME --preset PRESET --api-key-env VAR [--model MODEL] --activate` "
    "(presets: `ccb profile presets`; running engines: `ccb probe`), then run `ccb launch NAME`"
)
CANCELLED = "setup cancelled; nothing was saved"
TEST_PROMPT = "Reply with the single word: ready"
# A local engine may have to load the model into memory on the first request; hosted APIs answer quickly.
LOCAL_TEST_TIMEOUT_S = 120.0
HOSTED_TEST_TIMEOUT_S = 45.0


def interactive() -> bool:
    """True when both ends are a terminal: questions can be asked and answered."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _hint(status: int, url: str = "", detail: str = "") -> str | None:
    if status in (401, 403):
        return "the key was refused: check it, and that it belongs to this region or product"
    if status == 404:
        return "check the model id and the address"
    if status == 0:
        from ccb.cli.engines.http import unreachable_advice

        return (
            f"no answer: {unreachable_advice(url, detail)}"
            if url and not is_loopback(url)
            else "no answer: is the server running and reachable from this computer?"
        )
    return None


async def test_connection(profile: Profile, status: EngineStatus | None) -> onboard.ConnectionTest:
    """One tiny streamed request through the route `ccb launch` would take, timed to the first token."""
    profile = with_engine_model(profile, status)
    model = profile.slots().get("model")
    key = profile.resolve_key()
    if model is None:
        return onboard.ConnectionTest(False, "not sent", "no model is set", "go back and pick a model")
    if key is None and profile.api_key_env:
        return onboard.ConnectionTest(
            False,
            "not sent",
            f"${profile.api_key_env} is not set in this shell",
            f"export {profile.api_key_env}=... in your shell, then try again",
        )
    route = choose_route(profile, status)
    bridge: RunningBridge | None = None
    quiet = _QuietBridge()  # the test's own warning says what failed; the bridge's log lines stay off the screen
    try:
        if route.kind == "bridge":
            token = "ccb-setup-" + secrets.token_urlsafe(18)
            upstream = redact_url(profile.openai_base_url or profile.base_url)
            via = f"through the ccb bridge to {upstream}"
            try:
                config = bridge_config(profile, token=token, status=status)
                bridge = await start_bridge(config, "127.0.0.1", 0)
            except OSError as exc:
                return onboard.ConnectionTest(False, via, f"the bridge could not start on 127.0.0.1: {exc}")
            base = bridge.url
            headers = auth_headers(token, "bearer", anthropic=True)
        else:
            base = direct_base_url(profile, status)
            via = f"directly to {redact_url(base)}"
            headers = auth_headers(key, profile.auth, anthropic=True)
        timeout = LOCAL_TEST_TIMEOUT_S if is_local(profile) else HOSTED_TEST_TIMEOUT_S
        body = {
            "model": model,
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": TEST_PROMPT}],
        }
        async with httpx.AsyncClient(follow_redirects=False, trust_env=not is_loopback(base)) as client:
            result = await stream_request(client, base + "/v1/messages", headers, body, timeout)
    finally:
        if bridge is not None:
            await bridge.stop()
        quiet.close()
    if result.error is not None:
        # Some providers quote part of a rejected key in their error text: never show more than its tail.
        detail = result.error.replace(key, mask_key(key)) if key else result.error
        upstream = profile.base_url if route.kind == "direct" else (profile.openai_base_url or profile.base_url)
        return onboard.ConnectionTest(False, via, detail, _hint(result.status, upstream, detail))
    if not result.stopped:
        return onboard.ConnectionTest(False, via, "the answer stopped half-way", "check the server's log")
    first = f"first token after {result.ttft_s:.2f} s" if result.ttft_s is not None else "no text streamed"
    said = " ".join(result.text.split())
    answer = f', the model said "{said[:60]}"' if said else ""
    return onboard.ConnectionTest(True, via, f"{first}{answer} (total {result.elapsed_s:.2f} s)")


class _QuietBridge:
    """While it lives, the in-process bridge's log records go nowhere unless a handler already takes them."""

    def __init__(self) -> None:
        import logging

        self.logger = logging.getLogger("ccb.bridge")
        self.handler: logging.Handler | None = None
        if not self.logger.handlers:
            self.handler = logging.NullHandler()
            self.logger.addHandler(self.handler)

    def close(self) -> None:
        if self.handler is not None:
            self.logger.removeHandler(self.handler)


def save(choices: onboard.OnboardingChoices) -> None:
    """Store the profile; it becomes ccb's active one when there is none yet."""
    profile = choices.profile
    add_profile(profile)
    render.info(f"Saved profile '{profile.name}' ({profile.protocol}, {redact_url(profile.base_url)}).")
    if profile.api_key:
        render.info("The key is kept in ccb's profile file, readable by you only, and shown nowhere.")
    if not choices.tested:
        render.warn(f"saved without a passing test; `ccb doctor --profile {profile.name}` shows what fails")
    if active_profile() is None:
        set_active(profile.name)
        render.info(f"'{profile.name}' is now ccb's active profile: plain `ccb launch` uses it.")


def _switch(name: str) -> None:
    from ccb.cli.switch import switch

    done = switch(name)
    where = "through a background bridge at" if done.daemon else "at"
    render.info(f"Plain `claude` now uses '{name}' {where} {done.base_url}. Undo with `ccb restore`.")


def _cancelled() -> CcbError:
    return CcbError(CANCELLED, exit_code=ExitCode.INTERRUPTED)


def run_setup(*, ports: Iterable[int] = DEFAULT_PORTS) -> str | None:
    """Run the wizard, save, and act on the last answer. Returns the profile to launch, if that was chosen."""
    try:
        choices = asyncio.run(onboard.run_wizard(test_connection, ports=ports))
    except (onboard.Cancelled, KeyboardInterrupt):
        raise _cancelled() from None
    save(choices)
    name = choices.profile.name
    if choices.action == "launch":
        return name
    if choices.action == "switch":
        _switch(name)
    else:
        render.info(
            f"Start Claude Code on it with `ccb launch {name}`; make plain `claude` use it with "
            f"`ccb profile switch {name}`."
        )
    return None


async def onboard_for_launch(*, ports: Iterable[int] = DEFAULT_PORTS) -> tuple[Profile, EngineStatus | None]:
    """For `ccb launch` on a terminal with nothing to launch: run the wizard, save, hand back the profile."""
    render.info("Nothing to launch yet (no active profile, no engine running): let's set one up.")
    try:
        choices = await onboard.run_wizard(test_connection, ports=ports, launching=True)
    except onboard.Cancelled:
        raise _cancelled() from None
    save(choices)
    return choices.profile, choices.status


def should_onboard() -> bool:
    """Bare `ccb` runs the wizard when it can ask (a terminal) and nothing is set up yet (no profiles)."""
    return interactive() and not load_profiles().profiles


def setup() -> None:
    """What `ccb setup` runs (its help text lives with the command in cli/app.py): the wizard, then its choice."""
    if not interactive():
        raise CcbError(NO_TERMINAL, exit_code=ExitCode.USAGE)
    name = run_setup()
    if name is not None:
        raise typer.Exit(asyncio.run(_launch(name, None, None, False, [])))
