"""The launch env block and `/model` picker for Claude Code 2.1.332: window, output limit, every model slot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccb.cli.app import app
from ccb.cli.plan import (
    claude_env,
    launch_settings,
    model_env,
    model_picker,
    output_limit,
    window_env,
)
from ccb.cli.profile_store import Profile
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.support.cli import add_anthropic_profile, ccb
from tests.support.servers import serving_in_thread


def profile(**fields: Any) -> Profile:
    base: dict[str, Any] = {
        "name": "p",
        "preset": "custom",
        "protocol": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "main-m",
    }
    return Profile(**{**base, **fields})


# ------------------------------------------------------------------------------------ window, output


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (None, {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "32000"}),
        (32768, {"CLAUDE_CODE_MAX_CONTEXT_TOKENS": "32768", "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "8192"}),
        (65536, {"CLAUDE_CODE_MAX_CONTEXT_TOKENS": "65536", "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "16384"}),
        (99999, {"CLAUDE_CODE_MAX_CONTEXT_TOKENS": "99999", "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "24999"}),
        (
            100000,
            {
                "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "100000",
                "CLAUDE_CODE_AUTO_COMPACT_WINDOW": "100000",
                "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "25000",
            },
        ),
        (
            262144,
            {
                "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "262144",
                "CLAUDE_CODE_AUTO_COMPACT_WINDOW": "262144",
                "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "32000",
            },
        ),
        (2048, {"CLAUDE_CODE_MAX_CONTEXT_TOKENS": "2048", "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "1024"}),
    ],
)
def test_window_env(window: int | None, expected: dict[str, str]) -> None:
    assert window_env(window) == expected


@pytest.mark.parametrize("window", [4096, 16384, 32768, 65536, 131072, 200000, 1_000_000])
def test_output_limit_leaves_most_of_the_window_to_the_prompt(window: int) -> None:
    assert 1024 <= output_limit(window) <= min(32000, window // 4)


def test_claude_env_known_window_below_the_auto_compact_minimum() -> None:
    block = claude_env(profile(), base_url="http://127.0.0.1:1", token="t", route="bridge", context=65536)
    assert block["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "65536"
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in block
    assert block["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "16384"


def test_claude_env_profile_context_length_is_used_without_a_probe() -> None:
    block = claude_env(profile(context_length=131072), base_url="http://x", token="t", route="bridge")
    assert block["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == block["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "131072"


def test_profile_env_wins_but_never_with_a_clamped_auto_compact_window() -> None:
    own = profile(env={"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "50000", "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "60000"})
    block = claude_env(own, base_url="http://x", token="t", route="bridge", context=131072)
    assert block["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "60000"
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in block
    assert block["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "15000"  # follows the window the profile pinned
    chosen = claude_env(
        profile(env={"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "4000"}),
        base_url="http://x",
        token="t",
        route="bridge",
        context=131072,
    )
    assert chosen["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "4000"


# ------------------------------------------------------------------------------------------ models


def test_a_profile_made_before_its_preset_gained_a_vendor_switch_still_gets_it() -> None:
    # A kimi profile saved by an older ccb has no env block; its vendor rejects what 2.1.332 adds.
    old = profile(preset="kimi", protocol="anthropic", base_url="https://api.moonshot.ai/anthropic", env={})
    block = claude_env(old, base_url=old.base_url, token="k", route="direct")
    assert block["CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS"] == "1"
    mine = profile(
        preset="kimi",
        protocol="anthropic",
        base_url="https://api.moonshot.ai/anthropic",
        env={"CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "0"},
    )
    assert (
        claude_env(mine, base_url=mine.base_url, token="k", route="direct")["CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS"]
        == "0"
    )
    assert "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS" not in claude_env(
        profile(), base_url="http://127.0.0.1:1", token="t", route="bridge"
    )


def test_every_model_slot_including_fable() -> None:
    env = model_env(profile(opus_model="big", haiku_model="small"))
    assert env["ANTHROPIC_MODEL"] == "main-m"
    assert env["ANTHROPIC_DEFAULT_OPUS_MODEL"] == env["ANTHROPIC_DEFAULT_FABLE_MODEL"] == "big"
    assert env["ANTHROPIC_DEFAULT_SONNET_MODEL"] == "main-m"
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == env["ANTHROPIC_SMALL_FAST_MODEL"] == "small"
    assert env["CLAUDE_CODE_SUBAGENT_MODEL"] == "main-m"
    assert env["ANTHROPIC_DEFAULT_FABLE_MODEL_NAME"] == "big"
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL_DESCRIPTION"] == "small: haiku tier of ccb profile p"
    assert "CLAUDE_CODE_SUBAGENT_MODEL_FORCE" not in env


def test_a_subagent_model_is_forced_onto_explore() -> None:
    env = model_env(profile(subagent_model="sub"))
    assert env["CLAUDE_CODE_SUBAGENT_MODEL"] == "sub"
    assert env["CLAUDE_CODE_SUBAGENT_MODEL_FORCE"] == "1"


def test_model_picker_lists_each_distinct_model_once_in_slot_order() -> None:
    picker = model_picker(profile(opus_model="big", haiku_model="small", subagent_model="small"))
    assert picker == {
        "replaceBuiltInOptions": True,
        "options": [
            {"model": "main-m", "label": "main-m", "description": "main, sonnet · ccb profile p"},
            {"model": "big", "label": "big", "description": "opus · ccb profile p"},
            {"model": "small", "label": "small", "description": "haiku, subagents · ccb profile p"},
        ],
    }
    assert model_picker(Profile(name="e", preset="custom", protocol="openai", base_url="http://x/v1")) is None
    assert launch_settings(profile(), {"A": "1"}) == {"env": {"A": "1"}, "modelPicker": model_picker(profile())}


# -------------------------------------------------------------------------------- switch / restore


def test_switch_writes_the_model_picker_and_restore_puts_the_users_back(isolated_home: Path) -> None:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    mine = {"options": [{"model": "claude-opus-5-5", "label": "Mine"}]}
    original = {"modelPicker": mine, "env": {"X": "1"}, "theme": "dark"}
    path.write_text(json.dumps(original))
    upstream = FakeAnthropic()
    with serving_in_thread(upstream.app) as url:
        add_anthropic_profile(
            "nat", url, api_key="sk-native-abcdef123456", model="kimi-k3", haiku_model="kimi-mini", context_length=65536
        )
        result = CliRunner().invoke(app, ["profile", "switch", "nat"])
        assert result.exit_code == 0, result.output
        data = json.loads(path.read_text())
        assert [o["model"] for o in data["modelPicker"]["options"]] == ["kimi-k3", "kimi-mini"]
        assert data["modelPicker"]["replaceBuiltInOptions"] is True
        assert data["env"]["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "65536"
        assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in data["env"]
        assert data["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "16384"
        assert data["env"]["ANTHROPIC_DEFAULT_FABLE_MODEL"] == "kimi-k3"
        assert data["theme"] == "dark" and data["env"]["X"] == "1"
        # A second switch keeps the user's picker as the value to restore.
        assert CliRunner().invoke(app, ["profile", "switch", "nat"]).exit_code == 0
    restored = CliRunner().invoke(app, ["restore", "--json"])
    assert restored.exit_code == 0, restored.output
    assert "modelPicker" in json.loads(restored.stdout)["restored"]
    assert json.loads(path.read_text()) == original


@pytest.mark.parametrize("before", [{}, {"modelPicker": None}, {"modelPicker": {"options": []}, "model": "x"}])
def test_top_level_keys_restore_exactly(tmp_path: Path, before: dict[str, Any]) -> None:
    from ccb.cli import claude_settings as cs

    path = tmp_path / "settings.json"
    path.write_text(json.dumps(before))
    cs.apply_env({"A": "1"}, top={"modelPicker": {"options": [{"model": "a"}]}}, settings_path=path)
    cs.apply_env({"A": "2"}, top={"modelPicker": {"options": [{"model": "b"}]}}, settings_path=path)
    assert json.loads(path.read_text())["modelPicker"] == {"options": [{"model": "b"}]}
    assert cs.owned_top_keys(settings_path=path) == {
        "modelPicker": {"value": before["modelPicker"]} if "modelPicker" in before else None
    }
    # A switch that writes no picker gives the user's back at once.
    cs.apply_env({"A": "3"}, settings_path=path)
    assert json.loads(path.read_text()).get("modelPicker", "absent") == before.get("modelPicker", "absent")
    cs.apply_env({"A": "4"}, top={"modelPicker": {"options": []}}, settings_path=path)
    cs.restore(settings_path=path)
    assert json.loads(path.read_text()) == before
    assert cs.owned_top_keys(settings_path=path) == {}


def test_only_known_top_level_keys_can_be_owned() -> None:
    from ccb.cli import claude_settings as cs

    with pytest.raises(ValueError):
        cs.merge_top({}, {"hooks": {}}, {})


# ---------------------------------------------------------------------------------------- ccb serve


def test_ccb_serve_prints_the_window_output_and_model_lines(tmp_path: Path, isolated_home: Path) -> None:
    env = {**os.environ, "HOME": str(isolated_home)}
    argv = [
        sys.executable,
        "-m",
        "ccb.cli",
        "serve",
        "--port",
        "0",
        "--upstream",
        "http://127.0.0.1:9/v1",
        "--model",
        "qwen/coder 7b",
        "--engine",
        "vllm",
        "--context-length",
        "65536",
    ]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline().strip() for _ in range(6)]
        finally:
            proc.terminate()
            proc.wait(30)
    assert lines[0].startswith("export ANTHROPIC_BASE_URL=http://127.0.0.1:")
    assert lines[3:] == [
        "export ANTHROPIC_MODEL='qwen/coder 7b'",
        "export CLAUDE_CODE_MAX_CONTEXT_TOKENS=65536",
        "export CLAUDE_CODE_MAX_OUTPUT_TOKENS=16384",
    ]


def test_ccb_serve_profile_prints_every_model_slot_and_the_probed_window(tmp_path: Path, isolated_home: Path) -> None:
    from tests.fakes.openai_engine import FakeEngine

    engine = FakeEngine("vllm", context=65536)
    with serving_in_thread(engine.app) as url:
        ccb(
            "profile",
            "add",
            "vl",
            "--preset",
            "vllm",
            "--base-url",
            url + "/v1",
            "--model",
            "big-m",
            "--haiku-model",
            "small-m",
            "--subagent-model",
            "agent-m",
        )
        argv = [sys.executable, "-m", "ccb.cli", "serve", "--profile", "vl", "--port", "0"]
        env = {**os.environ, "HOME": str(isolated_home)}
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True) as proc:
            try:
                assert proc.stdout is not None
                lines = []
                while not lines or "CLAUDE_CODE_MAX_OUTPUT_TOKENS" not in lines[-1]:
                    line = proc.stdout.readline()
                    assert line, lines
                    lines.append(line.strip())
            finally:
                proc.terminate()
                proc.wait(30)
    exported = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert exported["ANTHROPIC_MODEL"] == "big-m" and exported["ANTHROPIC_DEFAULT_FABLE_MODEL"] == "big-m"
    assert exported["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == exported["ANTHROPIC_SMALL_FAST_MODEL"] == "small-m"
    assert exported["CLAUDE_CODE_SUBAGENT_MODEL"] == "agent-m" and exported["CLAUDE_CODE_SUBAGENT_MODEL_FORCE"] == "1"
    assert exported["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "65536"
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in exported
    assert exported["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "16384"
