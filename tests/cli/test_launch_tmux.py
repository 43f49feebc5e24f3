"""`ccb launch` in a real terminal (tmux) with the real Claude Code: what an interactive user sees."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.claude_harness import claude_path
from tests.cli.launch_helpers import ccb, serving
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.tmux_harness import Terminal

pytestmark = pytest.mark.claude
KEY = "sk-native-abcdef123456"


def terminal_env(home: Path, **extra: str) -> dict[str, str]:
    env = {"HOME": str(home), "CCB_HOME": str(home / ".ccb"), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "TERM": "xterm-256color", "LANG": "C.UTF-8", "NO_PROXY": "127.0.0.1,localhost", "IS_SANDBOX": "1",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
           "CLAUDE_CODE_MAX_RETRIES": "0"}
    return {**env, **extra}


def launch_argv(profile: str) -> list[str]:
    return [sys.executable, "-m", "ccb.cli", "launch", profile, "--claude", str(claude_path())]


async def test_model_lists_the_profiles_models(tmp_path: Path, isolated_home: Path, claude_version: str) -> None:
    """`/model` offers the profile's models (2.1.332's modelPicker, the tier names before it), and a 64k window
    brings no auto-compact warning."""
    project = tmp_path / "project"
    project.mkdir()
    upstream = FakeAnthropic(key=KEY)
    async with serving(upstream.app) as url:
        ccb("profile", "add", "nat", "--preset", "custom", "--protocol", "anthropic", "--base-url", url,
            "--api-key-env", "NATIVE_KEY", "--model", "kimi-k3", "--haiku-model", "kimi-mini",
            "--context-length", "65536")
        with Terminal(launch_argv("nat"), env=terminal_env(isolated_home, NATIVE_KEY=KEY), cwd=project) as term:
            await term.trust_folder()
            start = await term.wait_for("? for shortcuts", "for agents", timeout=90)
            assert "AUTO_COMPACT_WINDOW" not in start
            term.type("/model")
            await asyncio.sleep(0.8)
            term.keys("Enter")
            picker = await term.wait_for("Select model")
            rows = picker[picker.index("Select model"):]
            assert "kimi-k3" in rows and "kimi-mini" in rows, picker
            assert "ccb profile nat" in rows
            if claude_version != "2.1.197":  # the modelPicker rows: one per model, naming its slots
                assert "haiku · ccb profile nat" in rows, picker
            term.keys("Escape")
            await asyncio.sleep(0.8)
            term.type("/exit")
            await asyncio.sleep(0.8)
            term.keys("Enter")
            await term.wait_for("[exit 0]", timeout=30)
