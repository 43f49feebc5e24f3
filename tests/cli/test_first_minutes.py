"""A newcomer's first minutes (issue 12's findings m1-m20, p1-p16), each checked the way a user meets it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccb.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_a_claude_option_before_the_separator_says_where_it_goes(tmp_path: Path) -> None:  # m14
    done = run("launch", "smol", "--resume", "abc", cwd=tmp_path)
    assert done.returncode == 2
    assert "arguments for Claude Code go after `--`: `ccb launch smol -- --resume abc`" in done.stderr
    done = run("launch", "--model", "m", "-p", "hi", cwd=tmp_path)
    assert done.returncode == 2 and "`ccb launch --model m -- -p hi`" in done.stderr


def test_debug_is_accepted_after_the_command(tmp_path: Path) -> None:  # m13
    done = run("launch", "nosuchprofile", "--debug", cwd=tmp_path)
    assert "No such option" not in done.stderr
    assert done.returncode == 1 and "CcbError" in done.stderr  # --debug shows the traceback


def test_plain_ccb_after_a_finished_wizard_exits_0_without_the_help(tmp_path: Path) -> None:  # m10
    from tests.support.pty_session import ENTER, KEY_DOWN, KEY_UP, Session, fresh_env

    home = tmp_path / "home"
    home.mkdir()
    session = Session([], fresh_env(home, [tmp_path], CCB_PROBE_PORTS=""), tmp_path)
    try:
        session.expect("Where does the model you want to use run?")
        session.send(KEY_UP + ENTER)  # Another server
        session.expect("Which API does it speak?")
        session.send(KEY_DOWN + ENTER)  # Anthropic's
        session.expect("Server address")
        session.send("\x15http://127.0.0.1:9" + ENTER)
        session.expect("API key for the server")
        session.send(KEY_DOWN * 2 + ENTER)  # No key needed
        session.expect("Model id")
        session.send("m1" + ENTER)
        session.expect("What now?")
        session.send(KEY_DOWN * 2 + ENTER)  # Save it anyway
        session.expect("Name for this profile")
        session.send(ENTER)
        session.expect("What next?")
        session.send(KEY_DOWN * 2 + ENTER)  # Just save it
        code = session.wait()
    finally:
        session.close()
    assert code == 0, session.text[-2000:]
    assert "Saved profile 'custom'" in session.text
    assert "Usage:" not in session.text


def test_probe_with_a_bare_port_probes_this_machine(tmp_path: Path) -> None:  # m6
    done = run("probe", "9", "--json", cwd=tmp_path)
    assert done.returncode == 0
    import json

    assert json.loads(done.stdout)["engines"][0]["url"] == "http://127.0.0.1:9"


def test_models_uses_the_active_profile_and_says_so_when_there_is_none(tmp_path: Path) -> None:  # m11, m15
    done = run("models", cwd=tmp_path)
    assert done.returncode == 2 and "no active profile" in done.stderr
    assert (
        run(
            "profile",
            "add",
            "box",
            "--preset",
            "vllm",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--activate",
            cwd=tmp_path,
        ).returncode
        == 0
    )
    done = run("models", cwd=tmp_path)
    assert done.returncode == 1 and "127.0.0.1:9" in done.stderr  # it asked the active profile's engine


def test_profile_names_complete_for_doctor_and_models(tmp_path: Path) -> None:  # m17
    import os

    assert run("profile", "add", "kimi", "--preset", "kimi", cwd=tmp_path).returncode == 0
    for words in ("ccb doctor --profile ", "ccb models "):
        env = dict(os.environ, _CCB_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(len(words.split())))
        done = run(cwd=tmp_path, env=env)
        assert "kimi" in done.stdout.split(), (words, done.stdout, done.stderr)


def test_launch_without_an_active_profile_names_the_saved_ones(tmp_path: Path) -> None:  # m19
    assert run("profile", "add", "q", "--preset", "vllm", "--model", "m", cwd=tmp_path).returncode == 0
    env = dict(__import__("os").environ, CCB_PROBE_PORTS="")
    done = run("launch", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "`ccb launch q`" in done.stderr and "`ccb profile use q`" in done.stderr


def test_a_local_profile_without_a_model_is_told_the_loaded_one_is_used(tmp_path: Path) -> None:  # m12
    done = run("profile", "add", "local", "--preset", "llamacpp", cwd=tmp_path)
    assert done.returncode == 0
    assert "uses the model the engine has loaded" in done.stderr and "re-add" not in done.stderr


def test_unreachable_hosted_services_are_worded_as_network_problems() -> None:  # m7
    from ccb.cli.engines.http import unreachable_advice

    assert unreachable_advice("http://127.0.0.1:8080/v1") == "is the server running?"
    dns = unreachable_advice("https://api.moonshot.ai/v1/models", "[Errno -2] Name or service not known")
    assert dns.startswith("api.moonshot.ai could not be resolved: no network or DNS here?")
    other = unreachable_advice("https://api.groq.com/openai/v1/models", "[Errno 111] Connection refused")
    assert "is the server running" not in other and "proxy" in other


def test_models_for_an_unresolvable_host_says_so(tmp_path: Path) -> None:  # m7
    done = run("models", "--url", "https://nonexistent.invalid/v1", cwd=tmp_path)
    assert done.returncode == 1
    assert "nonexistent.invalid could not be resolved" in done.stderr, done.stderr


@pytest.mark.slow
def test_launch_after_a_switch_gives_one_line_not_a_warning_per_key(tmp_path: Path) -> None:  # m3, m1
    import os

    from tests.fakes import fake_claude

    bin_dir = tmp_path / "bin"
    fake_claude.install(bin_dir)
    env = dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        FAKE_CLAUDE_RECORD=str(tmp_path / "r"),
        ONE_KEY="sk-one-000000000001",
        TWO_KEY="sk-two-000000000002",
    )
    assert (
        run("profile", "add", "one", "--preset", "kimi", "--api-key-env", "ONE_KEY", cwd=tmp_path, env=env).returncode
        == 0
    )
    assert (
        run(
            "profile", "add", "two", "--preset", "deepseek", "--api-key-env", "TWO_KEY", cwd=tmp_path, env=env
        ).returncode
        == 0
    )
    switched = run("profile", "switch", "one", cwd=tmp_path, env=env)
    assert switched.returncode == 0, switched.stderr
    assert "'one' is also ccb's active profile now" in switched.stderr
    done = run("launch", "two", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "your user settings set" not in done.stderr
    assert done.stderr.count("Plain `claude` is switched to another profile") == 1


@pytest.mark.slow
def test_restore_puts_back_the_active_profile_of_before_the_switch(tmp_path: Path) -> None:  # m1
    import json
    import os

    env = dict(os.environ, ONE_KEY="sk-one-000000000001", TWO_KEY="sk-two-000000000002")
    assert (
        run(
            "profile", "add", "one", "--preset", "kimi", "--api-key-env", "ONE_KEY", "--activate", cwd=tmp_path, env=env
        ).returncode
        == 0
    )
    assert (
        run(
            "profile", "add", "two", "--preset", "deepseek", "--api-key-env", "TWO_KEY", cwd=tmp_path, env=env
        ).returncode
        == 0
    )
    assert run("profile", "switch", "two", cwd=tmp_path, env=env).returncode == 0
    assert run("profile", "switch", "one", cwd=tmp_path, env=env).returncode == 0
    assert run("profile", "switch", "two", cwd=tmp_path, env=env).returncode == 0
    done = run("restore", cwd=tmp_path, env=env)
    assert done.returncode == 0 and "ccb's active profile is 'one' again" in done.stderr
    current = json.loads(run("profile", "current", "--json", cwd=tmp_path, env=env).stdout)
    assert current["active"] == "one"


def test_serve_usage_errors_exit_2(tmp_path: Path) -> None:  # m15, p16
    done = run("serve", "--model", "m", cwd=tmp_path)
    assert done.returncode == 2 and "needs --upstream URL and --model NAME" in done.stderr
    assert run("profile", "add", "box", "--preset", "vllm", "--model", "m", cwd=tmp_path).returncode == 0
    done = run("serve", "--profile", "box", "--upstream", "http://127.0.0.1:9/v1", cwd=tmp_path)
    assert done.returncode == 2 and "exclude each other" in done.stderr


def test_profile_list_shortens_long_model_ids_instead_of_splitting_them(tmp_path: Path) -> None:  # p13
    import os

    long_id = "accounts/fireworks/models/qwen3-coder-480b-a35b-instruct-extended-context-edition"
    assert run("profile", "add", "fw", "--preset", "vllm", "--model", long_id, cwd=tmp_path).returncode == 0
    done = run("profile", "list", cwd=tmp_path, env=dict(os.environ, COLUMNS="80"))
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[1].rstrip().endswith("…"), done.stdout


def test_no_color_means_no_escape_sequences_in_usage_errors(tmp_path: Path) -> None:  # p14
    from tests.support.pty_session import Session, fresh_env

    for extra, escaped in (({"NO_COLOR": "1"}, False), ({}, True)):
        session = Session(["lanuch"], fresh_env(tmp_path, [tmp_path], **extra), tmp_path)
        try:
            assert session.wait() == 2
        finally:
            session.close()
        assert "Did you mean 'launch'?" in session.text
        assert (b"\x1b[" in session.raw) is escaped


def test_help_shows_plain_metavars(tmp_path: Path) -> None:  # p1
    import os

    done = run("launch", "--help", cwd=tmp_path, env=dict(os.environ, COLUMNS="120", NO_COLOR="1"))
    assert done.returncode == 0
    assert "<bool>" not in done.stdout and "<str>" not in done.stdout
    assert "[PROFILE]" in done.stdout and "--claude          PATH" in done.stdout


def _commands() -> list[tuple[str, ...]]:
    """Every command's words, subcommands included (`profile add`), from the app itself."""
    import typer.main

    from ccb.cli.app import app

    found: list[tuple[str, ...]] = []

    def walk(command: object, words: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, (*words, name))
        else:
            found.append(words)

    walk(typer.main.get_command(app), ())
    return found


