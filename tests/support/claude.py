"""Running the real Claude Code CLI (npm, pinned) as a child process in tests (`ccb serve`: tests.support.processes).

Every test marked `claude` runs once per Claude Code version in `CLAUDE_VERSIONS` (the oldest ccb supports and
the newest it is tested with), or the versions named in `CCB_TEST_CLAUDE_VERSIONS` (space-separated).
`tests/run.sh` installs each into `.tools/claude/<version>`; `CCB_TEST_CLAUDE_ROOT` may point at another
folder of the same layout. A missing binary fails the test (it never skips): CI must run these.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import child_env

ROOT = Path(__file__).resolve().parents[2]
CLAUDE_VERSIONS = ("2.1.197", "2.1.332")


def claude_versions() -> list[str]:
    """The Claude Code versions the real-client tests run against."""
    return os.environ.get("CCB_TEST_CLAUDE_VERSIONS", "").split() or list(CLAUDE_VERSIONS)


def claude_binary(version: str) -> Path:
    root = Path(os.environ.get("CCB_TEST_CLAUDE_ROOT") or ROOT / ".tools" / "claude")
    return root / version / "node_modules" / ".bin" / "claude"


def claude_path() -> Path:
    """The binary of the version the current test runs against (set by the `claude_version` fixture)."""
    version = os.environ.get("CCB_TEST_CLAUDE_VERSION") or claude_versions()[-1]
    path = claude_binary(version)
    if not path.exists():
        pytest.fail(f"Claude Code {version} is not installed at {path}: run tests/run.sh (it installs it)")
    return path


def claude_env(home: Path, base_url: str, token: str, model: str = "fake-model", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("ANTHROPIC_")}
    env.update(
        HOME=str(home),
        NO_PROXY="127.0.0.1,localhost",
        ANTHROPIC_BASE_URL=base_url,
        ANTHROPIC_AUTH_TOKEN=token,
        ANTHROPIC_API_KEY="",
        ANTHROPIC_MODEL=model,
        ANTHROPIC_DEFAULT_OPUS_MODEL=model,
        ANTHROPIC_DEFAULT_SONNET_MODEL=model,
        ANTHROPIC_DEFAULT_HAIKU_MODEL=model,
        CLAUDE_CODE_SUBAGENT_MODEL=model,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL="1",
        CLAUDE_CODE_MAX_RETRIES="0",
        API_TIMEOUT_MS="120000",
        IS_SANDBOX="1",
    )
    env.pop("CLAUDE_CONFIG_DIR", None)
    env.update(extra)
    return env


def launch_env(**extra: str) -> dict[str, str]:
    """The environment for `ccb launch` (a child process) to run the real Claude Code quietly: the tested
    release first on PATH, no telemetry, updater or retries, and none of the machine's ANTHROPIC_* settings or
    CCB_WEB_SEARCH."""
    env = child_env(
        claude_path().parent,
        IS_SANDBOX="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_MAX_RETRIES="0",
        **extra,
    )
    for key in [k for k in env if k.startswith("ANTHROPIC_") or k == "CCB_WEB_SEARCH"]:
        env.pop(key)
    return env


@dataclass
class ClaudeResult:
    returncode: int
    result: dict[str, Any]
    stderr: str


async def run_claude(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 180) -> ClaudeResult:
    proc = await asyncio.create_subprocess_exec(
        str(claude_path()),
        *args,
        "--output-format",
        "json",
        "--no-session-persistence",
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    text = out.decode()
    try:
        result = json.loads(text.strip().splitlines()[-1]) if text.strip() else {}
    except ValueError:
        result = {"raw": text}
    return ClaudeResult(proc.returncode or 0, result, err.decode())
