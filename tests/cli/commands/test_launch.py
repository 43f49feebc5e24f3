"""`ccb launch` with a fake `claude` first on PATH: env, --settings, argv, exit codes, signals, no orphans."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import psutil
import pytest

from tests.fakes import fake_claude
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.fake_claude import read_record
from tests.fakes.openai_engine import FakeEngine
from tests.support.cli import add_anthropic_profile, ccb
from tests.support.processes import child_env, run_ccb
from tests.support.servers import serving


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    fake_claude.install(tmp_path / "bin")
    return tmp_path / "bin"


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "record.json"


async def test_bridge_route_env_settings_and_argv(
    tmp_path: Path, bin_dir: Path, record: Path, isolated_home: Path
) -> None:
    engine = FakeEngine("vllm", context=131072)
    async with serving(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3-coder")
        prompt = 'fix the "bug" in $(touch hacked) `rm -rf x` and; echo pwned'
        code, _, err = await run_ccb(
            "launch",
            "local",
            "--",
            "-p",
            prompt,
            "--output-format",
            "json",
            env=child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record)),
            cwd=tmp_path,
        )
    assert code == 0, err
    seen = read_record(record)
    assert seen["argv"][0] == "--settings"
    assert seen["argv"][2:] == ["-p", prompt, "--output-format", "json"]
    assert not (tmp_path / "hacked").exists()
    assert not Path(seen["argv"][1]).exists()  # the --settings file is gone once claude exits
    block = seen["settings"]["env"]
    env = seen["env"]
    for key, value in block.items():
        assert env[key] == value  # the same block in the environment and in the --settings layer
    assert block["ANTHROPIC_BASE_URL"].startswith("http://127.0.0.1:")
    assert block["ANTHROPIC_AUTH_TOKEN"].startswith("ccb-") and block["ANTHROPIC_API_KEY"] == ""
    for slot in (
        "ANTHROPIC_MODEL",
        "ANTHROPIC_DEFAULT_OPUS_MODEL",
        "ANTHROPIC_DEFAULT_SONNET_MODEL",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL",
        "CLAUDE_CODE_SUBAGENT_MODEL",
    ):
        assert block[slot] == "qwen3-coder"
    assert block["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "0"
    assert int(block["API_TIMEOUT_MS"]) >= 600000
    assert block["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == block["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "131072"
    assert "127.0.0.1" in env["NO_PROXY"]
    assert json.loads((isolated_home / ".claude.json").read_text())["hasCompletedOnboarding"] is True


async def test_bridge_is_ready_before_claude_starts(tmp_path: Path, bin_dir: Path, record: Path) -> None:
    engine = FakeEngine("llamacpp", context=65536)
    async with serving(engine.app) as url:
        ccb("profile", "add", "l", "--preset", "llamacpp", "--base-url", url + "/v1", "--model", "m")
        code, _, err = await run_ccb(
            "launch", "l", env=child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record), FAKE_CLAUDE_MODE="call"), cwd=tmp_path
        )
    assert code == 0, err
    call = read_record(record)["call"]
    assert call["status"] == 200 and call["body"]["content"][0]["text"] == "Hello from the fake engine."


async def test_direct_route_for_native_anthropic(
    tmp_path: Path, bin_dir: Path, record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = FakeAnthropic(key="sk-native-123456789")
    async with serving(upstream.app) as url:
        add_anthropic_profile("nat", url, api_key_env="NATIVE_KEY", model="glm-5.1")
        env = child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record), NATIVE_KEY="sk-native-123456789")
        code, _, err = await run_ccb("launch", "nat", "--", "-p", "hi", env=env, cwd=tmp_path)
    assert code == 0, err
    block = read_record(record)["settings"]["env"]
    assert block["ANTHROPIC_BASE_URL"] == url
    assert block["ANTHROPIC_AUTH_TOKEN"] == "sk-native-123456789" and block["ANTHROPIC_API_KEY"] == ""
    assert block["ANTHROPIC_MODEL"] == "glm-5.1"
    assert "sk-native-123456789" not in err  # never printed


async def test_missing_key_env_is_a_clear_error(tmp_path: Path, bin_dir: Path) -> None:
    ccb("profile", "add", "ds", "--preset", "deepseek")
    env = child_env(bin_dir)
    env.pop("DEEPSEEK_API_KEY", None)
    code, _out, err = await run_ccb("launch", "ds", env=env, cwd=tmp_path)
    assert code == 1 and "DEEPSEEK_API_KEY" in err and "Traceback" not in err


@pytest.mark.parametrize(("mode", "expected"), [("exit:0", 0), ("exit:3", 3), ("kill", 128 + signal.SIGKILL)])
async def test_exit_code_passthrough(tmp_path: Path, bin_dir: Path, record: Path, mode: str, expected: int) -> None:
    async with serving(FakeEngine("vllm").app) as url:
        ccb("profile", "add", "v", "--preset", "vllm", "--base-url", url + "/v1", "--model", "m")
        code, _, err = await run_ccb(
            "launch", "v", env=child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record), FAKE_CLAUDE_MODE=mode), cwd=tmp_path
        )
    assert code == expected, err
    assert_no_orphans(read_record(record)["pid"])


async def launch_waiting(cwd: Path, bin_dir: Path, record: Path) -> asyncio.subprocess.Process:
    """`ccb launch v` as a child process, returned once the fake claude it runs is up and waiting."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccb.cli",
        "launch",
        "v",
        cwd=cwd,
        env=child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record), FAKE_CLAUDE_MODE="wait"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(300):
        if record.exists() and read_record(record).get("ready"):
            return proc
        await asyncio.sleep(0.05)
    raise AssertionError("fake claude never started")


