"""Profiles for a shared engine: `ccb launch` makes Claude Code's prompt prefix the same for every user."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccb.cli.plan import EXCLUDE_DYNAMIC, claude_args
from ccb.cli.profile_store import Profile, get_profile
from tests.fakes import fake_claude
from tests.fakes.fake_claude import read_record
from tests.fakes.openai_engine import FakeEngine
from tests.support.cli import ccb
from tests.support.processes import child_env, run_ccb
from tests.support.servers import serving


def _profile(shared: bool) -> Profile:
    return Profile(
        name="team", preset="vllm", protocol="openai", base_url="http://gpu:8000/v1", model="m", shared_engine=shared
    )


@pytest.mark.parametrize(
    ("shared", "args", "expected"),
    [
        (True, ["-p", "hi"], [EXCLUDE_DYNAMIC, "-p", "hi"]),
        (True, [], [EXCLUDE_DYNAMIC]),
        (True, [EXCLUDE_DYNAMIC, "-p", "hi"], [EXCLUDE_DYNAMIC, "-p", "hi"]),  # never twice
        (True, ["mcp", "list"], ["mcp", "list"]),  # subcommands take no session flags
        (False, ["-p", "hi"], ["-p", "hi"]),
    ],
)
def test_claude_args(shared: bool, args: list[str], expected: list[str]) -> None:
    assert claude_args(_profile(shared), args) == expected


def test_profiles_store_the_setting() -> None:
    ccb(
        "profile",
        "add",
        "team",
        "--preset",
        "vllm",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--shared-engine",
    )
    ccb("profile", "add", "solo", "--preset", "vllm", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert get_profile("team").shared_engine is True
    assert get_profile("solo").shared_engine is False
    assert Profile.from_dict({**get_profile("team").to_dict()}).shared_engine is True
    with pytest.raises(Exception, match="shared_engine"):
        Profile.from_dict({**get_profile("team").to_dict(), "shared_engine": "yes"})


@pytest.mark.parametrize("shared", [True, False])
async def test_launch_passes_the_flag_for_shared_engines(tmp_path: Path, shared: bool) -> None:
    fake_claude.install(tmp_path / "bin")
    record = tmp_path / "record.json"
    engine = FakeEngine("vllm", context=131072)
    async with serving(engine.app) as url:
        ccb(
            "profile",
            "add",
            "p",
            "--preset",
            "vllm",
            "--base-url",
            url + "/v1",
            "--model",
            "m",
            *(["--shared-engine"] if shared else []),
        )
        code, _, err = await run_ccb(
            "launch",
            "p",
            "--",
            "-p",
            "hi",
            env=child_env(tmp_path / "bin", FAKE_CLAUDE_RECORD=str(record)),
            cwd=tmp_path,
        )
    assert code == 0, err
    argv = read_record(record)["argv"]
    assert argv[0] == "--settings"
    assert argv[2:] == ([EXCLUDE_DYNAMIC] if shared else []) + ["-p", "hi"]
