"""Doctor checks on a local engine's fitness for Claude Code: found, window, tools, reasoning, native API.

Verdicts are pure over an `EngineStatus` from `ccb.cli.engines.probe_url`. The one exception is vLLM, whose
tool-call parser is invisible to GETs: `vllm_tool_probe` sends ONE tiny chat completion with a dummy tool and
`max_tokens: 1` and looks for the 400 that names `--enable-auto-tool-choice` (network I/O, ≈3 s timeout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from ccb.cli.doctor.context import Check, error_message
from ccb.cli.engines.families import facts_for
from ccb.cli.engines.http import client_for, json_body
from ccb.cli.plan import choose_route
from ccb.cli.profile_store import Profile
from ccb.cli.window import RECOMMENDED_WINDOW, engine_verdict, target_window

if TYPE_CHECKING:
    from ccb.cli.engines.status import EngineStatus

_SUBJECTS = {
    "engine.found": "engine probe",
    "engine.context": "context window",
    "engine.tools": "tool calling",
    "engine.reasoning": "reasoning",
    "engine.native_messages": "native /v1/messages",
}
_AUTO_TOOL_MARKER = "--enable-auto-tool-choice"
_DUMMY_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time.",
        "parameters": {"type": "object", "properties": {}, "required": []},
    },
}


def _kind(profile: Profile, status: EngineStatus) -> str:
    return status.kind or profile.engine or "openai"


def found_check(profile: Profile, status: EngineStatus) -> Check:
    kind = _kind(profile, status)
    if status.status == "ok":
        n = len(status.models)
        return Check(
            "engine.found",
            "engine",
            "ok",
            f"{status.label} at {status.url}, serving {n} model{'s' if n != 1 else ''}",
        )
    if status.status == "needs_key":
        return Check(
            "engine.found",
            "engine",
            "fail",
            f"{status.label} at {status.url} wants an API key",
            f"give the profile the engine's key: `ccb profile add {profile.name} --preset {profile.preset} "
            "--api-key-env VAR` (after `ccb profile remove`)",
        )
    if status.status == "loading":
        return Check(
            "engine.found",
            "engine",
            "warn",
            f"{status.label} at {status.url} is still loading its model",
            "wait until loading finishes, then run `ccb doctor` again",
        )
    start = facts_for(kind).start.format(n=RECOMMENDED_WINDOW)
    return Check(
        "engine.found",
        "engine",
        "fail",
        f"no engine answers at {status.url}: {status.detail or status.status}",
        f"{start}; `ccb probe` looks for engines on the usual ports",
    )


def context_check(profile: Profile, status: EngineStatus, claude_version: str | None = None) -> Check:
    """The window against what the installed Claude Code needs (`ccb.cli.window`, the rule `ccb launch` applies):
    fail where launch refuses, warn where it warns."""
    kind = _kind(profile, status)
    ctx = status.context_length
    if ctx is None:
        why = status.detail or "the engine does not report it"
        target = target_window(claude_version)
        return Check(
            "engine.context",
            "engine",
            "warn",
            f"context window unknown ({why})",
            f"make sure the window is at least {target} tokens: {facts_for(kind).window_fix.format(n=target)}",
        )
    verdict = engine_verdict(status, kind=kind, claude_version=claude_version, user_window=profile.context_length)
    if verdict is None:
        return Check("engine.context", "engine", "ok", f"context window {ctx:,} tokens")
    return Check(
        "engine.context", "engine", "fail" if verdict.level == "refuse" else "warn", verdict.problem, verdict.fix
    )


def tools_check(profile: Profile, status: EngineStatus, probed: tuple[bool | None, str] | None = None) -> Check:
    """`probed` is vLLM's answer to the dummy-tool request, when one was made."""
    kind = _kind(profile, status)
    tools, detail = probed if probed is not None else (status.tools, status.tools_detail or "")
    fix = facts_for(kind).tools_fix
    if tools is True:
        return Check("engine.tools", "engine", "ok", f"tool calling available: {detail}")
    if tools is False:
        return Check("engine.tools", "engine", "fail", f"tool calling is not enabled: {detail}", fix)
    return Check(
        "engine.tools",
        "engine",
        "warn",
        f"tool calling support unknown: {detail or 'not reported'}",
        f"the live smoke test below shows whether a tool call comes back; if not: {fix}",
    )


def reasoning_check(profile: Profile, status: EngineStatus) -> Check:
    kind = _kind(profile, status)
    detail = status.reasoning_detail or "not reported"
    parser = facts_for(kind).reasoning_flag
    if status.reasoning is False and parser is not None:
        return Check(
            "engine.reasoning",
            "engine",
            "warn",
            f"reasoning is not separated: {detail}",
            f"for a thinking model, restart with {parser} so thinking arrives as thinking blocks",
        )
    if status.reasoning is True:
        return Check("engine.reasoning", "engine", "ok", f"reasoning separated: {detail}")
    return Check("engine.reasoning", "engine", "ok", f"reasoning: {detail}")


def native_check(profile: Profile, status: EngineStatus) -> Check:
    native = {True: "present", False: "absent", None: "unknown"}[status.native_messages]
    how = "directly" if choose_route(profile, status).kind == "direct" else "through the bridge (see launch.route)"
    return Check(
        "engine.native_messages",
        "engine",
        "ok",
        f"native /v1/messages endpoint {native}; `ccb launch` goes {how}",
    )


def engine_checks(
    profile: Profile,
    status: EngineStatus,
    probed_tools: tuple[bool | None, str] | None = None,
    claude_version: str | None = None,
) -> list[Check]:
    found = found_check(profile, status)
    if status.status != "ok":
        return [
            found,
            *(
                Check(cid, "engine", "skip", f"{what} not checked: the engine is not ready")
                for cid, what in _SUBJECTS.items()
                if cid != "engine.found"
            ),
        ]
    return [
        found,
        context_check(profile, status, claude_version),
        tools_check(profile, status, probed_tools),
        reasoning_check(profile, status),
        native_check(profile, status),
    ]


def skipped_engine(reason: str) -> list[Check]:
    return [Check(cid, "engine", "skip", f"{what}: {reason}") for cid, what in _SUBJECTS.items()]


async def vllm_tool_probe(
    root: str, model: str | None, api_key: str | None, timeout: float = 3.0
) -> tuple[bool | None, str]:
    """Whether vLLM was started with auto tool choice, from ONE request generating at most one token."""
    payload: dict[str, Any] = {
        "model": model or "probe",
        "max_tokens": 1,
        "stream": False,
        "tools": [_DUMMY_TOOL],
        "tool_choice": "auto",
        "messages": [{"role": "user", "content": "Say ok."}],
    }
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with client_for(root, timeout=timeout) as client:
            response = await client.post(root.rstrip("/") + "/v1/chat/completions", json=payload, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"the tool-choice test request failed ({type(exc).__name__})"
    message = error_message(json_body(response), response.text)
    if response.status_code == 200:
        return True, "vLLM accepted a request with tool_choice auto"
    if response.status_code == 400 and _AUTO_TOOL_MARKER in (message + response.text):
        return (
            False,
            'vLLM answered 400: "auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser',
        )
    return None, f"the tool-choice test request answered HTTP {response.status_code}: {message}"
