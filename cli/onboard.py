"""Interactive onboarding: the questions `ccb setup` asks, returning a frozen `OnboardingChoices`.

Prompts with questionary, which renders through prompt_toolkit's current app session (tests script it with a
pipe input). Does read-only network I/O (probes local engines, lists models); the connection test is handed
in by the caller (`Tester`). Writes nothing, no profile and no Claude Code settings: the caller
(`ccb.cli.commands.setup`) saves the result, so Ctrl-C at any question leaves no trace.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import questionary
from questionary import Choice, Separator

from ccb.cli import render
from ccb.cli.embedded import NOMINAL_URL
from ccb.cli.embedded import PRESET as EMBEDDED
from ccb.cli.engines.http import list_models
from ccb.cli.engines.probe import DEFAULT_PORTS, probe_local, probe_url
from ccb.cli.engines.status import EngineStatus, ModelInfo
from ccb.cli.errors import CcbError
from ccb.cli.profile_store import NAME_RE, Profile, load_profiles, profile_from_preset
from ccb.cli.redact import key_tail
from ccb.cli.window import RECOMMENDED_WINDOW, WindowVerdict, judge_window, prompt_size
from ccb.profiles import ENGINE_KINDS, ENV_NAME_RE, Preset, load_presets, url_problem

# Above this many models a menu is unwieldy (gateways list hundreds): type with completion instead.
MAX_MENU_MODELS = 30


class Cancelled(Exception):
    """The user pressed Ctrl-C at a question. (Ctrl-C during a network wait raises KeyboardInterrupt.)"""


@dataclass(frozen=True)
class OnboardingChoices:
    """Everything the wizard decided. `profile` is complete and validated but not yet stored."""

    profile: Profile
    action: str  # "launch" | "switch" | "save"
    status: EngineStatus | None = None  # what the probe found, for local engines
    tested: bool = False  # the test request succeeded


@dataclass(frozen=True)
class ConnectionTest:
    """The outcome of one test request. `via` says which route it took, `detail` what happened."""

    ok: bool
    via: str
    detail: str
    hint: str | None = None


# Sends one tiny request through the route `ccb launch` would use for this profile.
Tester = Callable[[Profile, "EngineStatus | None"], Awaitable[ConnectionTest]]


@dataclass(frozen=True)
class Target:
    """The answer to "where does your model run?": a preset, and the running engine when one was found."""

    key: str
    preset: Preset
    status: EngineStatus | None = None


@dataclass(frozen=True)
class Endpoint:
    """How to reach the target: URL, protocol, key. The literal key is kept out of repr."""

    target: Target
    protocol: str
    region: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None
    status: EngineStatus | None = None


async def ask(question: questionary.Question) -> Any:
    """One answer; Ctrl-C (KeyboardInterrupt, or questionary's None) or closed input becomes `Cancelled`."""
    try:
        answer = await question.unsafe_ask_async()
    except (KeyboardInterrupt, EOFError):
        raise Cancelled from None
    if answer is None:
        raise Cancelled
    return answer


def context_warning(
    kind: str | None,
    window: int | None,
    *,
    trained: int | None = None,
    tools: bool | None = True,
    claude_version: str | None = None,
) -> WindowVerdict | None:
    """What is wrong with a local engine's window for the installed Claude Code (cli/window.py), or None."""
    return judge_window(window, kind=kind, trained=trained, claude_version=claude_version, tools_in_prompt=tools)


def installed_claude_version() -> str | None:
    """The version of the `claude` ccb would launch, or None when there is none yet."""
    from ccb.cli.claude_bin import claude_version, find_claude

    found = find_claude()
    return claude_version(found) if found is not None else None


def unique_name(base: str, taken: Iterable[str]) -> str:
    used = set(taken)
    return next(n for n in [base, *(f"{base}-{i}" for i in range(2, len(used) + 3))] if n not in used)


def _engine_title(status: EngineStatus) -> str:
    extra = {"needs_key": ", needs a key", "loading": ", still loading its model"}.get(status.status, "")
    loaded = [m.id for m in status.models if m.loaded] or [m.id for m in status.models[:1]]
    model = f", model {loaded[0]}" if loaded else ""
    return f"{status.label} — running at {urlsplit(status.url).netloc}{model}{extra}"


def target_menu(running: list[EngineStatus]) -> tuple[list[Choice | Separator], dict[str, Target]]:
    """The first question's choices, grouped; running engines first. Pure (apart from loading presets)."""
    presets = load_presets()
    targets: dict[str, Target] = {}
    menu: list[Choice | Separator] = [Separator("── On this computer ──")]
    for i, status in enumerate(running):
        kind = status.kind if status.kind in ENGINE_KINDS else "custom"
        targets[f"engine:{i}"] = Target(f"engine:{i}", presets[kind or "custom"], status)
        menu.append(Choice(_engine_title(status), value=f"engine:{i}"))
    if EMBEDDED in presets:  # first (the default) when nothing runs here: it needs neither an engine nor a key
        targets[f"preset:{EMBEDDED}"] = Target(f"preset:{EMBEDDED}", presets[EMBEDDED])
        menu.append(
            Choice(
                "ccb's built-in engine — runs a GGUF model file on this computer (llama.cpp)",
                value=f"preset:{EMBEDDED}",
            )
        )
    running_kinds = {s.kind for s in running} | {EMBEDDED}
    direct, translated = "works with Claude Code directly", "ccb translates for Claude Code"
    groups = (
        ("local", None, ""),
        ("anthropic-cloud", f"── Hosted, {direct} ──", f" — {direct}"),
        ("openai-cloud", f"── Hosted, {translated} ──", f" — {translated}"),
    )
    for category, header, suffix in groups:
        if header:
            menu.append(Separator(header))
        for preset in presets.values():
            if preset.category != category or (category == "local" and preset.name in running_kinds):
                continue
            title = preset.display_name + (suffix or " — not running now (you will give its address)")
            targets[f"preset:{preset.name}"] = Target(f"preset:{preset.name}", preset)
            menu.append(Choice(title, value=f"preset:{preset.name}"))
    menu += [
        Separator("── Something else ──"),
        Choice("Another server (any address) — you give its URL", value="preset:custom"),
    ]
    targets["preset:custom"] = Target("preset:custom", presets["custom"])
    return menu, targets


async def _ask_target(running: list[EngineStatus], last: Target | None) -> Target:
    menu, targets = target_menu(running)
    default = last.key if last else ("engine:0" if running else None)
    key = await ask(
        questionary.select(
            "Where does the model you want to use run?", choices=menu, default=default, instruction="(arrows, Enter)"
        )
    )
    return targets[key]


async def _ask_key(preset: Preset, *, optional: bool, no_key_first: bool = False) -> tuple[str | None, str | None]:
    """(literal key, env var name): exactly one set, or neither when the user says no key is needed."""
    usual = preset.api_key_env
    choices: list[Choice] = []
    if usual and (value := os.environ.get(usual)):
        tail = f", ends in …{key_tail(value)}" if key_tail(value) else ""
        choices.append(Choice(f"Use ${usual} (set{tail})", value="usual"))
    choices.append(
        Choice("Paste the key now (hidden; kept in ccb's profile file, readable only by you)", value="paste")
    )
    if usual and not os.environ.get(usual):
        choices.append(
            Choice(f"Read it from ${usual} (not set in this shell: export it before launching)", value="usual")
        )
    choices.append(Choice("Read it from another environment variable", value="named"))
    if optional and no_key_first:  # the server answered without one
        choices.insert(0, Choice("No key needed (the server answered without one)", value="none"))
    elif optional:
        choices.append(Choice("No key needed", value="none"))
    who = "the server" if preset.category == "custom" else preset.display_name
    how = await ask(questionary.select(f"API key for {who}:", choices=choices))
    if how in ("usual", "none"):
        return None, usual if how == "usual" else None
    if how == "paste":
        key = await ask(
            questionary.password(
                "Paste the API key (shown as *):",
                validate=lambda text: bool(text.strip()) or "the key is empty: paste it, or Ctrl-C to cancel",
            )
        )
        return str(key).strip(), None
    name = await ask(
        questionary.text(
            "Name of the environment variable holding the key:",
            validate=lambda text: bool(ENV_NAME_RE.match(text.strip())) or "letters, digits and _, e.g. MY_KEY",
        )
    )
    name = str(name).strip()
    if not os.environ.get(name):
        render.warn(f"${name} is not set in this shell; export it before launching")
    return None, name


async def _ask_url(message: str, default: str, *, anthropic_root: bool) -> str:
    def check(text: str) -> bool | str:
        problem = url_problem(text.strip(), anthropic_root=anthropic_root)
        return True if problem is None else f"the address {problem}"

    return str(await ask(questionary.text(message, default=default, validate=check))).strip()


async def _local_endpoint(target: Target) -> Endpoint | None:
    """A running engine as found, or the address of one that was not found (probed until it answers)."""
    preset, status = target.preset, target.status
    url = status.openai_base if status else preset.base_url() or ""
    while status is None or not status.found:
        url = await _ask_url(f"Address of your {preset.display_name} server:", url, anthropic_root=False)
        with render.err.status(f"Checking {url}…"):
            status = await probe_url(url)
        if status.found:
            url = status.openai_base
            break
        render.warn(f"nothing usable at {url}: {status.detail or status.status}")
        again = await ask(
            questionary.select(
                "What now?",
                choices=[
                    Choice("Try again (start the engine first)", value="retry"),
                    Choice("Go back to the list", value="back"),
                    Choice("Continue without it (ccb checks again when launching)", value="continue"),
                ],
            )
        )
        if again == "back":
            return None
        if again == "continue":
            return Endpoint(target, "openai", base_url=url)
    key, env = None, None
    if status.status == "needs_key":
        key, env = await _ask_key(preset, optional=False)
        with render.err.status(f"Checking {status.url} with the key…"):
            status = await probe_url(status.url, api_key=key or os.environ.get(env or "") or None)
    if status.status == "loading":
        render.info("The engine is still loading its model; the connection test may fail until it is done.")
    return Endpoint(target, "openai", base_url=status.openai_base, api_key=key, api_key_env=env, status=status)


async def _hosted_endpoint(target: Target) -> Endpoint:
    preset = target.preset
    region = None
    if len(preset.regions) > 1:
        region = str(
            await ask(
                questionary.select(
                    f"Which {preset.display_name} region is your account in? (keys usually work in one region only)",
                    choices=[
                        Choice(f"{r.name} — {urlsplit(r.url(preset.protocol) or '').hostname}", value=r.name)
                        for r in preset.regions
                    ],
                    default=preset.default_region,
                )
            )
        )
    anthropic = preset.protocol == "anthropic"
    base_url = (
        None
        if not preset.needs_base_url
        else await _ask_url(f"Your {preset.display_name} address ({preset.url_hint}):", "", anthropic_root=anthropic)
    )
    key, env = await _ask_key(preset, optional=False)
    return Endpoint(target, preset.protocol, region=region, base_url=base_url, api_key=key, api_key_env=env)


async def _custom_endpoint(target: Target) -> Endpoint:
    protocol = str(
        await ask(
            questionary.select(
                "Which API does it speak? (if unsure: the first)",
                choices=[
                    Choice(
                        "OpenAI's chat API (/v1/chat/completions: vLLM, TGI, LiteLLM, most servers) — ccb translates",
                        value="openai",
                    ),
                    Choice(
                        "Anthropic's Messages API (/v1/messages) — Claude Code talks to it directly", value="anthropic"
                    ),
                ],
            )
        )
    )
    if protocol == "anthropic":
        url = await _ask_url("Server address (the root, without /v1):", "https://", anthropic_root=True)
    else:
        url = await _ask_url("Server address (e.g. http://gpu-box:8000/v1):", "http://", anthropic_root=False)
        if urlsplit(url).path.strip("/") == "":
            url = url.rstrip("/") + "/v1"  # OpenAI-style servers live under /v1; a bare host means that
    status: EngineStatus | None = None
    if protocol == "openai":  # what the engine entries get: its window, its tools, whether it wants a key
        with render.err.status(f"Checking {url}…"):
            probed = await probe_url(url)
        status = probed if probed.status in ("ok", "needs_key") and probed.kind else None
        if urlsplit(url).hostname == "localhost":
            render.warn(
                "`localhost` may resolve to ::1 first while the engine listens on 127.0.0.1 only; "
                "if the test fails, use http://127.0.0.1:PORT/v1"
            )
    open_server = status is not None and status.status == "ok"
    key, env = await _ask_key(target.preset, optional=True, no_key_first=open_server)
    if status is not None and status.status == "needs_key":
        status = await probe_url(url, api_key=key or os.environ.get(env or "") or None)
        status = status if status.status == "ok" else None
    return Endpoint(target, protocol, base_url=url, api_key=key, api_key_env=env, status=status)


def _draft(endpoint: Endpoint, main: str | None = None, slots: dict[str, str] | None = None) -> Profile:
    got = slots or {}
    return profile_from_preset(
        endpoint.target.preset.name,
        endpoint.target.preset.name,
        base_url=endpoint.base_url,
        region=endpoint.region,
        api_key=endpoint.api_key,
        api_key_env=endpoint.api_key_env,
        protocol=endpoint.protocol,
        model=main,
        opus_model=got.get("opus"),
        sonnet_model=got.get("sonnet"),
        haiku_model=got.get("haiku"),
        subagent_model=got.get("subagent"),
    )


def default_slots(draft: Profile, main: str, ids: list[str]) -> dict[str, str]:
    """Per slot, the preset's suggestion where the provider lists it (or lists nothing), else `main`; a main
    model other than the suggested one means the user knows better, so every slot then follows it."""
    suggested = {
        "opus": draft.opus_model,
        "sonnet": draft.sonnet_model,
        "haiku": draft.haiku_model,
        "subagent": draft.subagent_model,
    }
    if main != (draft.sonnet_model or draft.opus_model):
        return dict.fromkeys(suggested, main)
    return {slot: m if m and (not ids or m in ids) else main for slot, m in suggested.items()}


async def _list(draft: Profile, status: EngineStatus | None) -> tuple[list[ModelInfo], str | None]:
    if status is not None and status.models:
        return list(status.models), None
    base = status.openai_base if status else draft.openai_base_url or draft.base_url
    try:
        with render.err.status("Fetching the list of models…"):
            return await list_models(base, api_key=draft.resolve_key(), auth=draft.auth), None
    except CcbError as exc:
        return [], exc.message


def _model_id_ok(text: str) -> bool | str:
    return bool(text.strip()) and not any(c.isspace() for c in text.strip()) or "one model id, without spaces"


async def _ask_models(endpoint: Endpoint) -> tuple[Profile, WindowVerdict | None]:
    draft = _draft(endpoint)
    models, problem = await _list(draft, endpoint.status)
    ids = sorted({m.id for m in models})
    loaded = [m.id for m in models if m.loaded]
    suggested = draft.sonnet_model or draft.opus_model or (loaded[0] if loaded else None)
    if problem:
        render.warn(f"could not list the models ({problem}); type the model id instead")
    main = ""
    if ids:
        first = [suggested] if suggested in ids else []
        choices = [Choice(f"{m}  (suggested)" if m == suggested else m, value=m) for m in first]
        choices += [Choice(m, value=m) for m in ids if m != suggested]
        choices.append(Choice("Type another model id…", value=""))
        if len(ids) > MAX_MENU_MODELS:
            main = str(
                await ask(
                    questionary.autocomplete(
                        f"Main model ({len(ids)} available; type to search, Tab completes):",
                        choices=ids,
                        default=suggested or "",
                        match_middle=True,
                        validate=_model_id_ok,
                    )
                )
            ).strip()
        else:
            main = str(
                await ask(questionary.select("Main model:", choices=choices, default=first[0] if first else None))
            )
    if not ids or not main:
        example = f" (e.g. {suggested})" if suggested else " (`ccb models --url URL` lists them)"
        main = str(
            await ask(
                questionary.text(
                    f"Model id, as the provider names it{example}:", default=suggested or "", validate=_model_id_ok
                )
            )
        ).strip()
    slots = default_slots(draft, main, ids)
    roles = {"opus": "hardest tasks", "sonnet": "sonnet", "haiku": "quick tasks", "subagent": "subagents"}
    others = ", ".join(f"{roles[slot]}: {m}" for slot, m in slots.items() if m != main)
    render.info(f"Models: {main}" + (f" ({others})" if others else " for everything (including quick tasks)"))
    verdict = None
    if endpoint.status is not None:
        chosen = next((m for m in models if m.id == main), None)
        window = chosen.context_length if chosen and chosen.context_length else endpoint.status.context_length
        trained = chosen.max_context_length if chosen else None
        if window is not None and min(window, trained or window) < RECOMMENDED_WINDOW:
            verdict = context_warning(
                endpoint.status.kind,
                window,
                trained=trained,
                tools=endpoint.status.tools,
                claude_version=installed_claude_version(),
            )
        if verdict is not None and verdict.level == "warn":
            render.warn(verdict.line())
    return _draft(endpoint, main, slots), verdict


async def _test(
    profile: Profile, status: EngineStatus | None, tester: Tester, verdict: WindowVerdict | None = None
) -> tuple[str, bool]:
    """("ok" | "save" | "back", whether the test passed), retrying as long as the user asks. A window Claude
    Code cannot answer in is not tested at all (a tiny request would pass and prove nothing)."""
    if verdict is not None and verdict.level == "refuse":
        render.warn(f"Claude Code cannot answer on this set-up: {verdict.line()}")
        answer = str(
            await ask(
                questionary.select(
                    "What now?",
                    choices=[
                        Choice("Go back and change the settings", value="back"),
                        Choice("Save it anyway (ccb launch will refuse until the window is fixed)", value="save"),
                    ],
                )
            )
        )
        return answer, False
    while True:
        with render.err.status(f"Testing {profile.slots().get('model', 'the model')} with a tiny request…"):
            result = await tester(profile, status)
        if result.ok:
            if verdict is None:
                render.info(f"It works ({result.via}): {result.detail}")
            else:
                render.info(f"The model answered ({result.via}): {result.detail}; with the limits warned about above")
            return "ok", True
        render.warn(f"the test request failed ({result.via}): {result.detail}")
        if result.hint:
            render.info(f"Hint: {result.hint}")
        choices = [Choice("Go back and change the settings", value="back"), Choice("Save it anyway", value="save")]
        if result.via != "not sent":  # a request that was never sent fails the same way again in this process
            choices.insert(0, Choice("Try again", value="retry"))
        answer = str(await ask(questionary.select("What now?", choices=choices)))
        if answer != "retry":
            return answer, False


async def _ask_web_search(profile: Profile) -> Profile:
    """Claude Code's WebSearch through the bridge: a search backend, or none (only for profiles the bridge serves)."""
    if profile.protocol != "openai":
        return profile
    from ccb.proxy.websearch.spec import DEFAULT_KEY_ENVS, SpecError, parse_spec

    current = os.environ.get("CCB_WEB_SEARCH", "")
    choice = str(
        await ask(
            questionary.select(
                "Web search for Claude Code (its WebSearch tool needs a search service when the model is not Claude):",
                choices=[
                    Choice("None for now (WebSearch will say it is not configured)", value="none"),
                    Choice("A SearXNG instance (self-hosted, no key)", value="searxng"),
                    Choice("Brave Search API (key in an environment variable)", value="brave"),
                    Choice("Tavily (key in an environment variable)", value="tavily"),
                ],
            )
        )
    )
    if choice == "none":
        return profile
    if choice == "searxng":

        def check(text: str) -> bool | str:
            try:
                parse_spec(text.strip())
            except SpecError as exc:
                return str(exc)
            return text.strip().startswith(("http://", "https://")) or "write it like http://127.0.0.1:8888"

        url = str(
            await ask(
                questionary.text(
                    "SearXNG address (its JSON API must be on):",
                    default=current if current.startswith("http") else "http://127.0.0.1:8888",
                    validate=check,
                )
            )
        ).strip()
        return replace(profile, web_search=url)
    usual = DEFAULT_KEY_ENVS[choice]
    name = str(
        await ask(
            questionary.text(
                "Name of the environment variable holding its key:",
                default=usual,
                validate=lambda text: bool(ENV_NAME_RE.match(text.strip())) or "letters, digits and _, e.g. MY_KEY",
            )
        )
    ).strip()
    if not os.environ.get(name):
        render.warn(f"${name} is not set in this shell; export it before launching")
    return replace(profile, web_search=choice, web_search_key_env=None if name == usual else name)


async def _ask_name(preset: str, taken: set[str]) -> str:
    def check(text: str) -> bool | str:
        if not NAME_RE.match(text.strip()):
            return "letters, digits, '.', '_' and '-' (start with a letter or digit)"
        return text.strip() not in taken or f"a profile named {text.strip()!r} exists already"

    return str(
        await ask(questionary.text("Name for this profile:", default=unique_name(preset, taken), validate=check))
    ).strip()


async def _ask_action(name: str) -> str:
    return str(
        await ask(
            questionary.select(
                "What next?",
                choices=[
                    Choice(f"Launch Claude Code on it now (`ccb launch {name}`)", value="launch"),
                    Choice(
                        "Make it the default for plain `claude` (edits ~/.claude/settings.json; undo: `ccb restore`)",
                        value="switch",
                    ),
                    Choice("Just save it", value="save"),
                ],
            )
        )
    )


async def run_wizard(
    tester: Tester, *, ports: Iterable[int] = DEFAULT_PORTS, probe_timeout: float = 1.5, launching: bool = False
) -> OnboardingChoices:
    """Ask everything for a working profile: `ports` are probed for local engines, `tester` runs the test
    request, and with `launching` the last question is skipped (the caller launches). Ctrl-C: `Cancelled`."""
    taken = set(load_profiles().profiles)
    render.info("Let's connect Claude Code to a model. Nothing is saved until the end; Ctrl-C cancels.")
    if taken:
        render.info(f"Existing profiles: {', '.join(sorted(taken))} (launch one with `ccb launch NAME`).")
    with render.err.status("Looking for model engines running on this computer…"):
        running = [s for s in await probe_local(ports=ports, timeout=probe_timeout) if s.found]
    render.info(
        f"Found: {', '.join(s.label + ' at ' + s.url for s in running)}."
        if running
        else "No engine is running on the usual ports (Ollama, LM Studio, vLLM, SGLang, llama.cpp)."
    )
    async with AsyncExitStack() as engines:  # a built-in engine started for the test stops with the wizard
        return await _ask_all(tester, running, taken, engines, launching=launching)


async def _ask_all(
    tester: Tester, running: list[EngineStatus], taken: set[str], engines: AsyncExitStack, *, launching: bool
) -> OnboardingChoices:
    last: Target | None = None
    while True:
        last = target = await _ask_target(running, last)
        if target.preset.name == EMBEDDED:
            endpoint = await _embedded_endpoint(target, engines)
            if endpoint is None:
                continue
        elif target.preset.category == "local" or target.status is not None:
            endpoint = await _local_endpoint(target)
            if endpoint is None:
                continue
        elif target.preset.category == "custom":
            endpoint = await _custom_endpoint(target)
        else:
            endpoint = await _hosted_endpoint(target)
        profile, window = await _ask_models(endpoint)
        verdict, tested = await _test(profile, endpoint.status, tester, window)
        if verdict != "back":
            break
    profile = await _ask_web_search(profile)
    name = await _ask_name(profile.preset, taken)
    action = "launch" if launching else await _ask_action(name)
    if profile.preset == EMBEDDED:  # the engine's address and key are for this run only
        profile = replace(profile, base_url=NOMINAL_URL, openai_base_url=None, api_key=None, api_key_env=None)
        return OnboardingChoices(replace(profile, name=name), action, None, tested)
    return OnboardingChoices(replace(profile, name=name), action, endpoint.status, tested)


async def _embedded_endpoint(target: Target, engines: AsyncExitStack) -> Endpoint | None:
    """Start ccb's built-in engine on a model file the user names; None to go back to the list."""
    from ccb.cli import embedded

    try:
        embedded.check_installed()
    except CcbError as exc:
        render.warn(exc.message)
        return None
    while True:
        answer = str(
            await ask(
                questionary.text(
                    "GGUF model file (or a Hugging Face reference, org/repo:QUANT):",
                    validate=lambda text: (
                        embedded.model_problem(text.strip()) or True if text.strip() else "give the model's .gguf file"
                    ),
                )
            )
        ).strip()
        model = answer if embedded.is_reference(answer) else str(Path(answer).expanduser().resolve())
        minimum = prompt_size(installed_claude_version()).minimum_window()
        try:
            engine = await embedded.start(model, minimum=minimum)
        except CcbError as exc:
            render.warn(exc.message)
            again = await ask(
                questionary.select(
                    "What now?",
                    choices=[
                        Choice("Pick another model file", value="retry"),
                        Choice("Go back to the list", value="back"),
                    ],
                )
            )
            if again == "back":
                return None
            continue
        engines.push_async_callback(engine.stop)
        status = await probe_url(engine.url, api_key=engine.key, timeout=10.0)
        return Endpoint(target, "openai", base_url=engine.url, api_key=engine.key, status=status)