def test_help_examples_keep_their_indentation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:  # p2
    from ccb.cli import app as app_module

    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    commands = _commands()
    assert ("launch",) in commands and ("profile", "list") in commands and len(commands) > 12
    for words in commands:
        monkeypatch.setattr(sys, "argv", ["ccb", *words, "--help"])
        with pytest.raises(SystemExit) as exited:
            app_module.main()
        assert exited.value.code == 0, words
        text = capsys.readouterr().out
        lines = text.split("\n")
        heading = next(i for i, line in enumerate(lines) if line.strip() in ("Example:", "Examples:"))
        indent = len(lines[heading]) - len(lines[heading].lstrip())
        examples = []
        for line in lines[heading + 1 :]:
            if line.startswith("╭"):
                break
            if line.strip():
                examples.append(line.rstrip())
        shown = [line for line in examples if line.lstrip().startswith(("ccb ", "VLLM_KEY="))]
        assert shown, (words, text)
        for line in shown:  # four spaces under the heading, as written in the docstring
            assert len(line) - len(line.lstrip()) == indent + 4, (words, line)
        assert f"ccb {' '.join(words)}" in "\n".join(shown)


def test_help_prose_flows_at_the_terminal_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:  # p2
    from ccb.cli import app as app_module

    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    for words in (("probe",), ("doctor",), ("profile", "add")):
        monkeypatch.setattr(sys, "argv", ["ccb", *words, "--help"])
        with pytest.raises(SystemExit):
            app_module.main()
        lines = [line.rstrip() for line in capsys.readouterr().out.split("\n")]
        prose = lines[lines.index("") + 1 : next(i for i, line in enumerate(lines) if "Example" in line)]
        paragraphs = "\n".join(prose).split("\n\n")
        # The docstrings wrap at 70-odd columns; at 100 each paragraph fills its lines (no "(SGLang)" alone).
        for paragraph in paragraphs:
            for line in paragraph.strip("\n").split("\n")[:-1]:
                assert len(line) > 80, (words, line)
