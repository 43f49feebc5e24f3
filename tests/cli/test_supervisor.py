"""Supervisor: child env building (pure) and a real child process, a fake `claude` script, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from ccb.cli.errors import CcbError
from ccb.cli.supervisor import build_child_env, exit_code_of, launch_settings_dir, run_claude
from tests.fakes import fake_claude

DRIVER = """
import asyncio, json, os, sys
from pathlib import Path
from ccb.cli.supervisor import build_child_env, run_claude

fake, args = Path(sys.argv[1]), json.loads(sys.argv[2])
sys.exit(asyncio.run(run_claude(fake, args, build_child_env(os.environ, {}))))
"""


@dataclass(frozen=True)
class Fake:
    """tests/fakes/fake_claude.py under a name of its own (`marker`), so a leftover process is found by name."""

    path: Path
    record: Path
    release: Path
    marker: str

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "FAKE_CLAUDE_RECORD": str(self.record),
            "FAKE_CLAUDE_RELEASE": str(self.release),
            **extra,
        }

    def start_event(self) -> dict[str, Any]:
        return fake_claude.read_record(self.record)

    def signals(self) -> list[str]:
        if not self.record.exists():
            return []
        return [signal.Signals(number).name for number in fake_claude.read_record(self.record)["signals"]]

    def wait_for(self, what: str, timeout: float = 15.0) -> None:
        """Until the fake has started (`start`) or recorded the signal named `what`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.record.exists() and (what == "start" or what in self.signals()):
                return
            time.sleep(0.02)
        raise AssertionError(f"fake never recorded {what!r}; signals: {self.signals()}")


