"""Claude Code releases: the range ccb is tested with, and the known problems of particular releases. Pure.

`ccb doctor` reports the installed version against `OLDEST_TESTED`..`NEWEST_TESTED` (cli/claude_bin.py) and,
for a release with a known problem, the problem and its remedy. Each entry names the first release that has
the problem (bisected where the reference measurements allow) and, once fixed, the first release without it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ccb.cli.claude_bin import NEWEST_TESTED, OLDEST_TESTED

_NUMBERS = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`2.1.332` (or `2.1.332-beta`, `2.1.332 (Claude Code)`) → (2, 1, 332); None when it is no version."""
    match = _NUMBERS.match(text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def range_position(version: str) -> str:
    """ "inside", "older", "newer" than the tested range, or "unknown" for a version that does not parse."""
    found = parse_version(version)
    if found is None:
        return "unknown"
    oldest, newest = parse_version(OLDEST_TESTED), parse_version(NEWEST_TESTED)
    assert oldest is not None and newest is not None
    if found < oldest:
        return "older"
    return "newer" if found > newest else "inside"


@dataclass(frozen=True)
class KnownIssue:
    id: str
    since: str  # first release with the problem
    summary: str  # one short line, problem and how it is handled, for a set-up it does not hurt
    problem: str
    remedy: str
    fixed_in: str | None = None
    # Given the env Claude Code will see, True when this set-up is affected (doctor warns); without it the
    # problem is reported for information only (ccb's launch handles it, or it needs no set-up change).
    affected: Callable[[Mapping[str, str]], bool] | None = None

    def applies_to(self, version: tuple[int, int, int]) -> bool:
        since = parse_version(self.since)
        fixed = parse_version(self.fixed_in) if self.fixed_in else None
        return since is not None and version >= since and (fixed is None or version < fixed)


def _custom_url(env: Mapping[str, str]) -> bool:
    url = env.get("ANTHROPIC_BASE_URL", "")
    return bool(url) and "api.anthropic.com" not in url


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _no_window(env: Mapping[str, str]) -> bool:
    return _custom_url(env) and not env.get("CLAUDE_CODE_MAX_CONTEXT_TOKENS")


def _no_output_limit(env: Mapping[str, str]) -> bool:
    return _custom_url(env) and not env.get("CLAUDE_CODE_MAX_OUTPUT_TOKENS")


def _small_compact_window(env: Mapping[str, str]) -> bool:
    value = _int(env.get("CLAUDE_CODE_AUTO_COMPACT_WINDOW"))
    return value is not None and value < 100_000


def _unforced_subagent(env: Mapping[str, str]) -> bool:
    return bool(env.get("CLAUDE_CODE_SUBAGENT_MODEL")) and env.get("CLAUDE_CODE_SUBAGENT_MODEL_FORCE") != "1"


ISSUES: tuple[KnownIssue, ...] = (
    KnownIssue(
        "tool_search",
        "2.1.304",
        "tool search: deferred tools arrive through ToolSearch (the ccb bridge expands its results)",
        "tool search is on for a custom base URL: most tools (web, cron, worktree, notebook, every MCP tool) "
        "reach the model only through ToolSearch, whose results are `tool_reference` blocks",
        "through the ccb bridge each reference becomes the tool's full definition; a provider endpoint that "
        "lacks tool search works with ENABLE_TOOL_SEARCH=false in the profile's env",
    ),
    KnownIssue(
        "window_1m",
        "2.1.323",
        "unknown models are assumed to have a 1M window (ccb sets CLAUDE_CODE_MAX_CONTEXT_TOKENS)",
        "a model name Claude Code does not know is assumed to have a 1M-token window, so a smaller engine "
        "overflows before Claude Code compacts",
        "ccb launch and ccb profile switch set CLAUDE_CODE_MAX_CONTEXT_TOKENS to the engine's window when they "
        "know it; give a profile `--context-length N` when ccb cannot read it from the engine",
        affected=_no_window,
    ),
    KnownIssue(
        "output_128k",
        "2.1.327",
        "a max_tokens stop is retried asking for 128k (ccb sets CLAUDE_CODE_MAX_OUTPUT_TOKENS)",
        "after an answer stops at max_tokens, Claude Code retries asking for 128,000 output tokens, more than "
        "most engines and providers allow",
        "ccb sets CLAUDE_CODE_MAX_OUTPUT_TOKENS (32000, or a quarter of a smaller window), which stops the escalation",
        affected=_no_output_limit,
    ),
    KnownIssue(
        "subagent_model",
        "2.1.332",
        "Explore agents ignore the subagent model unless forced (ccb forces a profile's)",
        "Explore subagents run on the main model and ignore CLAUDE_CODE_SUBAGENT_MODEL",
        "ccb sets CLAUDE_CODE_SUBAGENT_MODEL_FORCE=1 when the profile names a subagent model",
        affected=_unforced_subagent,
    ),
    KnownIssue(
        "auto_compact_min",
        "2.1.332",
        "auto-compact windows under 100k are raised to 100k (ccb leaves them unset)",
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW below 100k is read as 100k, with a warning at every start",
        "leave it unset below 100k (ccb does) and set CLAUDE_CODE_MAX_CONTEXT_TOKENS, which still drives compaction",
        affected=_small_compact_window,
    ),
    KnownIssue(
        "trust_default_no",
        "2.1.332",
        'the folder trust dialog preselects "No, exit": choose "Yes, I trust this folder"',
        'the folder trust dialog preselects "No, exit": pressing Enter ends Claude Code ("this folder isn\'t trusted")',
        'choose "Yes, I trust this folder" with the arrow keys first; scripts that drive the terminal must '
        "select it explicitly",
    ),
)


def issues_for(version: str) -> list[KnownIssue]:
    found = parse_version(version)
    return [issue for issue in ISSUES if found is not None and issue.applies_to(found)]
