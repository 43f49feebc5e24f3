"""Doctor checks for a profile on ccb's built-in engine (preset `embedded`, `ccb.cli.embedded`).

Such a profile has no server to probe until ccb starts one: these checks read what launching it needs (the
`engine` extra installed, the model file and its GGUF header, the memory free for its weights and window,
and the window Claude Code would get), and `start` runs the engine the way `ccb launch` does, so that the
usual engine, backend and smoke checks can look at the real thing. Does I/O: reads the model file's header,
asks psutil for free memory, and `start` runs llama.cpp's server as a child on 127.0.0.1.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from ccb.cli import embedded
from ccb.cli.doctor.context import Check
from ccb.cli.errors import CcbError

if TYPE_CHECKING:
    from ccb.cli.profile_store import Profile


def static_checks(profile: Profile, claude_version: str | None) -> tuple[list[Check], bool]:
    """(the checks, whether the engine can be started at all)."""
    from ccb.cli.window import judge_window, prompt_size

    checks = [_extra_check()]
    model = profile.slots().get("model")
    if not model:
        checks.append(
            Check(
                "engine.model",
                "engine",
                "fail",
                f"profile '{profile.name}' names no model for the built-in engine",
                f"`ccb profile add {profile.name} --preset embedded --model-file PATH` (after `ccb profile "
                f"remove {profile.name}`)",
            )
        )
        return checks, False
    if problem := embedded.model_problem(model):
        checks.append(Check("engine.model", "engine", "fail", problem, "give a .gguf file that exists, or a reference"))
        return checks, False
    facts = embedded.model_facts(model)
    if facts.path is None:
        checks.append(
            Check("engine.model", "engine", "ok", f"llama.cpp fetches {model} when the engine starts (cached after)")
        )
        return checks, checks[0].status == "ok"
    trained = f", trained for {facts.trained:,} tokens" if facts.trained else ""
    size = _gib(facts.size) if facts.size else "size unknown"
    checks.append(Check("engine.model", "engine", "ok", f"model file {facts.path} ({size}{trained})"))
    available = embedded.available_memory()
    minimum = prompt_size(claude_version).minimum_window()
    try:
        window = profile.context_length or embedded.size_window(facts, available=available, minimum=minimum)
    except CcbError as exc:
        checks.append(Check("engine.memory", "engine", "fail", exc.message, "free memory, or pick a smaller model"))
        return checks, False
    need = (facts.size or 0) + (facts.kv_bytes_per_token or 0) * window
    checks.append(
        Check(
            "engine.memory",
            "engine",
            "ok",
            f"{_gib(available)} free; the model and a {window:,}-token window take about {_gib(need)}",
        )
    )
    # The chat template's handling of tools shows only once the engine runs (engine.context then says more).
    verdict = judge_window(
        window,
        kind="llamacpp",
        trained=facts.trained,
        claude_version=claude_version,
        tools_in_prompt=None,
        user_window=profile.context_length,
    )
    if verdict is None:
        checks.append(Check("engine.window", "engine", "ok", f"the engine will start with a {window:,}-token window"))
    else:
        checks.append(
            Check(
                "engine.window",
                "engine",
                "warn",
                f"the engine will start with a {window:,}-token window: {verdict.problem}",
                verdict.fix,
            )
        )
    return checks, checks[0].status == "ok"


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _extra_check() -> Check:
    try:
        installed = version("xllamacpp")
    except PackageNotFoundError:
        return Check(
            "engine.extra",
            "engine",
            "fail",
            "llama.cpp's server from PyPI (xllamacpp, ccb's `engine` extra) is not installed",
            embedded.install_command(),
        )
    return Check("engine.extra", "engine", "ok", f"llama.cpp's server is installed (xllamacpp {installed})")
