"""`ccb serve`: run the Anthropic Messages bridge in the foreground. Does network I/O."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

import typer

from ccb.cli import render
from ccb.cli.complete import profile_names
from ccb.cli.embedded import is_embedded
from ccb.cli.errors import CcbError, ExitCode
from ccb.proxy.config import DIALECTS, BridgeConfig, ModelMap, dialect_for
from ccb.proxy.net import is_loopback_host

if TYPE_CHECKING:
    from ccb.cli.engines.status import EngineStatus
    from ccb.cli.profile_store import Profile
    from ccb.proxy.websearch.spec import BridgeFields


def new_token() -> str:
    return "ccb-" + secrets.token_urlsafe(24)


def check_upstream_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CcbError(f"--upstream {url!r} is not an http(s) URL; write it like http://127.0.0.1:8000/v1")
    if parts.username or parts.password:
        # A password in the URL would show in output, logs and `ps`, and aiohttp refuses it next to a key.
        raise CcbError(
            "--upstream must not hold a user:password; pass the key with --upstream-key (or "
            "CCB_UPSTREAM_KEY) and write the URL without it"
        )
    return url.rstrip("/")


def check_secret(name: str, value: str | None) -> None:
    """A key or token with a control character (a stray newline from a pasted file) cannot go in a header."""
    if value is not None and any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise CcbError(f"{name} holds a control character (a stray newline?): set it again without it")


def _warn_typed_secrets() -> None:
    import sys

    typed = [
        opt
        for opt in ("--upstream-key", "--auth-token")
        if any(arg == opt or arg.startswith(opt + "=") for arg in sys.argv[1:])
    ]
    if typed:
        render.warn(
            f"{' and '.join(typed)} on the command line show in `ps` to every local user while the bridge "
            "runs: use CCB_UPSTREAM_KEY / CCB_AUTH_TOKEN in the environment instead"
        )


def serve(
    upstream: Annotated[
        str | None, typer.Option(help="The engine's OpenAI base URL, e.g. http://127.0.0.1:8000/v1.")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="Serve this profile (its URL, key and per-tier models).",
            autocompletion=profile_names,
        ),
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", help="With --profile: run in the background and return.")] = False,
    replace_other: Annotated[
        bool,
        typer.Option("--replace", help="With --detach: take the place of a background bridge serving another profile."),
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the background bridge.")] = False,
    status: Annotated[bool, typer.Option("--status", help="Show the background bridge's state.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="With --status/--stop/--detach: print JSON.")] = False,
    model: Annotated[str | None, typer.Option(help="Engine model every request maps to.")] = None,
    upstream_key: Annotated[
        str | None, typer.Option(help="Key the engine expects (sent as Bearer).", envvar="CCB_UPSTREAM_KEY")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port to listen on (0 picks a free one; default 8765).")] = None,
    auth_token: Annotated[
        str | None, typer.Option(help="Token clients must send; random when omitted.", envvar="CCB_AUTH_TOKEN")
    ] = None,
    context_length: Annotated[
        int | None, typer.Option(help="Engine context window in tokens (read from the engine when omitted).")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help=f"Engine dialect: {', '.join(DIALECTS)} (detected when omitted).")
    ] = None,
    log_bodies: Annotated[bool, typer.Option(help="Log request bodies sent upstream (never keys).")] = False,
    connect_timeout: Annotated[
        float | None, typer.Option(help="Seconds to wait for a connection to the engine (default 10).")
    ] = None,
    first_byte_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds to wait for the engine to start answering; long prompts take long (default 600)."),
    ] = None,
    idle_timeout: Annotated[
        float | None,
        typer.Option(help="Longest silence in seconds inside an answer, keep-alive comments included (default 600)."),
    ] = None,
    web_search: Annotated[
        str | None,
        typer.Option(
            "--web-search",
            help="Search backend for Claude Code's WebSearch: a SearXNG URL, or brave / tavily (keys from BRAVE_API_KEY / TAVILY_API_KEY).",
            envvar="CCB_WEB_SEARCH",
        ),
    ] = None,
    web_search_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the Brave or Tavily key, when not the default.")
    ] = None,
    workers: Annotated[
        str,
        typer.Option(
            "--workers",
            help="Bridge processes sharing the port: a number, or 'auto' (or 0) for one per core. One token, one log.",
        ),
    ] = "1",
    affinity_header: Annotated[
        list[str] | None,
        typer.Option(
            "--affinity-header",
            help="Header that carries Claude Code's session id to the engine, for routers that pin sessions to replicas (repeatable; default x-session-id; 'none' sends none).",
        ),
    ] = None,
) -> None:
    """Run the Anthropic Messages bridge in front of an OpenAI-compatible engine, until Ctrl-C.

    Example:

        ccb serve --upstream http://127.0.0.1:8000/v1 --model Qwen/Qwen3-Coder-30B-A3B-Instruct

    Then point Claude Code at it with the printed ANTHROPIC_BASE_URL and ANTHROPIC_AUTH_TOKEN lines.

        ccb serve --profile local-qwen --detach     # a background bridge for plain `claude`

        ccb serve --status

        ccb serve --stop
    """
    if stop or status:
        _daemon_control(stop=stop, json_output=json_output)
        return
    if detach:
        if not profile:
            raise CcbError("--detach needs --profile NAME (the background bridge serves a saved profile)")
        _detach(profile, port, auth_token, replace=replace_other, json_output=json_output)
        return
    if port is None:
        port = 8765
    _warn_typed_secrets()
    check_secret("the upstream key", upstream_key)
    check_secret("the auth token", auth_token)
    processes = _workers(workers)
    timeouts = _timeouts(connect_timeout, first_byte_timeout, idle_timeout)
    affinity = _affinity(affinity_header)
    searching = _web_search(web_search, web_search_key_env)
    if profile and (upstream or model):  # usage: the profile names both
        raise CcbError(
            "--profile and --upstream/--model exclude each other: the profile names the upstream and the model",
            exit_code=ExitCode.USAGE,
        )
    if profile:
        config, exports = _profile_config(profile, auth_token, context_length, log_bodies)
        _check_host(host, auth_token)
        config = replace(config, **timeouts, **searching)
        if affinity is not None:
            config = replace(config, affinity_headers=affinity)
        _launch_bridge(
            config, host, port, show_token=auth_token is None, exports=exports, workers=processes, profile=profile
        )
        return
    if not upstream or not model:
        raise CcbError(
            "ccb serve needs --upstream URL and --model NAME (e.g. --upstream http://127.0.0.1:8000/v1 "
            "--model qwen3-coder)",
            exit_code=ExitCode.USAGE,
        )
    if engine and engine not in DIALECTS:
        raise CcbError(f"--engine {engine!r} is unknown; choose one of {', '.join(DIALECTS)}")
    if context_length is not None and context_length < 1:
        raise CcbError("--context-length must be a positive number of tokens")
    _check_host(host, auth_token)
    generated = auth_token is None
    token = auth_token or new_token()
    upstream = check_upstream_url(upstream)
    if engine is None:
        engine, found_context = _detect(upstream, upstream_key)
        context_length = context_length or found_context
    config = BridgeConfig(
        upstream=upstream,
        models=ModelMap(default=model),
        upstream_key=upstream_key,
        auth_token=token,
        context_length=context_length,
        dialect=dialect_for(engine),
        log_bodies=log_bodies,
        **timeouts,
        **searching,
    )
    if affinity is not None:
        config = replace(config, affinity_headers=affinity)
    _launch_bridge(
        config,
        host,
        port,
        show_token=generated,
        exports=serve_exports({"ANTHROPIC_MODEL": model}, context_length),
        workers=processes,
    )


def _detach(profile: str, port: int | None, token: str | None, *, replace: bool, json_output: bool) -> None:
    """`--detach`: start the background bridge; another profile's bridge is replaced only with --replace."""
    from ccb.cli import bridge_daemon

    _refuse_builtin_detached(profile)
    other = bridge_daemon.other_profile_running(profile)
    pointed = other is not None and bridge_daemon.settings_port() == other.port
    state = bridge_daemon.start(profile, port=port, token=token, replace=replace)
    replaced = other.profile if other is not None else None
    if json_output:
        render.print_json(
            {"pid": state.pid, "url": state.url, "profile": state.profile, "log": state.log, "replaced": replaced}
        )
        return
    if other is not None:
        render.info(f"Replaced the background bridge for '{other.profile}' (pid {other.pid}).")
    render.info(
        f"background bridge for '{profile}' on {state.url} (pid {state.pid}, log {state.log}); "
        "stop it with `ccb serve --stop`"
    )
    if other is not None and pointed:
        render.warn(
            f"plain `claude` is switched to '{other.profile}' and its settings point at this port: it now talks to "
            f"'{profile}' with '{other.profile}''s model names. `ccb profile switch {profile}` makes them match; "
            f"`ccb profile switch {other.profile}` goes back"
        )


