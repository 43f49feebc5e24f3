"""`ccb launch`: run Claude Code on a profile, one-shot and supervised. Does I/O.

Resolves the profile, decides the route (direct, or the embedded bridge on 127.0.0.1 with a fresh token),
then runs `claude` as a child with the env block both in its environment and in a `--settings` layer, and
exits with Claude Code's exit code. The bridge lives exactly as long as the child.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from ccb.cli import render
from ccb.cli.claude_bin import NEWEST_TESTED, find_claude, install_hint, install_managed, managed_install_argv
from ccb.cli.claude_settings import effective_env, ensure_onboarding, settings_layers
from ccb.cli.complete import profile_names
from ccb.cli.embedded import is_embedded
from ccb.cli.engines.families import FAMILIES
from ccb.cli.engines.status import EngineStatus
from ccb.cli.errors import CcbError, ExitCode
from ccb.cli.paths import claude_install_dir
from ccb.cli.plan import (
    Route,
    bridge_config,
    choose_route,
    claude_args,
    claude_env,
    context_length,
    direct_base_url,
    is_local,
    launch_settings,
    with_engine_model,
    with_model,
)
from ccb.cli.profile_store import (
    Profile,
    active_profile,
    get_profile,
    load_profiles,
    profile_from_preset,
)
from ccb.cli.redact import masked
from ccb.cli.window import RECOMMENDED_WINDOW, WindowVerdict, engine_verdict
from ccb.proxy.runner import start_bridge

# Arguments after `--` on the command line, set by `main()` before Typer parses the rest.
PASSTHROUGH: list[str] = []


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """`ccb launch kimi -- -p "hi"` → (["launch", "kimi"], ["-p", "hi"]): everything after the first `--`."""
    if "launch" in argv and "--" in argv and argv.index("--") > argv.index("launch"):
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


_LAUNCH_FLAGS = {"--yes", "-y", "--help", "-h"}
_LAUNCH_VALUED = {"--model", "-m", "--claude"}


def misplaced_claude_option(args: list[str]) -> str | None:
    """For `ccb launch NAME --resume x` (a Claude Code option before `--`): the line that says where it goes."""
    if "launch" not in args:
        return None
    rest = args[args.index("launch") + 1 :]
    kept: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in _LAUNCH_VALUED:
            kept += rest[i : i + 2]
            i += 2
            continue
        if arg.startswith("-") and arg not in _LAUNCH_FLAGS and arg.split("=", 1)[0] not in _LAUNCH_VALUED:
            own = " ".join(["ccb", "launch", *kept])
            return (
                f"{arg} is not an option of ccb launch; arguments for Claude Code go after `--`: "
                f"`{own} -- {' '.join(rest[i:])}`"
            )
        kept.append(arg)
        i += 1
    return None


def launch(
    profile: Annotated[
        str | None,
        typer.Argument(
            help="Profile to use (default: the active one).", metavar="PROFILE", autocompletion=profile_names
        ),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model for every slot, this run only.")] = None,
    claude: Annotated[
        str | None, typer.Option("--claude", metavar="PATH", help="Path to the claude executable.")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Answer yes (e.g. install Claude Code when missing).")
    ] = False,
) -> None:
    """Run Claude Code on a profile. Arguments after `--` go to claude unchanged.

    Examples:

        ccb launch                       # the active profile, or a local engine ccb finds

        ccb launch kimi -- -p "explain this repo" --output-format json

        ccb launch ollama --model qwen3-coder:30b
    """
    code = asyncio.run(_launch(profile, model, claude, yes, list(PASSTHROUGH)))
    raise typer.Exit(code)


async def _launch(name: str | None, model: str | None, claude_opt: str | None, yes: bool, args: list[str]) -> int:
    chosen, status = await resolve_profile(name)
    claude = await _claude_binary(claude_opt, yes)
    if not is_embedded(chosen):
        return await _launch_on(with_model(with_engine_model(chosen, status), model), status, claude, args)
    from ccb.cli.claude_bin import claude_version
    from ccb.cli.embedded import start_for_profile
    from ccb.cli.window import prompt_size

    minimum = prompt_size(claude_version(claude)).minimum_window()
    live, status, engine = await start_for_profile(chosen, minimum=minimum)
    try:
        return await _launch_on(with_model(with_engine_model(live, status), model), status, claude, args)
    finally:
        await engine.stop()


async def _launch_on(chosen: Profile, status: EngineStatus | None, claude: Path, args: list[str]) -> int:
    verdict = check_window(chosen, status, claude)
    route = choose_route(chosen, status)
    bridge = None
    token: str | None
    if route.kind == "bridge":
        from ccb.cli.logfile import setup_bridge_log

        setup_bridge_log()
        token = "ccb-" + secrets.token_urlsafe(24)
        config = bridge_config(chosen, token=token, status=status)
        try:
            bridge = await start_bridge(config, "127.0.0.1", 0)
        except OSError as exc:
            raise CcbError(f"cannot start the bridge on 127.0.0.1: {exc}") from exc
        base_url = bridge.url
    else:
        token = chosen.resolve_key()
        if token is None and chosen.api_key_env:
            raise CcbError(
                f"profile '{chosen.name}' takes its key from ${chosen.api_key_env}, which is not set: "
                f"export {chosen.api_key_env}=... or store one with `ccb profile add`"
            )
        base_url = direct_base_url(chosen, status)
    window = context_length(chosen, status)
    if verdict is not None and verdict.claude_window:
        window = verdict.claude_window
    block = claude_env(chosen, base_url=base_url, token=token, route=route.kind, context=window)
    _announce(chosen, route, base_url)
    _warn_overrides(block)
    if ensure_onboarding():
        render.info("set hasCompletedOnboarding in ~/.claude.json so Claude Code starts without its first-run screens")
    from ccb.cli.supervisor import build_child_env, run_claude

    try:
        code = await run_claude(
            claude,
            claude_args(chosen, args),
            build_child_env(os.environ, block),
            settings=launch_settings(chosen, block),
        )
    finally:
        if bridge is not None:
            await bridge.stop()
    if sys.stderr.isatty() and not {"-p", "--print"} & set(args):
        # Claude Code's parting `claude --resume <id>` would resume without the profile.
        render.info(
            f"To resume a session on this profile: `ccb launch {chosen.name} -- --resume <id>` "
            "(or `-- --continue` for the last one)"
        )
    return code


async def resolve_profile(name: str | None) -> tuple[Profile, EngineStatus | None]:
    """The profile to launch and, for local engines, what a probe found there."""
    from ccb.cli.engines.probe import probe_local, probe_url

    status: EngineStatus | None = None
    if name:
        profile = get_profile(name)
    else:
        active = active_profile()
        if active is not None:
            profile = active
        else:
            found = [s for s in await probe_local() if s.status == "ok" and s.kind]
            if not found:
                if sys.stdin.isatty() and sys.stdout.isatty():  # someone to ask: walk them through set-up
                    from ccb.cli.commands.setup import onboard_for_launch

                    return await onboard_for_launch()
                saved = sorted(load_profiles().profiles)
                if saved:
                    raise CcbError(
                        f"no active profile, and no local engine answered on the usual ports: launch "
                        f"one of yours with `ccb launch {saved[0]}`, or make it the default with `ccb "
                        f"profile use {saved[0]}` (profiles: {', '.join(saved)})"
                    )
                raise CcbError(
                    "no profile to launch: none is active and no local engine answered on the usual "
                    "ports. Add one with `ccb profile add NAME --preset PRESET` (see `ccb profile "
                    "presets`), or start an engine and run `ccb probe`"
                )
            status = found[0]
            preset = status.kind if status.kind in FAMILIES else "custom"
            render.info(f"no active profile: using the {status.kind} engine found at {status.url}")
            return profile_from_preset(f"{preset}-local", preset, base_url=status.openai_base), status
    if profile.protocol == "openai" and is_local(profile) and not is_embedded(profile):
        status = await probe_url(profile.base_url, api_key=profile.resolve_key(), timeout=3.0)
        if status.status not in ("ok", "needs_key"):
            raise CcbError(
                f"the engine for profile '{profile.name}' at {profile.base_url} is not answering "
                f"({status.detail or status.status}); start it, or check with `ccb probe`"
            )
    return profile, status


async def _claude_binary(explicit: str | None, yes: bool) -> Path:
    """The `claude` to run; when it is missing, offer (or with --yes, run) ccb's pinned npm install.

    Async because the question is asked inside the running event loop (a blocking prompt would start a second one).
    """
    found = find_claude(explicit)
    if found is not None:
        return found
    if explicit:
        raise CcbError(f"--claude {explicit}: no executable there")
    npm = shutil.which("npm")
    command = shlex.join(["npm", *managed_install_argv()[1:]])
    if npm is not None and not yes and sys.stdin.isatty() and sys.stdout.isatty():
        import questionary

        render.info(
            f"Claude Code is not installed. ccb can install Claude Code {NEWEST_TESTED} (the newest release "
            f"ccb is tested with) into {claude_install_dir()} by running:\n  {command}"
        )
        try:
            answer = await questionary.confirm("Install it now?", default=True).unsafe_ask_async()
        except (KeyboardInterrupt, EOFError):
            raise CcbError("cancelled; nothing was installed", exit_code=ExitCode.INTERRUPTED) from None
        yes = bool(answer)
    if not yes or npm is None:
        raise CcbError(install_hint())
    with render.err.status(f"Installing Claude Code {NEWEST_TESTED} with npm into {claude_install_dir()}…"):
        installed = await asyncio.to_thread(install_managed)
    on_path = shutil.which("claude") is not None
    render.info(
        f"Installed Claude Code {NEWEST_TESTED} at {installed}; ccb finds it there from now on."
        + ("" if on_path else f" To run plain `claude` too, add {installed.parent} to your PATH.")
    )
    return installed


def check_window(profile: Profile, status: EngineStatus | None, claude: Path) -> WindowVerdict | None:
    """Before launching on a local engine: refuse a window Claude Code cannot answer in, warn about a tight one."""
    if status is None or status.context_length is None:
        return None
    trained = [m.max_context_length for m in status.models if m.max_context_length]
    if status.context_length >= RECOMMENDED_WINDOW and all(t >= RECOMMENDED_WINDOW for t in trained):
        return None  # fine for every Claude Code release: no need to ask claude for its version
    from ccb.cli.claude_bin import claude_version

    verdict = engine_verdict(
        status,
        kind=profile.engine or status.kind,
        claude_version=claude_version(claude),
        user_window=profile.context_length,
    )
    if verdict is None:
        return None
    if verdict.level == "refuse":
        raise CcbError(f"Claude Code cannot answer on '{profile.name}': {verdict.line()}")
    render.warn(verdict.line())
    return verdict


def _announce(profile: Profile, route: Route, base_url: str) -> None:
    via = f"through the ccb bridge at {base_url}" if route.kind == "bridge" else f"directly at {base_url}"
    model = profile.slots().get("model", "the provider's default model")
    render.info(f"ccb: Claude Code on '{profile.name}' ({model}) {via}: {route.reason}")


def _warn_overrides(block: dict[str, str]) -> None:
    """Say when the user's own settings files would have overridden the launch block (the --settings layer wins).
    Values `ccb profile switch` wrote there are ccb's own: one line for all of them, not a warning each."""
    from ccb.cli.claude_settings import owned_keys

    ours = set(owned_keys())
    switched = False
    for key, value in effective_env(settings_layers(Path.cwd()), {}).items():
        if key in block and value.value != block[key] and value.source == "user" and key in ours:
            switched = True
        elif key in block and value.value != block[key]:
            shown = masked(key, value.value)
            if value.source == "managed":
                render.warn(
                    f"managed (policy) settings set {key}={shown}; that layer outranks ccb's, so Claude "
                    "Code will use it"
                )
            else:
                render.warn(f"your {value.source} settings set {key}={shown}; ccb overrides it for this session")
    if switched:
        render.info(
            "Plain `claude` is switched to another profile (`ccb profile current`); this session uses "
            "the one above, and the switch stays as it is."
        )