def assert_no_orphans(pid: int) -> None:
    for _ in range(50):
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return
        import time

        time.sleep(0.1)
    raise AssertionError(f"claude (pid {pid}) outlived ccb")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_signals_forwarded_and_nothing_left_behind(tmp_path: Path, bin_dir: Path, record: Path, sig: int) -> None:
    async with serving(FakeEngine("vllm").app) as url:
        ccb("profile", "add", "v", "--preset", "vllm", "--base-url", url + "/v1", "--model", "m")
        proc = await launch_waiting(tmp_path, bin_dir, record)
        proc.send_signal(signal.SIGINT)  # Ctrl-C reaches claude through the terminal; ccb must survive it
        await asyncio.sleep(0.3)
        assert proc.returncode is None
        proc.send_signal(sig)
        code = await asyncio.wait_for(proc.wait(), 30)
    seen = read_record(record)
    assert seen["signals"] == [sig]
    assert code == 100 + sig
    assert_no_orphans(seen["pid"])


async def test_user_settings_override_is_reported(
    tmp_path: Path, bin_dir: Path, record: Path, isolated_home: Path
) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(
        json.dumps({"env": {"ANTHROPIC_MODEL": "claude-opus-4-8", "ANTHROPIC_AUTH_TOKEN": "sk-user-old-token-42"}})
    )
    async with serving(FakeEngine("vllm").app) as url:
        ccb("profile", "add", "v", "--preset", "vllm", "--base-url", url + "/v1", "--model", "m")
        code, _, err = await run_ccb(
            "launch", "v", env=child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record)), cwd=tmp_path
        )
    assert code == 0
    assert "ANTHROPIC_MODEL=claude-opus-4-8" in err and "overrides it" in err
    assert "sk-user-old-token-42" not in err and "••••n-42" in err


async def test_claude_missing_without_tty_says_how_to_install(tmp_path: Path) -> None:
    async with serving(FakeEngine("vllm").app) as url:
        ccb("profile", "add", "v", "--preset", "vllm", "--base-url", url + "/v1", "--model", "m")
        empty = tmp_path / "empty"
        empty.mkdir()
        env = child_env(None, PATH=f"{empty}:{Path(sys.executable).parent}")
        code, _, err = await run_ccb("launch", "v", env=env, cwd=tmp_path)
    assert code == 1
    assert "npm install -g @anthropic-ai/claude-code" in err and "--yes" in err


