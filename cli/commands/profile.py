"""`ccb profile ...`: add, list, show, remove and pick profiles; list the built-in presets.

Parses options and prints: storage and validation live in `ccb.cli.profile_store` and `ccb.profiles`.
Data goes to stdout, chatter to stderr. Keys are shown masked only, in every output form.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ccb.cli import profile_store as store
from ccb.cli import render
from ccb.cli.complete import preset_names, profile_names
from ccb.cli.errors import CcbError
from ccb.profiles import CATEGORIES, PresetError, load_presets

if TYPE_CHECKING:
    from ccb.cli.login_service import Service

app = typer.Typer(help="Manage ccb profiles: where a model lives and how to reach it.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]

_CATEGORY_TITLES = {
    "local": "Local engines",
    "anthropic-cloud": "Hosted, native Anthropic endpoint (no bridge needed)",
    "openai-cloud": "Hosted, OpenAI-compatible only (through the bridge)",
    "custom": "Anything else",
}


def _provider(preset_name: str) -> str:
    try:
        return load_presets()[preset_name].display_name
    except (KeyError, PresetError):
        return preset_name  # a profile from a preset this ccb no longer ships still lists


def _view(profile: store.Profile, active: str | None) -> dict[str, Any]:
    """The `--json` shape of one profile (documented in docs/profiles.md)."""
    return {
        **profile.to_public_dict(),
        "provider": _provider(profile.preset),
        "active": profile.name == active,
    }


def _models_summary(slots: dict[str, str]) -> str:
    main = slots.get("model")
    if not main:
        return "(none: set --model)"
    others = [f"{slot}: {value}" for slot, value in slots.items() if slot != "model" and value != main]
    return main + (f" ({', '.join(others)})" if others else "")


def _web_search_summary(spec: str, key_env: str | None) -> str:
    from ccb.proxy.websearch.spec import SpecError, parse_spec

    try:
        backend = parse_spec(spec, key_env)
    except SpecError:
        return spec
    if not backend.key_env:
        return f"{backend.label} at {spec}"
    state = "set" if os.environ.get(backend.key_env) else "not set in this shell"
    return f"{backend.label} at {backend.url}, key from ${backend.key_env} ({state})"


def _key_summary(view: dict[str, Any]) -> str:
    if view["key_source"] == "literal":
        return f"{view['api_key']} (stored in profiles.json)"
    if view["key_source"] == "env":
        state = "set" if view["key_available"] else "not set in this shell"
        return f"from ${view['api_key_env']} ({state})"
    return "none"


def _print_details(view: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = [
        ("name", view["name"] + ("  (active)" if view["active"] else "")),
        ("provider", f"{view['provider']} [preset {view['preset']}]"),
        ("protocol", view["protocol"]),
        ("base URL", view["base_url"]),
    ]
    if view["openai_base_url"] and view["openai_base_url"] != view["base_url"]:
        rows.append(("OpenAI URL", view["openai_base_url"]))
    optional = [("region", view["region"]), ("engine", view["engine"]), ("context", view["context_length"])]
    rows += [(label, str(value)) for label, value in optional if value is not None]
    rows += [("auth", view["auth"]), ("key", _key_summary(view))]
    rows += [(slot, value) for slot, value in view["slots"].items()] or [("model", "(none: set --model)")]
    if view["quirks"]:
        rows.append(("quirks", ", ".join(view["quirks"])))
    if view.get("web_search"):
        rows.append(("web search", _web_search_summary(view["web_search"], view.get("web_search_key_env"))))
    rows += [("env", f"{k}={v}") for k, v in view["env"].items()]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        render.out.print(f"{label.ljust(width)}  {value}", markup=False)


@app.command("list")
def list_profiles(json_output: JsonFlag = False) -> None:
    """List your profiles; the active one is marked with *.

    Examples:

        ccb profile list

        ccb profile list --json
    """
    found = store.load_profiles()
    views = [_view(p, found.active) for _, p in sorted(found.profiles.items())]
    if json_output:
        render.print_json({"active": found.active, "profiles": views})
        return
    if not views:
        render.info("No profiles yet. Add one, e.g.: ccb profile add local --preset ollama --activate")
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("", "name", "provider", "protocol"):
        table.add_column(column, overflow="fold")
    table.add_column("models", overflow="ellipsis", no_wrap=True)  # long ids end in …, never split mid-word
    for view in views:
        table.add_row(
            "*" if view["active"] else "",
            Text(view["name"]),
            Text(view["provider"]),
            view["protocol"],
            Text(_models_summary(view["slots"])),
        )
    render.out.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Profile name.", autocompletion=profile_names)],
    json_output: JsonFlag = False,
) -> None:
    """Show one profile in full; the key is masked.

    Examples:

        ccb profile show kimi

        ccb profile show kimi --json
    """
    found = store.load_profiles()
    view = _view(store.get_profile(name), found.active)
    if json_output:
        render.print_json(view)
    else:
        _print_details(view)


def _read_key_from_stdin() -> str:
    line = sys.stdin.readline().strip()
    if not line:
        raise CcbError("--api-key - reads the key from stdin, but stdin was empty")
    return line


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name for the new profile, e.g. kimi or gpu-box.")],
    preset: Annotated[
        str,
        typer.Option(
            "--preset", "-p", help="Built-in preset (see `ccb profile presets`).", autocompletion=preset_names
        ),
    ],
    region: Annotated[str | None, typer.Option(help="Provider region, e.g. cn or intl.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Override the preset's URL.")] = None,
    protocol: Annotated[
        str | None,
        typer.Option(help="anthropic (direct) or openai (through the bridge); default: the preset's."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="Store this key in the profile ('-' reads it from stdin)."),
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Read the key from this environment variable.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Main model; unset slots follow it.")] = None,
    opus_model: Annotated[str | None, typer.Option("--opus-model", help="Model for the opus slot.")] = None,
    sonnet_model: Annotated[str | None, typer.Option("--sonnet-model", help="Model for the sonnet slot.")] = None,
    haiku_model: Annotated[str | None, typer.Option("--haiku-model", help="Model for the haiku slot.")] = None,
    subagent_model: Annotated[str | None, typer.Option("--subagent-model", help="Model for subagents.")] = None,
    context_length: Annotated[
        int | None, typer.Option("--context-length", min=1, help="Context window in tokens.")
    ] = None,
    web_search: Annotated[
        str | None,
        typer.Option("--web-search", help="Search backend for WebSearch: a SearXNG URL, brave or tavily."),
    ] = None,
    web_search_key_env: Annotated[
        str | None,
        typer.Option("--web-search-key-env", help="Variable holding the Brave/Tavily key, if not the usual one."),
    ] = None,
    activate: Annotated[bool, typer.Option("--activate", help="Make it the active profile.")] = False,
    model_file: Annotated[
        str | None,
        typer.Option(
            "--model-file",
            help="GGUF model for the built-in engine (--preset embedded): a file, or a "
            "Hugging Face reference org/repo:QUANT.",
        ),
    ] = None,
    shared_engine: Annotated[
        bool,
        typer.Option(
            "--shared-engine",
            help="The engine serves a team: `ccb launch` keeps Claude Code's prompt "
            "prefix identical across users (--exclude-dynamic-system-prompt-sections).",
        ),
    ] = False,
) -> None:
    """Add a profile from a built-in preset.

    The key is kept as a reference to an environment variable by default
    (the preset's usual one, e.g. MOONSHOT_API_KEY). --api-key stores a
    literal key in profiles.json (mode 0600); --api-key - reads it from
    stdin, which keeps it out of your shell history.

    Without --model the preset's suggested models fill the slots; with
    --model, slots you do not set follow that model.

    Examples:

        ccb profile add local --preset ollama --model qwen3-coder:30b --activate

        ccb profile add kimi --preset kimi --region cn

        ccb profile add ds --preset deepseek --api-key-env MY_DEEPSEEK_KEY

        ccb profile add box --preset vllm --base-url http://gpu:8000/v1

        ccb profile add orq --preset openrouter --protocol openai --model qwen/qwen3-coder

        ccb profile add box --preset vllm --web-search http://127.0.0.1:8888

        ccb profile add mine --preset embedded --model-file ~/models/qwen2.5-coder-7b-q4_k_m.gguf
    """
    typed_key = api_key is not None and api_key != "-"
    if api_key == "-":
        api_key = _read_key_from_stdin()
    if model_file is not None or preset == "embedded":
        model = _embedded_model(preset, model_file or model)
    profile = store.profile_from_preset(
        name,
        preset,
        base_url=base_url,
        region=region,
        api_key=api_key,
        api_key_env=api_key_env,
        model=model,
        opus_model=opus_model,
        sonnet_model=sonnet_model,
        haiku_model=haiku_model,
        subagent_model=subagent_model,
        context_length=context_length,
        protocol=protocol,
        web_search=web_search,
        web_search_key_env=web_search_key_env,
    )
    if shared_engine:
        profile = replace(profile, shared_engine=True)
    store.add_profile(profile)
    if activate:
        store.set_active(profile.name)
    view = _view(profile, profile.name if activate else None)
    render.info(f"Added profile '{profile.name}': {view['provider']}, {profile.protocol}, {profile.base_url}")
    render.info(f"Note: {load_presets()[profile.preset].note}")
    if not profile.slots() and load_presets()[profile.preset].category == "local":
        render.info("No model set: ccb launch uses the model the engine has loaded (or pass --model M).")
    elif not profile.slots():
        render.warn(
            f"no model set and the preset suggests none: launch with `ccb launch {profile.name} --model M`, "
            f"or re-add it (`ccb profile remove {profile.name}` first) with --model M"
        )
    if profile.api_key:
        render.info("The key is stored in profiles.json (readable by you only).")
        if typed_key:
            render.warn(
                "a key typed on the command line shows in `ps` to every local user while the command "
                "runs, and stays in your shell history: next time use --api-key - (stdin) or --api-key-env"
            )
    elif profile.api_key_env and not view["key_available"]:
        render.warn(f"${profile.api_key_env} is not set in this shell; set it before running ccb")
    if activate:
        render.info(f"Active profile: {profile.name}")
    else:
        render.info(f"Make it active with: ccb profile use {profile.name}")


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="Profile to remove.", autocompletion=profile_names)],
) -> None:
    """Remove a profile (and clear it as the active one if it was).

    Example:

        ccb profile remove old-box
    """
    was_active = store.load_profiles().active == name
    store.remove_profile(name)
    render.info(f"Removed profile '{name}'" + ("; no profile is active now" if was_active else ""))


@app.command("use")
def use(
    name: Annotated[str, typer.Argument(help="Profile to make active.", autocompletion=profile_names)],
) -> None:
    """Make a profile the active one (what `ccb` uses when no profile is named).

    Example:

        ccb profile use kimi
    """
    store.set_active(name)
    render.info(f"Active profile: {name}")


@app.command("current")
def current(json_output: JsonFlag = False) -> None:
    """Show the active profile, or say that there is none.

    Examples:

        ccb profile current

        ccb profile current --json
    """
    from ccb.cli.switch import current_target

    found = store.load_profiles()
    profile = found.profiles.get(found.active) if found.active else None
    if found.active and profile is None:
        render.warn(f"the active profile '{found.active}' no longer exists; pick one with `ccb profile use NAME`")
    claude = current_target()
    if json_output:
        render.print_json(
            {"active": found.active, "profile": _view(profile, found.active) if profile else None, "claude": claude}
        )
        return
    if profile is None:
        render.info("No active profile. Pick one with `ccb profile use NAME` (see `ccb profile list`).")
    else:
        _print_details(_view(profile, found.active))
    _print_claude_target(claude)


@app.command("switch")
def switch_cmd(
    name: Annotated[
        str,
        typer.Argument(help="Profile plain `claude` should use from now on.", autocompletion=profile_names),
    ],
    json_output: JsonFlag = False,
) -> None:
    """Make plain `claude` use a profile, by merging its env block into ~/.claude/settings.json.

    Only the keys ccb owns are touched (hooks, plugins, permissions and your other env vars stay); the
    first change is backed up, and `ccb restore` puts everything back. An OpenAI-only profile gets a
    background bridge (`ccb serve --status`, `ccb serve --stop`) and a login service (systemd user unit,
    launchd agent) that takes its port back at every login.

    Examples:

        ccb profile switch kimi

        ccb profile switch local-qwen --json
    """
    from ccb.cli.switch import switch

    done = switch(name)
    result = {
        "profile": name,
        "route": done.route.kind,
        "reason": done.route.reason,
        "base_url": done.base_url,
        "settings_file": str(done.applied.path),
        "changed": list(done.applied.changed),
        "backup": str(done.applied.backup) if done.applied.backup else None,
        "bridge": {"pid": done.daemon.pid, "url": done.daemon.url, "log": done.daemon.log} if done.daemon else None,
        "onboarding_set": done.onboarding_set,
        "login_service": _service_dict(done.service),
    }
    if json_output:
        render.print_json(result)
        return
    render.info(
        f"Plain `claude` now uses '{name}' {'through a background bridge at' if done.daemon else 'at'} "
        f"{done.base_url} ({done.route.reason})."
    )
    render.info(
        f"Updated {done.applied.path} ({len(done.applied.changed)} keys)"
        + (f"; backup of the original: {done.applied.backup}" if done.applied.backup else "")
    )
    if done.daemon:
        render.info(
            f"The bridge runs in the background (pid {done.daemon.pid}, log {done.daemon.log}); "
            "`ccb serve --stop` stops it."
        )
        if done.service is not None and done.service.enabled:
            render.info(
                f"A login service ({done.service.path}) starts the bridge's keeper at every login, so its port "
                "stays yours after a reboot or logout."
            )
    if done.service_note:
        render.warn(done.service_note)
    render.info(f"'{name}' is also ccb's active profile now (plain `ccb launch` uses it).")
    render.info("Undo with `ccb restore`. Claude Code sessions already running keep their old settings.")


def _service_dict(service: Service | None) -> dict[str, Any] | None:
    if service is None:
        return None
    return {
        "kind": service.kind,
        "file": str(service.path) if service.path else None,
        "enabled": service.enabled,
        "problem": service.problem,
    }


def _print_claude_target(claude: dict[str, Any]) -> None:
    base = claude.get("ANTHROPIC_BASE_URL")
    model = claude.get("ANTHROPIC_MODEL")
    if not isinstance(base, dict):
        render.out.print("Plain `claude` uses Anthropic's own API (no ANTHROPIC_BASE_URL is set).", markup=False)
    else:
        where = "your shell environment" if base["source"] == "process" else f"{base['source']} settings"
        by = " (written by ccb)" if base.get("by_ccb") else ""
        render.out.print(f"Plain `claude` talks to {base['value']}, set in {where}{by}.", markup=False)
    if isinstance(model, dict):
        render.out.print(f"Its model is {model['value']} (from {model['source']}).", markup=False)
    if claude.get("foreign_listener"):
        render.warn(
            f"another user, {claude['foreign_listener']}, is listening at that address, not your bridge: plain `claude` "
            "would send it your prompts and token. Run `ccb restore` now"
        )
    elif claude.get("bridge_alive") is False:
        from ccb.cli import bridge_daemon

        record = bridge_daemon.read_state()
        active = store.active_profile()
        name = record.profile if record is not None and record.profile else (active.name if active else "NAME")
        render.warn(
            f"nothing answers at that address: start the bridge with `ccb serve --profile {name} --detach` "
            "or undo the switch with `ccb restore`"
        )


@app.command("presets")
def presets(json_output: JsonFlag = False) -> None:
    """List the built-in presets, grouped by category.

    Examples:

        ccb profile presets

        ccb profile presets --json
    """
    by_category: dict[str, list[Any]] = {category: [] for category in CATEGORIES}
    for preset in load_presets().values():
        by_category[preset.category].append(preset)
    if json_output:
        render.print_json({cat: [p.to_dict() for p in items] for cat, items in by_category.items()})
        return
    for category, items in by_category.items():
        if not items:
            continue
        render.out.print(Text(f"{_CATEGORY_TITLES[category]} ({category})", style="bold"))
        table = Table(box=None, pad_edge=False, show_edge=False, show_header=False)
        for _ in range(4):
            table.add_column(overflow="fold")
        for p in items:
            where = f"port {p.port}" if p.port else "/".join(p.region_names) or "your URL"
            key = f"${p.api_key_env}" if p.api_key_env else ("no key" if p.auth == "none" else "key optional")
            table.add_row(Text(p.name), Text(p.display_name), Text(where), Text(key))
        render.out.print(table)
        render.out.print("")


def _embedded_model(preset: str, model_file: str | None) -> str:
    """The model reference an embedded profile stores: an absolute GGUF path, or what llama.cpp fetches."""
    from ccb.cli import embedded

    if preset != embedded.PRESET:
        raise CcbError(f"--model-file is for the built-in engine: use --preset {embedded.PRESET}")
    if not model_file:
        raise CcbError(
            "the built-in engine needs a model: --model-file PATH.gguf (or a Hugging Face reference org/repo:QUANT)"
        )
    if problem := embedded.model_problem(model_file):
        raise CcbError(problem)
    return model_file if embedded.is_reference(model_file) else str(Path(model_file).expanduser().resolve())