def serve_exports(models: dict[str, str], window: int | None) -> dict[str, str]:
    """The variables `ccb serve` prints after the base URL and token: the model names (a name Claude Code
    does not know is what makes it honour the window below), the engine's window and an output limit."""
    from ccb.cli.plan import window_env

    return {**models, **window_env(window)}


class _Timeouts(TypedDict, total=False):
    connect_timeout: float
    first_byte_timeout: float
    idle_timeout: float


def _timeouts(connect: float | None, first_byte: float | None, idle: float | None) -> _Timeouts:
    """The time limits given on the command line (the rest keep BridgeConfig's defaults)."""
    given = {"connect_timeout": connect, "first_byte_timeout": first_byte, "idle_timeout": idle}
    chosen = _Timeouts()
    for name, value in given.items():
        if value is not None and not value > 0:
            raise CcbError(f"--{name.replace('_', '-')} must be a positive number of seconds")
    if connect is not None:
        chosen["connect_timeout"] = connect
    if first_byte is not None:
        chosen["first_byte_timeout"] = first_byte
    if idle is not None:
        chosen["idle_timeout"] = idle
    return chosen


def _workers(value: str) -> int:
    """`--workers`: a count, or auto/0 for the cores this process may use."""
    if value.strip().lower() in ("auto", "0"):
        from ccb.proxy.workers import cores

        return cores()
    try:
        count = int(value)
    except ValueError:
        count = -1
    if not 1 <= count <= 256:
        raise CcbError(f"--workers {value!r}: give a number of processes (1-256), or auto for one per core")
    return count


