"""Doctor checks on a local engine's fitness for Claude Code: found, window, tools, reasoning, native API.

Verdicts are pure over an `EngineStatus` from `ccb.cli.engines.probe_url`. The one exception is vLLM, whose
tool-call parser is invisible to GETs: `vllm_tool_probe` sends ONE tiny chat completion with a dummy tool and
`max_tokens: 1` and looks for the 400 that names `--enable-auto-tool-choice` (network I/O, ≈3 s timeout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from ccb.cli.doctor.context import Check, error_message
from ccb.cli.plan import MIN_DIRECT_CONTEXT, choose_route
from ccb.cli.profile_store import Profile
from ccb.proxy.net import is_loopback

if TYPE_CHECKING:
    from ccb.cli.engines.status import EngineStatus

_START = {
    "ollama": "start it: `ollama serve`",
    "vllm": ("start it: `vllm serve MODEL --max-model-len 65536 --enable-auto-tool-choice --tool-call-parser PARSER`"),
    "sglang": "start it: `python -m sglang.launch_server --model-path MODEL --tool-call-parser PARSER`",
    "llamacpp": "start it: `llama-server -m MODEL.gguf -c 65536 -np 1`",
    "lmstudio": "start LM Studio's server (`lms server start`) and load a model",
}
_CONTEXT_FIX = {
    "ollama": (
        "restart Ollama with a bigger default window, `OLLAMA_CONTEXT_LENGTH=65536 ollama serve`, or set "
        "`PARAMETER num_ctx 65536` in a Modelfile (its OpenAI and Anthropic endpoints cannot change num_ctx)"
    ),
    "vllm": "restart vLLM with `--max-model-len 65536` (or more, as memory allows)",
    "sglang": "restart SGLang with `--context-length 65536` (it can only narrow the model's trained window)",
    "llamacpp": (
        "restart llama-server with a bigger -c; the window is per slot (-c divided by -np), so use "
        "e.g. `-c 65536 -np 1` or `-c 262144 -np 4`"
    ),
    "lmstudio": (
        "reload the model with a larger window: `lms load MODEL --context-length 65536` (or the context "
        "length setting in LM Studio's model loader)"
    ),
}
_TOOLS_FIX = {
    "vllm": (
        "restart vLLM with `--enable-auto-tool-choice --tool-call-parser PARSER` (e.g. hermes for "
        "Qwen2.5/Qwen3, qwen3_coder for Qwen3-Coder, llama3_json for Llama 3.x, mistral for Mistral)"
    ),
    "sglang": (
        "restart SGLang with `--tool-call-parser PARSER` (e.g. qwen25, qwen3_coder, llama3, mistral); "
        "without it tool calls come back as plain text"
    ),
    "llamacpp": (
        "use a recent llama-server (jinja templates are on by default) or add `--jinja`; if the model's "
        "template has no tool support, pass one with `--chat-template-file`"
    ),
    "ollama": "pick a model with the `tools` capability (`ollama show MODEL` lists them), e.g. qwen3-coder",
    "lmstudio": "load a model LM Studio marks as trained for tool use",
}
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
    start = _START.get(kind, "start the engine")
    return Check(
        "engine.found",
        "engine",
        "fail",
        f"no engine answers at {status.url}: {status.detail or status.status}",
        f"{start}; `ccb probe` looks for engines on the usual ports",
    )


def context_check(profile: Profile, status: EngineStatus) -> Check:
    kind = _kind(profile, status)
    ctx = status.context_length
    fix = _CONTEXT_FIX.get(kind, f"configure the server for a window of at least {MIN_DIRECT_CONTEXT} tokens")
    if ctx is None:
        why = status.detail or "the engine does not report it"
        return Check(
            "engine.context",
            "engine",
            "warn",
            f"context window unknown ({why})",
            f"make sure the window is at least {MIN_DIRECT_CONTEXT} tokens: {fix}",
        )
    if ctx < MIN_DIRECT_CONTEXT:
        trained = next((m.max_context_length for m in status.models if m.max_context_length), None)
        if trained is not None and trained < MIN_DIRECT_CONTEXT:
            # Raising the window past what the model was trained for does not help: another model is needed.
            fix = (
                f"the model itself was trained for only {trained:,} tokens: pick one with a longer window "
                f"(64k or more), then: {fix}"
            )
        return Check(
            "engine.context",
            "engine",
            "fail",
            f"context window {ctx:,} tokens: Claude Code's prompt (20–60k tokens with tools) plus its "
            f"32k max_tokens need at least {MIN_DIRECT_CONTEXT:,}",
            fix,
        )
    return Check("engine.context", "engine", "ok", f"context window {ctx:,} tokens")


def tools_check(profile: Profile, status: EngineStatus, probed: tuple[bool | None, str] | None = None) -> Check:
    """`probed` is vLLM's answer to the dummy-tool request, when one was made."""
    kind = _kind(profile, status)
    tools, detail = probed if probed is not None else (status.tools, status.tools_detail or "")
    fix = _TOOLS_FIX.get(kind, "check the engine's documentation for tool-calling support")
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
    if status.reasoning is False and kind in ("vllm", "sglang", "llamacpp"):
        parser = "`--reasoning-format auto`" if kind == "llamacpp" else "`--reasoning-parser NAME`"
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
    profile: Profile, status: EngineStatus, probed_tools: tuple[bool | None, str] | None = None
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
        context_check(profile, status),
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
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=timeout, trust_env=not is_loopback(root)
        ) as client:
            response = await client.post(root.rstrip("/") + "/v1/chat/completions", json=payload, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"the tool-choice test request failed ({type(exc).__name__})"
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    message = error_message(body, response.text)
    if response.status_code == 200:
        return True, "vLLM accepted a request with tool_choice auto"
    if response.status_code == 400 and _AUTO_TOOL_MARKER in (message + response.text):
        return (
            False,
            'vLLM answered 400: "auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser',
        )
    return None, f"the tool-choice test request answered HTTP {response.status_code}: {message}"