async def test_engine_down_is_a_clear_error(tmp_path: Path, bin_dir: Path) -> None:
    ccb("profile", "add", "v", "--preset", "vllm", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    code, _, err = await run_ccb("launch", "v", env=child_env(bin_dir), cwd=tmp_path)
    assert code == 1 and "not answering" in err and "Traceback" not in err


async def test_claude_is_told_when_ccb_is_killed(tmp_path: Path, bin_dir: Path, record: Path) -> None:
    async with serving(FakeEngine("vllm").app) as url:
        ccb("profile", "add", "v", "--preset", "vllm", "--base-url", url + "/v1", "--model", "m")
        proc = await launch_waiting(tmp_path, bin_dir, record)
        proc.kill()  # no chance to clean up: the kernel's parent-death signal must reach claude
        await proc.wait()
        for _ in range(100):
            if read_record(record)["signals"]:
                break
            await asyncio.sleep(0.05)
    seen = read_record(record)
    assert seen["signals"] == [signal.SIGTERM]
    assert_no_orphans(seen["pid"])


async def test_direct_route_to_a_capable_local_engine_uses_its_root(
    tmp_path: Path, bin_dir: Path, record: Path
) -> None:
    from tests.fakes.discovery import llamacpp_app

    async with serving(llamacpp_app(n_ctx=131072, supports_tools=True)) as url:
        ccb("profile", "add", "big", "--preset", "llamacpp", "--base-url", url + "/v1")
        code, _, err = await run_ccb(
            "launch", "big", env=child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record)), cwd=tmp_path
        )
    assert code == 0, err
    block = read_record(record)["settings"]["env"]
    assert "directly" in err
    # Claude Code appends /v1/messages itself: the engine's root, never its OpenAI base.
    assert block["ANTHROPIC_BASE_URL"] == url
    assert block["ANTHROPIC_MODEL"] == "qwen3-coder-30b-a3b-q4_k_m.gguf"  # the engine's loaded model
    assert block["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "131072"


async def test_a_window_claude_code_cannot_answer_in_is_refused_before_launching(
    tmp_path: Path, bin_dir: Path, record: Path
) -> None:
    from tests.fakes.discovery import llamacpp_app

    async with serving(llamacpp_app(n_ctx=8192, n_ctx_train=131072, supports_tools=True)) as url:
        ccb("profile", "add", "small", "--preset", "llamacpp", "--base-url", url + "/v1")
        code, _, err = await run_ccb(
            "launch", "small", env=child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record)), cwd=tmp_path
        )
    assert code == 1
    assert not record.exists()  # claude never started
    flat = " ".join(err.split())
    assert "Claude Code cannot answer on 'small': the engine's window is 8,192 tokens" in flat
    assert "Claude Code 2.1.197 sends about" in flat  # the fake claude reports 2.1.197: its figures
    assert "Fix: restart llama-server with `-c 65536 -np 1`" in flat


async def test_a_model_trained_for_a_small_window_is_told_a_bigger_one_will_not_help(
    tmp_path: Path, bin_dir: Path, record: Path
) -> None:
    from tests.fakes.discovery import llamacpp_app

    async with serving(llamacpp_app(n_ctx=8192, n_ctx_train=8192, supports_tools=True)) as url:
        ccb("profile", "add", "small", "--preset", "llamacpp", "--base-url", url + "/v1")
        code, _, err = await run_ccb(
            "launch", "small", env=child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record)), cwd=tmp_path
        )
    assert code == 1 and not record.exists()
    flat = " ".join(err.split())
    assert "trained for only 8,192 tokens, so a bigger window will not help" in flat
    assert "-c 65536" not in flat


async def test_a_tight_window_warns_and_launches(tmp_path: Path, bin_dir: Path, record: Path) -> None:
    from tests.fakes.discovery import llamacpp_app

    async with serving(llamacpp_app(n_ctx=32768, supports_tools=True)) as url:
        ccb("profile", "add", "tight", "--preset", "llamacpp", "--base-url", url + "/v1")
        code, _, err = await run_ccb(
            "launch", "tight", env=child_env(bin_dir, FAKE_CLAUDE_RECORD=str(record)), cwd=tmp_path
        )
    assert code == 0, err
    assert "warning: the engine's window is 32,768 tokens" in " ".join(err.split())
    assert read_record(record)["settings"]["env"]["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "32768"
