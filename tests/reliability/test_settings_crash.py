"""Claude Code's settings file survives SIGKILL at any moment and concurrent writers: never a partial file.

A child process rewrites a large settings file in a loop with `claude_settings.apply_env` and is killed at
random moments; after every kill the file must parse and be exactly one of the states a complete write
leaves, and `restore` must still give back the original byte for byte (as JSON).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ccb.cli import claude_settings as cs

# ~2 MiB of settings the user owns: big enough that a kill often lands inside a write.
ORIGINAL: dict[str, Any] = {
    "env": {"KEEP": "mine", "ANTHROPIC_MODEL": "user-model"},
    "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]},
    "permissions": {"allow": ["Bash(git *)"]},
    "bigUnknownKey": [f"entry {i} " + "x" * 1000 for i in range(2000)],
}
PROFILE_A = {
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:1111",
    "ANTHROPIC_MODEL": "model-a",
    "ANTHROPIC_AUTH_TOKEN": "tok-a",
}
PROFILE_B = {
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:2222",
    "ANTHROPIC_MODEL": "model-b",
    "ANTHROPIC_AUTH_TOKEN": "tok-b",
}

SWITCHER = """
import json, sys
from pathlib import Path
from ccb.cli.claude_settings import apply_env

path, blocks, rounds = Path(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
i = 0
while rounds < 0 or i < rounds:
    apply_env(blocks[i % len(blocks)], settings_path=path)
    i += 1
"""


def applied(block: dict[str, str]) -> dict[str, Any]:
    return {**ORIGINAL, "env": {**ORIGINAL["env"], **block}}


def write_original(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ORIGINAL, indent=2))


def switcher(path: Path, blocks: list[dict[str, str]], rounds: int = -1) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SWITCHER, str(path), json.dumps(blocks), str(rounds)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_the_old_or_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write_original(path)
    allowed = [ORIGINAL, applied(PROFILE_A), applied(PROFILE_B)]
    rng = random.Random(20261121)
    seen: list[int] = []
    kills = 40
    for _ in range(kills):
        child = switcher(path, [PROFILE_A, PROFILE_B])
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        current = json.loads(path.read_text())  # parses: never a partial file
        assert current in allowed
        seen.append(allowed.index(current))
        assert set(cs.owned_keys(settings_path=path)) <= set(PROFILE_A)  # the ownership record parses too
    leftovers = list(path.parent.glob(".settings.json.*.tmp"))
    print(
        f"\n{kills} kills: states seen {sorted(set(seen))}; {len(leftovers)} kills landed inside a write "
        "(their temporary files remain)"
    )
    assert {1, 2} <= set(seen)  # the kills did land between switches of both directions
    cs.restore(settings_path=path)
    assert json.loads(path.read_text()) == ORIGINAL


KILL_AT_SETTINGS_WRITE = """
import os, signal, sys
from pathlib import Path
from ccb.cli import claude_settings as cs

path = Path(sys.argv[1])
cs.apply_env({"ANTHROPIC_MODEL": "a", "ANTHROPIC_SMALL_FAST_MODEL": "a-small"}, settings_path=path)
# The next switch sets fewer keys; die right before it rewrites the settings file.
cs._write_keeping_mode = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
cs.apply_env({"ANTHROPIC_MODEL": "b"}, settings_path=path)
"""


def test_kill_between_record_and_settings_write_still_restores_exactly(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write_original(path)
    child = subprocess.run(
        [sys.executable, "-c", KILL_AT_SETTINGS_WRITE, str(path)], check=False, env=dict(os.environ), timeout=60
    )
    assert child.returncode == -signal.SIGKILL
    assert json.loads(path.read_text())["env"]["ANTHROPIC_SMALL_FAST_MODEL"] == "a-small"  # old file kept
    cs.restore(settings_path=path)
    assert json.loads(path.read_text()) == ORIGINAL


def test_two_concurrent_switchers_and_a_reader_never_see_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    write_original(path)
    # Different key sets: each switch also takes back the keys of the other profile.
    first = {"ANTHROPIC_MODEL": "one", "ONLY_ONE": "1"}
    second = {"ANTHROPIC_MODEL": "two", "ONLY_TWO": "2"}
    allowed = [ORIGINAL, applied(first), applied(second)]
    children = [switcher(path, [first], rounds=25), switcher(path, [second], rounds=25)]
    reads = 0
    while any(child.poll() is None for child in children):
        # What Claude Code would read at any instant: always a complete file.
        assert json.loads(path.read_text()) in allowed
        reads += 1
    for child in children:
        assert child.wait(timeout=120) == 0
        assert child.stdout is not None
        child.stdout.close()
    assert json.loads(path.read_text()) in allowed[1:]
    print(f"\n{reads} reads during 50 concurrent switches, all complete")
    cs.restore(settings_path=path)
    assert json.loads(path.read_text()) == ORIGINAL