def _affinity(names: list[str] | None) -> tuple[str, ...] | None:
    """The affinity headers given on the command line (None when none are: BridgeConfig's default)."""
    if not names:
        return None
    if [n.lower() for n in names] == ["none"]:
        return ()
    from ccb.proxy.affinity import header_name_problem

    for name in names:
        if problem := header_name_problem(name):
            raise CcbError(f"--affinity-header: {problem}")
    return tuple(dict.fromkeys(names))


def _web_search(spec: str | None, key_env: str | None) -> BridgeFields:
    """The bridge's web search settings from --web-search (or CCB_WEB_SEARCH); none when not given."""
    from ccb.proxy.websearch.spec import SpecError, bridge_fields

    try:
        fields = bridge_fields(spec, key_env)
    except SpecError as exc:
        raise CcbError(f"--web-search: {exc}") from exc
    if fields.get("web_search_key_env") and not fields.get("web_search_key"):
        render.warn(
            f"web search needs a key in ${fields['web_search_key_env']}, which is not set: searches will "
            "report the backend as unavailable"
        )
    return fields


def _detect(upstream: str, key: str | None) -> tuple[str | None, int | None]:
    """The engine's dialect and window, from a quick read-only probe; (None, None) when it cannot tell."""
    from ccb.cli.engines.probe import probe_url
    from ccb.cli.engines.status import KIND_LABELS

    status = asyncio.run(probe_url(upstream, api_key=key, timeout=3.0))
    kind = status.kind if status.kind in DIALECTS else None
    if status.status == "ok":
        label = KIND_LABELS.get(status.kind or "", "an OpenAI-compatible server")
        render.info(
            f"engine at {upstream}: {label}"
            + (f" {status.version}" if status.version else "")
            + (f", {status.context_length}-token window" if status.context_length else "")
        )
    else:
        render.warn(
            f"could not identify the engine at {upstream} ({status.detail or status.status}); "
            "using generic OpenAI rules (pass --engine to choose)"
        )
    return kind, status.context_length


MIN_NETWORK_TOKEN = 16  # characters; a network listener's token is all that stands between strangers and keys


def _check_host(host: str, auth_token: str | None) -> None:
    if not is_loopback_host(host) and not auth_token:
        raise CcbError(
            f"refusing to listen on {host} without --auth-token: anyone on the network could use "
            "your engine and keys. Pass --auth-token TOKEN, or keep the default host 127.0.0.1"
        )
    if not is_loopback_host(host) and auth_token and len(auth_token) < MIN_NETWORK_TOKEN:
        raise CcbError(
            f"refusing to listen on {host} with a {len(auth_token)}-character token: on the network it "
            f"must have at least {MIN_NETWORK_TOKEN} (e.g. CCB_AUTH_TOKEN=$(openssl rand -hex 24))"
        )


def _profile_config(
    name: str, auth_token: str | None, context_length: int | None, log_bodies: bool
) -> tuple[BridgeConfig, dict[str, str]]:
    """The bridge's config for a profile, and the variables to print for Claude Code."""
    from ccb.cli.commands.launch import resolve_profile
    from ccb.cli.plan import bridge_config, model_env, with_engine_model

    chosen, found = asyncio.run(resolve_profile(name))
    if chosen.protocol == "anthropic":
        raise CcbError(
            f"profile '{name}' speaks the Anthropic API natively: it needs no bridge. Use "
            f"`ccb launch {name}` or `ccb profile switch {name}`"
        )
    if is_embedded(chosen):
        chosen, found = _start_builtin_engine(chosen)
    chosen = with_engine_model(chosen, found)
    config = bridge_config(chosen, token=auth_token or new_token(), status=found)
    if context_length:
        config = replace(config, context_length=context_length)
    window = config.context_length
    if found is not None and not context_length:
        from ccb.cli.window import engine_verdict

        # The rule `ccb launch` applies: the window Claude Code is told may differ from the engine's.
        verdict = engine_verdict(found, kind=chosen.engine, claude_version=None, user_window=chosen.context_length)
        if verdict is not None:
            render.warn(verdict.line())
            window = verdict.claude_window or window
    return replace(config, log_bodies=log_bodies), serve_exports(model_env(chosen), window)


