"""Is an engine's context window big enough for Claude Code? Pure: figures per Claude Code release, a verdict.

Claude Code sends its whole system prompt and every tool definition with the first message, so a window
below that size cannot answer anything; and it refuses client-side ("Prompt is too long", "Context limit
reached") when the window it is told about is below a threshold of its own. Both were measured per release:
the first request of `claude -p hi` (captured on loopback, counted with a GPT-2-style BPE tokenizer, the
JSON of each part), and the threshold by bisecting `CLAUDE_CODE_MAX_CONTEXT_TOKENS` until a request went out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ccb.cli.engines.families import facts_for

# The one window size ccb asks of an engine for Claude Code (64k): below it a session compacts after every few
# tool results (the recommendation, not the hard floor, which `PromptSize.minimum_window` gives per release).
# `ccb launch` goes directly to an engine's native endpoint only from this size, and `ccb probe` flags smaller.
RECOMMENDED_WINDOW = 65536
# Room for a first answer on top of the first request.
ANSWER_ROOM = 4096


@dataclass(frozen=True)
class PromptSize:
    """Claude Code's first request, in tokens, as measured on one release."""

    measured_on: str
    system: int
    tools: int
    first_messages: int  # the user's "hi" wrapped in Claude Code's context reminders
    refuses_below: int  # the smallest window Claude Code will send anything with

    @property
    def first_request(self) -> int:
        return self.system + self.tools + self.first_messages

    @property
    def without_tools(self) -> int:
        return self.system + self.first_messages

    def minimum_window(self) -> int:
        """The smallest window in which Claude Code both sends the first request and gets an answer."""
        need = max(self.refuses_below, self.first_request + ANSWER_ROOM)
        return -(-need // 1024) * 1024


# (first release the figures apply to, the figures); releases before the first entry use it too.
PROMPT_SIZES: tuple[tuple[str, PromptSize], ...] = (
    ("2.1.0", PromptSize("2.1.197", system=1612, tools=17753, first_messages=1735, refuses_below=25088)),
    # 2.1.332: 21 tool definitions inline (12 with the rest deferred to tool search in small windows).
    ("2.1.332", PromptSize("2.1.332", system=1790, tools=16706, first_messages=2691, refuses_below=26368)),
)

BETTER_MODEL = (
    "use a model trained for 64k tokens or more (e.g. Qwen3-Coder or Qwen2.5-Coder-Instruct with 128k+, "
    "Devstral, GLM-4.x), or a hosted provider"
)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def prompt_size(claude_version: str | None) -> PromptSize:
    """The figures for a Claude Code release (the newest measured one when the version is unknown)."""
    if not claude_version or not _key(claude_version):
        return PROMPT_SIZES[-1][1]
    chosen = PROMPT_SIZES[0][1]
    for first, size in PROMPT_SIZES:
        if _key(claude_version) >= _key(first):
            chosen = size
    return chosen


def target_window(claude_version: str | None = None) -> int:
    """The window to ask an engine for: the recommended one, or more if a release ever needs more."""
    return max(RECOMMENDED_WINDOW, prompt_size(claude_version).minimum_window())


@dataclass(frozen=True)
class WindowVerdict:
    level: str  # "refuse" (Claude Code cannot answer) | "warn" (it can, with a cost)
    problem: str
    fix: str
    # The window to tell Claude Code, when it differs from the engine's (see `judge_window`).
    claude_window: int | None = None

    def line(self) -> str:
        return f"{self.problem}. Fix: {self.fix}"


def judge_window(
    window: int | None,
    *,
    kind: str | None,
    trained: int | None = None,
    claude_version: str | None = None,
    tools_in_prompt: bool | None = True,
    user_window: int | None = None,
) -> WindowVerdict | None:
    """None when `window` is unknown or fine for Claude Code; else what is wrong and exactly what to change.

    `trained` is the model's own training window (n_ctx_train, max_position_embeddings): when it is below what
    Claude Code needs, a bigger engine window will not help. `tools_in_prompt` False means the engine's chat
    template drops tool definitions (the prompt is then small, but Claude Code cannot use its tools).
    `user_window` is a window the user set on the profile themselves: it turns a refusal into a warning.
    """
    if window is None:
        return None
    size = prompt_size(claude_version)
    need = size.minimum_window()
    label = f"Claude Code {claude_version}" if claude_version else f"Claude Code ({size.measured_on} figures)"
    engine_fix = facts_for(kind).window_fix.format(n=target_window(claude_version))
    if trained is not None and trained < need:
        fix = (
            f"the model itself was trained for only {trained:,} tokens, so a bigger window will not help "
            f"(engines cap it at the trained length): {BETTER_MODEL}"
        )
    else:
        fix = engine_fix
    if window < need:
        if tools_in_prompt is False and window >= size.without_tools + ANSWER_ROOM // 2:
            return WindowVerdict(
                "warn",
                f"the engine's window is {window:,} tokens and this model's chat template drops tool definitions: "
                f"Claude Code's prompt then fits (about {size.without_tools:,} tokens), but Claude Code cannot read "
                f"files, edit or run commands with it; ccb tells Claude Code the window is {need:,} so that it "
                "sends at all, and the bridge reports real overflows so it compacts",
                f"for real work, {BETTER_MODEL}",
                claude_window=need,
            )
        problem = (
            f"the engine's window is {window:,} tokens, but {label} sends about {size.first_request:,} "
            f"tokens before your first word (system prompt {size.system:,}, tool definitions "
            f"{size.tools:,}, context {size.first_messages:,}) and refuses to send anything with a window "
            f"under {size.refuses_below:,}: it needs {need:,} or more ({RECOMMENDED_WINDOW:,} recommended)"
        )
        if user_window is not None:
            return WindowVerdict("warn", problem + f"; the profile sets {user_window:,} itself, so ccb goes ahead", fix)
        return WindowVerdict("refuse", problem, fix)
    if window < RECOMMENDED_WINDOW:
        return WindowVerdict(
            "warn",
            f"the engine's window is {window:,} tokens: enough for {label}'s first request (about "
            f"{size.first_request:,}), but it will compact after a few file reads ({RECOMMENDED_WINDOW:,} "
            "recommended)",
            fix,
        )
    if trained is not None and trained < need:
        return WindowVerdict(
            "warn",
            f"the engine's window is {window:,} tokens, but the model was trained for only {trained:,}: "
            "past that its answers degrade",
            fix,
        )
    return None


def engine_verdict(
    status: object, *, kind: str | None, claude_version: str | None, user_window: int | None = None
) -> WindowVerdict | None:
    """`judge_window` for what a probe found (an `EngineStatus`): its window, the model's trained window and
    whether its template keeps tool definitions."""
    window = getattr(status, "context_length", None)
    models = getattr(status, "models", ())
    loaded = [m for m in models if m.loaded] or list(models)
    trained = next((m.max_context_length for m in loaded if m.max_context_length), None)
    return judge_window(
        window,
        kind=kind or getattr(status, "kind", None),
        trained=trained,
        claude_version=claude_version,
        tools_in_prompt=getattr(status, "tools", None),
        user_window=user_window,
    )
