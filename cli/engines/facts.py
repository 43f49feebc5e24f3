"""What ccb tells a user about one engine family: the `EngineFacts` each engine module declares. No I/O.

`ccb doctor`, `ccb launch` and the setup wizard give the same advice because they read it here: how to start
the engine, how to give it a bigger window, how to turn tool calling on, how to separate thinking, and whether
its native Anthropic endpoint takes Claude Code's requests as they are, and where it listens by default.
`ccb.cli.engines.families` finds the facts by kind.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineFacts:
    """Remedies are imperative sentences; `{n}` in `start` and `window_fix` stands for the window to ask for."""

    start: str
    window_fix: str
    tools_fix: str
    reasoning_flag: str | None = None  # the start flag that splits thinking from the text, where one is needed
    # The native /v1/messages endpoint takes Claude Code's requests as they are (role:system messages,
    # count_tokens, tool_choice), so a big enough window with tool calling may go there directly.
    direct_ok: bool = False
    port: int | None = None  # where the engine listens by default (`ccb probe` looks there)


# An OpenAI-compatible server ccb does not recognise.
GENERIC = EngineFacts(
    start="start the engine",
    window_fix="configure the server for a window of {n} tokens or more",
    tools_fix="check the engine's documentation for tool-calling support",
)