def _live_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(marker in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Fake]:
    marker = f"fake-claude-{uuid.uuid4().hex}"
    path = fake_claude.install(tmp_path, name=marker)
    made = Fake(path=path, record=tmp_path / "record.json", release=tmp_path / "release", marker=marker)
    yield made
    # Every case must leave no fake claude (and no driver naming it) behind.
    deadline = time.monotonic() + 10
    while (left := _live_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in left:
        proc.kill()
    assert not left, f"orphans left: {[p.pid for p in left]}"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder --settings files go to (ccb's own, 0700); a leftover one would be seen there."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))  # the shared temp dir is not used
    folder = launch_settings_dir()
    assert folder.stat().st_mode & 0o777 == 0o700
    return folder


# ------------------------------------------------------------------------------------ build_child_env


@pytest.mark.parametrize(
    ("base", "expected_upper", "expected_lower"),
    [
        ({}, "127.0.0.1,localhost", "127.0.0.1,localhost"),
        (
            {"NO_PROXY": "corp.example"},
            "corp.example,127.0.0.1,localhost",
            "corp.example,127.0.0.1,localhost",
        ),
        ({"no_proxy": ".internal, "}, ".internal,127.0.0.1,localhost", ".internal,127.0.0.1,localhost"),
        ({"NO_PROXY": "localhost,a"}, "localhost,a,127.0.0.1", "localhost,a,127.0.0.1"),
        ({"NO_PROXY": "127.0.0.1,LOCALHOST"}, "127.0.0.1,LOCALHOST", "127.0.0.1,LOCALHOST"),
        ({"NO_PROXY": "a", "no_proxy": "b"}, "a,127.0.0.1,localhost", "b,127.0.0.1,localhost"),
    ],
)
def test_no_proxy_is_appended_never_replaced(base: dict[str, str], expected_upper: str, expected_lower: str) -> None:
    env = build_child_env(base, {})
    assert env["NO_PROXY"] == expected_upper
    assert env["no_proxy"] == expected_lower


def test_child_env_blanks_api_key_and_drops_cloud_modes() -> None:
    base = {
        "PATH": "/bin",
        "ANTHROPIC_API_KEY": "sk-user",
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "CLAUDE_CODE_USE_VERTEX": "1",
        "CLAUDE_CODE_USE_FOUNDRY": "1",
        "ANTHROPIC_MODEL": "old",
    }
    block = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "ANTHROPIC_AUTH_TOKEN": "t", "ANTHROPIC_MODEL": "m"}
    env = build_child_env(base, block)
    assert env["ANTHROPIC_API_KEY"] == ""
    assert env["ANTHROPIC_MODEL"] == "m"
    assert env["PATH"] == "/bin"
    assert not {"CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY"} & set(env)
    assert base["ANTHROPIC_API_KEY"] == "sk-user"  # input untouched


def test_child_env_keeps_an_api_key_the_block_sets() -> None:
    assert build_child_env({"ANTHROPIC_API_KEY": "x"}, {"ANTHROPIC_API_KEY": "k"})["ANTHROPIC_API_KEY"] == "k"


def test_exit_code_of_signal_death() -> None:
    assert exit_code_of(-9) == 137
    assert exit_code_of(3) == 3


# ------------------------------------------------------------------------------- in-process child runs


async def test_argv_env_and_settings_reach_claude_verbatim(fake: Fake, tmp_path: Path, private_tmp: Path) -> None:
    pwned = tmp_path / "pwned"
    args = [
        "-p",
        f"say hi $(touch {pwned}) `touch {pwned}` 'single' \"double\"",
        "--model",
        "two words",
        "; ls",
    ]
    block = {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
        "ANTHROPIC_AUTH_TOKEN": "tok",
        "ANTHROPIC_MODEL": "m",
    }
    base = {**fake.env(), "NO_PROXY": "corp.example", "ANTHROPIC_API_KEY": "sk-user"}
    handlers_before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    code = await run_claude(fake.path, args, build_child_env(base, block), settings={"env": block})

    assert code == 0
    start = fake.start_event()
    assert start["argv"][0] == "--settings"
    assert start["argv"][2:] == args
    assert start["settings"] == {"env": block}
    assert not Path(start["argv"][1]).exists()
    assert list(private_tmp.iterdir()) == []
    assert not pwned.exists()
    env = start["env"]
    assert {k: env[k] for k in block} == block
    assert env["ANTHROPIC_API_KEY"] == ""
    assert env["NO_PROXY"] == "corp.example,127.0.0.1,localhost"
    assert {s: signal.getsignal(s) for s in handlers_before} == handlers_before


async def test_settings_file_is_private_while_claude_runs(fake: Fake, private_tmp: Path) -> None:
    task = asyncio.ensure_future(run_claude(fake.path, [], fake.env(FAKE_CLAUDE_MODE="wait"), settings={"env": {}}))
    await asyncio.to_thread(fake.wait_for, "start")
    (settings_file,) = private_tmp.iterdir()
    assert settings_file.stat().st_mode & 0o777 == 0o600
    fake.release.touch()
    assert await task == 0
    assert not settings_file.exists()


async def test_no_settings_means_no_settings_flag(fake: Fake) -> None:
    assert await run_claude(fake.path, ["hello"], fake.env()) == 0
    assert fake.start_event()["argv"] == ["hello"]


@pytest.mark.parametrize("code", [0, 3])
async def test_exit_code_passes_through(fake: Fake, code: int) -> None:
    assert await run_claude(fake.path, [], fake.env(FAKE_CLAUDE_MODE=f"exit:{code}")) == code


async def test_killed_child_reports_128_plus_signal(fake: Fake, private_tmp: Path) -> None:
    code = await run_claude(fake.path, [], fake.env(FAKE_CLAUDE_MODE="kill"), settings={"env": {}})
    assert code == 128 + signal.SIGKILL
    assert list(private_tmp.iterdir()) == []


async def test_missing_binary_is_a_ccb_error_and_cleans_up(tmp_path: Path, private_tmp: Path) -> None:
    with pytest.raises(CcbError, match="could not start Claude Code"):
        await run_claude(tmp_path / "nope", [], dict(os.environ), settings={"env": {"A": "b"}})
    assert list(private_tmp.iterdir()) == []


async def test_cancelling_stops_the_child(fake: Fake) -> None:
    task = asyncio.ensure_future(run_claude(fake.path, [], fake.env(FAKE_CLAUDE_MODE="wait")))
    await asyncio.to_thread(fake.wait_for, "start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.signals() == ["SIGTERM"]


# ------------------------------------------------------------------- ccb as its own process (signals)


def _start_driver(fake: Fake, args: list[str], **extra: str) -> subprocess.Popen[bytes]:
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(fake.path), json.dumps(args)],
        env=fake.env(**extra),
        start_new_session=True,  # keep the test's own terminal signals away from it
    )
    fake.wait_for("start")
    return driver


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_sigterm_and_sighup_are_forwarded(fake: Fake, sig: signal.Signals) -> None:
    driver = _start_driver(fake, ["-p", "x"], FAKE_CLAUDE_MODE="wait", FAKE_CLAUDE_SIGNAL_EXIT="42")
    os.kill(driver.pid, sig)
    assert driver.wait(timeout=15) == 42
    assert fake.signals() == [sig.name]


def test_sigint_does_not_kill_ccb_and_is_not_forwarded(fake: Fake) -> None:
    driver = _start_driver(fake, [], FAKE_CLAUDE_MODE="wait")
    os.kill(driver.pid, signal.SIGINT)
    time.sleep(0.5)
    assert driver.poll() is None, "ccb died on SIGINT"
    assert fake.signals() == []
    fake.release.touch()
    assert driver.wait(timeout=15) == 0
    assert fake.signals() == []


def test_ccb_killed_outright_still_tells_claude(fake: Fake) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    driver = _start_driver(fake, [], FAKE_CLAUDE_MODE="wait")
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=15)
    fake.wait_for("SIGTERM")
