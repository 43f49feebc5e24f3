"""The finish users expect: exit codes, one-line errors, --version, --help with examples, completions."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.claude import ROOT
from tests.support.cli import ccb


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccb.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or dict(os.environ),
        check=False,
    )


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("ccb ")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("profile", "show", "nope"), 1),
        (("serve",), 2),  # a missing required option is a usage error
        (("serve", "--upstream", "not a url", "--model", "m"), 1),
        (("profile", "add", "x", "--preset", "no-such-preset"), 1),
        (("--no-such-flag",), 2),
        (("launch", "--model"), 2),
        (("profile", "switch"), 2),
    ],
)
def test_error_paths_are_one_line_with_the_right_exit_code(args: tuple[str, ...], code: int) -> None:
    done = run(*args)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    if code == 1:
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
        assert done.stdout == ""


def test_no_color_is_respected() -> None:
    ccb("profile", "add", "kimi", "--preset", "kimi")
    done = run("profile", "list", env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "1"})
    assert done.returncode == 0 and "\x1b[" not in done.stdout


COMMANDS = [
    ("setup",),
    ("launch",),
    ("serve",),
    ("probe",),
    ("models",),
    ("doctor",),
    ("restore",),
    ("logs",),
    ("profile", "list"),
    ("profile", "add"),
    ("profile", "switch"),
    ("profile", "current"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_examples(command: tuple[str, ...]) -> None:
    done = run(*command, "--help")
    assert done.returncode == 0
    assert "Example" in done.stdout and f"ccb {' '.join(command)}" in done.stdout


def load_generator() -> object:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "completions" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_completion_scripts_are_fresh() -> None:
    generator = load_generator()
    for shell, name in generator.SHELLS.items():  # type: ignore[attr-defined]
        committed = (ROOT / "completions" / name).read_text()
        assert committed == generator.render(shell), f"completions/{name} is stale: run python completions/generate.py"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("ccb launch ", {"alpha", "beta"}),
        ("ccb profile switch al", {"alpha"}),
        ("ccb profile show ", {"alpha", "beta"}),
        ("ccb profile remove b", {"beta"}),
        ("ccb serve --profile ", {"alpha", "beta"}),
        ("ccb profile add x --preset kimi", {"kimi", "kimi-for-coding"}),
    ],
)
def test_dynamic_completion(words: str, expected: set[str]) -> None:
    ccb("profile", "add", "alpha", "--preset", "kimi")
    ccb("profile", "add", "beta", "--preset", "glm")
    parts = words.split(" ")
    env = {**os.environ, "_CCB_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
    done = subprocess.run(
        [sys.executable, "-m", "ccb.cli"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert set(done.stdout.split()) == expected


def test_unexpected_errors_are_one_line_and_logged(tmp_path: Path) -> None:
    profiles = Path(os.environ["CCB_HOME"]) / "config" / "profiles.json"
    profiles.parent.mkdir(parents=True)
    profiles.write_text('{"version": 1, "active": null, "profiles": {"x": "not an object"}}')
    done = run("profile", "list")
    assert done.returncode == 1 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