# The built-in engine's handle, held until this process becomes the bridge: the engine, a child of this
# process, then stays the bridge's child, and stops when the bridge stops (it watches its parent).
_BUILTIN: list[Any] = []


def _start_builtin_engine(profile: Profile) -> tuple[Profile, EngineStatus | None]:
    from ccb.cli.embedded import start_for_profile
    from ccb.cli.window import prompt_size

    live, status, engine = asyncio.run(start_for_profile(profile, minimum=prompt_size(None).minimum_window()))
    _BUILTIN.append(engine)
    return live, status


def _refuse_builtin_detached(name: str) -> None:
    from ccb.cli.profile_store import get_profile

    if is_embedded(get_profile(name)):
        raise CcbError(
            f"'{name}' runs on ccb's built-in engine, which ccb runs only in the foreground, stopped with the "
            f"command that started it: run `ccb serve --profile {name}` in a terminal of its own (Ctrl-C stops "
            f"the engine and the bridge together), or `ccb launch {name}` for one Claude Code session"
        )


def _daemon_control(*, stop: bool, json_output: bool) -> None:
    from ccb.cli import bridge_daemon
    from ccb.cli.claude_settings import owned_keys

    if stop:
        pointed = bridge_daemon.settings_port()
        state = bridge_daemon.stop()
        restored = None
        if state is not None and pointed == state.port and "ANTHROPIC_BASE_URL" in owned_keys():
            # A port nobody holds can be taken by any local user, who would then get every prompt and the
            # token: the settings stop pointing there.
            from ccb.cli.claude_settings import restore

            restored = restore()
            from ccb.cli import login_service

            login_service.remove()  # the settings no longer point at the port: nothing may start there at login
        if json_output:
            render.print_json(
                {
                    "stopped": state is not None,
                    "url": state.url if state else None,
                    "settings_restored": restored is not None,
                }
            )
        elif state is None:
            render.info("No background bridge is running.")
        else:
            render.info(f"Stopped the background bridge on {state.url} (profile '{state.profile}').")
            if restored is not None:
                render.info(
                    f"Took ccb's keys out of {restored.path}: plain `claude` no longer sends prompts to a "
                    f"port anyone could take now; `ccb profile switch {state.profile}` brings it back."
                )
        return
    info = bridge_daemon.status_dict()
    if json_output:
        render.print_json(info)
    elif not info["running"]:
        render.out.print("No background bridge is running.", markup=False)
    else:
        health = "healthy" if info["healthy"] else "NOT answering"
        render.out.print(
            f"Background bridge for '{info['profile']}' on {info['url']} (pid {info['pid']}), {health}; "
            f"log {info['log']}",
            markup=False,
        )


def _launch_bridge(
    config: BridgeConfig,
    host: str,
    port: int,
    *,
    show_token: bool,
    exports: dict[str, str] | None = None,
    workers: int = 1,
    profile: str | None = None,
) -> None:
    """Become the bridge: replace this process with the lean `python -m ccb.proxy serve` entry (same pid,
    same terminal, same signals), so the running bridge does not carry the CLI's modules."""
    import os
    import sys

    from ccb.cli.childproc import python_module_argv, safe_cwd
    from ccb.cli.paths import bridge_log_file
    from ccb.proxy.entry import SPEC_VAR, spec, spec_fd

    check_secret("the engine key", config.upstream_key)
    env = dict(os.environ)
    detached = env.pop("CCB_BRIDGE_DETACHED", None) == "1"
    for name in ("CCB_AUTH_TOKEN", "CCB_UPSTREAM_KEY"):  # read already; /proc/PID/environ must not keep them
        env.pop(name, None)
    from ccb.cli.fileio import ensure_dir
    from ccb.cli.paths import log_dir

    ensure_dir(log_dir())
    text = spec(
        config.to_dict(),
        host,
        port,
        show_token=show_token,
        log=bridge_log_file(),
        exports=exports,
        echo=not detached,
        workers=workers,
        background=profile if detached else None,
    )
    env[SPEC_VAR] = str(spec_fd(text))
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(safe_cwd())  # nothing from the user's project folder may be imported by the bridge
    # A background bridge runs under its keeper, which holds the port for the bridge's whole life.
    os.execve(sys.executable, python_module_argv("ccb.proxy.keeper" if detached else "ccb.proxy", "serve"), env)
