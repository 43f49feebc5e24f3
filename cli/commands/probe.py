"""`ccb probe` and `ccb models`: parse options, run the async discovery, print.

Network I/O happens in ccb.cli.engines.

Data goes to stdout (sections, or JSON with --json); hints such as "no engine found" go to stderr.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from rich.markup import escape

from ccb.cli import render
from ccb.cli.complete import profile_names
from ccb.cli.engines.status import EngineStatus, ModelInfo
from ccb.cli.errors import CcbError, ExitCode
from ccb.cli.window import RECOMMENDED_WINDOW
from ccb.proxy.config import AUTH_STYLES as AUTH_SCHEMES
from ccb.proxy.net import printable


def _safe(text: str) -> str:
    """Engine-supplied text (model ids, labels) for the terminal: no markup, no escape sequences."""
    return escape(printable(text))


# The probing modules (httpx and the engine families) load only when a probe runs: every `ccb` start pays
# for what this module imports.

_MAX_MODELS_SHOWN = 12  # per engine in the sections view; --json always carries them all

_STATUS_WORDS = {
    "ok": "ready",
    "needs_key": "needs an API key",
    "loading": "loading its model",
    "not_engine": "not an inference engine",
    "timeout": "timed out",
    "refused": "nothing listening",
    "error": "error",
}

_NOTHING_FOUND_HINT = (
    "no engine found. Start one, for example `ollama serve`, `vllm serve MODEL`, "
    "`llama-server -m MODEL.gguf` "
    "or LM Studio's server, or pass its URL: `ccb probe http://HOST:PORT`."
)


def _key_from_env(var: str | None) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise CcbError(f"environment variable {var} is not set (it should hold the API key)")
    return value


def _verdict(flag: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[flag]


def _ctx_text(model: ModelInfo) -> str:
    parts: list[str] = []
    if model.context_length is not None:
        text = f"context {model.context_length:,}"
        if model.context_length < RECOMMENDED_WINDOW:
            text += " (below the 64k Claude Code needs)"
        parts.append(text)
    if model.max_context_length is not None and model.max_context_length != model.context_length:
        parts.append(f"max {model.max_context_length:,}")
    if model.loaded is True:
        parts.append("loaded")
    elif model.loaded is False:
        parts.append("not loaded")
    if model.capabilities:
        parts.append(",".join(model.capabilities))
    return "  ".join(parts)


def _print_engine(engine: EngineStatus) -> None:
    out = render.out
    if not engine.found:
        # One dim line: the detail already says it plainly ("connection refused", "timed out after 1.5 s").
        reason = engine.detail or _STATUS_WORDS.get(engine.status, engine.status)
        out.print(f"[dim]{_safe(engine.url)}  {_safe(reason)}[/]")
        return
    out.print(f"[bold]{_safe(engine.url)}[/]  {_safe(engine.label)}  {_STATUS_WORDS[engine.status]}")
    if engine.detail:
        out.print(f"  note: {_safe(engine.detail)}")
    out.print(f"  OpenAI base: {_safe(engine.openai_base)}")
    if engine.models:
        out.print("  models:")
        for model in engine.models[:_MAX_MODELS_SHOWN]:
            out.print(f"    {_safe(model.id)}  {_safe(_ctx_text(model))}".rstrip())
        if len(engine.models) > _MAX_MODELS_SHOWN:
            out.print(f"    … and {len(engine.models) - _MAX_MODELS_SHOWN} more (see --json)")
    elif engine.status == "ok":
        out.print("  models: none listed")
    if engine.status == "loading" or engine.kind is None:
        return  # nothing more can be known until it loads or until it is identified
    out.print(f"  native /v1/messages: {_verdict(engine.native_messages)}")
    for name, flag, detail in (
        ("tools", engine.tools, engine.tools_detail),
        ("reasoning", engine.reasoning, engine.reasoning_detail),
    ):
        out.print(f"  {name}: {_verdict(flag)}" + (f" ({_safe(detail)})" if detail else ""))


def probe(
    urls: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="URL",
            help="Engine URLs (root or OpenAI base, e.g. http://127.0.0.1:8000/v1). Default: the usual local ports.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help='Print {"engines": [...]} as JSON (schema in docs/probe.md).')
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.05, max=120.0, help="Seconds to wait for each engine's first answer."),
    ] = 1.5,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", metavar="VAR", help="Environment variable holding the engine's API key."),
    ] = None,
) -> None:
    """Find inference engines and report what they can do.

    Without URLs, probes 127.0.0.1 on ports 11434 (Ollama), 1234 (LM Studio), 8000 (vLLM), 30000 (SGLang)
    and 8080 (llama.cpp) at the same time. For each engine it shows the kind, version, models with their
    context length, whether it serves Anthropic /v1/messages natively, and whether tool calls and reasoning
    are ready. Only read-only requests are sent.

    Examples:

        ccb probe

        ccb probe http://127.0.0.1:8000/v1 --timeout 3

        VLLM_KEY=... ccb probe http://gpu-box:8000 --api-key-env VLLM_KEY --json
    """
    from ccb.cli.engines import probe as engine_probe

    api_key = _key_from_env(api_key_env)
    # `ccb probe 8080`: a bare port means this machine
    urls = [f"http://127.0.0.1:{u}" if u.isdigit() else u for u in urls or []]
    for url in urls:
        try:
            engine_probe.normalise_root(url)
        except ValueError as exc:  # reject a bad URL before probing anything
            raise CcbError(str(exc)) from None
    if urls:
        engines = asyncio.run(engine_probe.probe_urls(urls, api_key=api_key, timeout=timeout))
    else:
        engines = asyncio.run(engine_probe.probe_local(timeout=timeout, ports=engine_probe.DEFAULT_PORTS))
    if json_output:
        render.print_json({"engines": [e.to_dict() for e in engines]})
    else:
        # Found engines first; sorted() is stable, so the input order holds within each group.
        for engine in sorted(engines, key=lambda e: not e.found):
            _print_engine(engine)
    if not any(e.found for e in engines):
        render.info(_NOTHING_FOUND_HINT)


def _resolve_source(
    profile_name: str | None, url: str | None, api_key_env: str | None, auth: str | None
) -> tuple[str, str | None, str]:
    """(base URL, key, auth scheme) from --url and/or a profile; explicit options win over the profile."""
    if profile_name is None and url is None:
        from ccb.cli.profile_store import active_profile

        active = active_profile()
        if active is None:
            raise CcbError(
                "no active profile: name one (ccb models PROFILE) or give a base URL (ccb models --url URL)",
                exit_code=ExitCode.USAGE,
            )
        profile_name = active.name
    base, key, scheme = url, _key_from_env(api_key_env), auth
    if profile_name is not None:
        # Imported here: the profile store is optional for --url use and is developed separately.
        from ccb.cli.profile_store import get_profile

        profile = get_profile(profile_name)
        base = base or profile.openai_base_url or profile.base_url
        if key is None:
            key = profile.resolve_key()
        scheme = scheme or profile.auth
    if not base:
        raise CcbError(f"profile {profile_name!r} has no base URL; pass one with --url")
    return base, key, scheme or "bearer"


def models(
    profile: Annotated[
        str | None,
        typer.Argument(
            metavar="PROFILE",
            help="Profile whose provider or engine to ask (default: the active one).",
            show_default=False,
            autocompletion=profile_names,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Base URL to ask instead of a profile's (OpenAI base or Anthropic root)."),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", metavar="VAR", help="Environment variable holding the API key."),
    ] = None,
    auth: Annotated[
        str | None,
        typer.Option(
            "--auth",
            help=f"How to send the key: {', '.join(AUTH_SCHEMES)}. Default: the profile's, else bearer.",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help='Print {"base_url": ..., "models": [...]} as JSON (docs/probe.md).')
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=300.0, help="Seconds to wait.")] = 10.0,
) -> None:
    """List the models a profile's provider or engine serves.

    Asks GET {base}/models on an OpenAI base URL; on an Anthropic-style root it tries {base}/v1/models,
    then {base}/models. One model per line: its id first, then what is known of its context.

    Examples:

        ccb models --url http://127.0.0.1:11434/v1

        ccb models --url https://api.deepseek.com --api-key-env DEEPSEEK_API_KEY

        ccb models my-profile --json
    """
    base, key, scheme = _resolve_source(profile, url, api_key_env, auth)
    from ccb.cli.engines.http import list_models

    found = asyncio.run(list_models(base, api_key=key, auth=scheme, timeout=timeout))
    if json_output:
        render.print_json({"base_url": base, "models": [m.to_dict() for m in found]})
        return
    if not found:
        render.info(f"{base} lists no models")
        return
    for model in found:
        render.out.print(f"{_safe(model.id)}  {_safe(_ctx_text(model))}".rstrip())
