"""The onboarding wizard (`ccb setup`, and `ccb launch` with nothing to launch) driven by scripted keystrokes.

Keys go through a prompt_toolkit pipe input; the screen is recorded by a real VT100 output writing to a
string, so a test can prove a typed key is never drawn. The pipe is closed after the script, so a wizard
that asks more than the script answers ends (as a cancellation) instead of hanging.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output.vt100 import Vt100_Output

from ccb.cli import onboard, paths
from ccb.cli.commands import setup as setup_cmd
from ccb.cli.engines import probe
from ccb.cli.engines.status import EngineStatus, ModelInfo
from ccb.cli.errors import CcbError, ExitCode
from ccb.cli.profile_store import profile_from_preset
from ccb.profiles import get_preset
from tests.fakes import fake_claude
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_engine import FakeEngine
from tests.support.servers import serving_in_thread

UP, DOWN, ENTER, CTRL_C, CLEAR_LINE = "\x1b[A", "\x1b[B", "\r", "\x03", "\x15"
KEY = "sk-onboard-test-7f3c9e2a41d8wxyz"
WRONG_KEY = "sk-wrong-key-0000000000001234"


@contextmanager
def terminal(*keys: str) -> Iterator[io.StringIO]:
    """Questions read `keys`; everything drawn lands in the yielded buffer."""
    screen = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text("".join(keys))
        pipe.close()  # once the script is used up, the next question sees end-of-input
        output = Vt100_Output(screen, lambda: Size(rows=60, columns=200), term="xterm")
        with create_app_session(input=pipe, output=output):
            yield screen


class Terminal(io.StringIO):
    """Stands in for stdin/stdout when a test needs ccb to believe it talks to a person."""

    def isatty(self) -> bool:
        return True


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stored() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(paths.profiles_file().read_text())
    return doc


def hosted_fake(key: str = KEY) -> FakeAnthropic:
    """A custom Anthropic-compatible provider that wants `key`, with a model list behind the same key."""
    return FakeAnthropic(key=key, models=("glm-x", "kimi-y"))


def custom_anthropic_keys(url: str, key: str) -> list[str]:
    """From the first question to the model menu: another server, Anthropic API, its URL, a pasted key."""
    return [UP, ENTER, DOWN, ENTER, CLEAR_LINE, url, ENTER, ENTER, key, ENTER]


# ------------------------------------------------------------------------------------------ local engine


@pytest.mark.parametrize("kind", ["llamacpp", "vllm"])
def test_local_engine_found_tested_and_saved(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = FakeEngine(kind, context=32768, model="qwen-tiny")
    with serving_in_thread(engine.app) as url:
        port = urlsplit(url).port or 0
        # The running engine is preselected, and so is its loaded model; no web search; default name; "Just save it".
        with terminal(ENTER, ENTER, ENTER, ENTER, DOWN, DOWN, ENTER) as screen:
            assert setup_cmd.run_setup(ports=[port]) is None
    err = capsys.readouterr().err
    assert "running at 127.0.0.1:" in screen.getvalue()
    assert "qwen-tiny  (suggested)" in screen.getvalue()
    doc = stored()
    assert doc["active"] == kind
    profile = doc["profiles"][kind]
    assert profile["preset"] == kind and profile["engine"] == kind
    assert profile["base_url"] == f"{url}/v1"
    assert {profile[s] for s in ("model", "opus_model", "sonnet_model", "haiku_model", "subagent_model")} == {
        "qwen-tiny"
    }
    # The test request went through the embedded bridge (a 32k window never goes direct) to the engine.
    chats = [r for r in engine.requests if "messages" in r and "count_tokens" not in r]
    assert chats and chats[-1]["model"] == "qwen-tiny"
    # 32k holds Claude Code's first request but compacts often: a warning naming the engine's own fix, and no
    # unqualified "It works".
    assert "The model answered (through the ccb bridge" in err and "first token after" in err
    assert "It works" not in err
    flat = " ".join(err.split())
    fix = {
        "llamacpp": "restart llama-server with `-c 65536 -np 1`",
        "vllm": "restart vLLM with `--max-model-len 65536`",
    }
    assert "the engine's window is 32,768 tokens" in flat and fix[kind] in flat
    assert not paths.claude_settings_file().exists()


def test_web_search_backend_offered_for_a_bridged_engine(capsys: pytest.CaptureFixture[str]) -> None:
    engine = FakeEngine("vllm", context=131072, model="qwen-tiny")
    with serving_in_thread(engine.app) as url:
        port = urlsplit(url).port or 0
        # Engine, model, then "A SearXNG instance" with its address typed over the default, name, "Just save it".
        keys = [ENTER, ENTER, DOWN, ENTER, CLEAR_LINE, "http://127.0.0.1:8888", ENTER, ENTER, DOWN, DOWN, ENTER]
        with terminal(*keys) as screen:
            assert setup_cmd.run_setup(ports=[port]) is None
    assert "Web search for Claude Code" in screen.getvalue()
    assert stored()["profiles"]["vllm"]["web_search"] == "http://127.0.0.1:8888"


def test_web_search_with_a_keyed_service(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    engine = FakeEngine("vllm", context=131072, model="qwen-tiny")
    with serving_in_thread(engine.app) as url:
        port = urlsplit(url).port or 0
        keys = [ENTER, ENTER, DOWN, DOWN, DOWN, ENTER, ENTER, ENTER, DOWN, DOWN, ENTER]  # Tavily, usual variable
        with terminal(*keys):
            assert setup_cmd.run_setup(ports=[port]) is None
    profile = stored()["profiles"]["vllm"]
    assert profile["web_search"] == "tavily" and profile["web_search_key_env"] is None
    assert "$TAVILY_API_KEY is not set" in capsys.readouterr().err


def test_a_window_claude_code_cannot_answer_in_is_never_called_working(capsys: pytest.CaptureFixture[str]) -> None:
    engine = FakeEngine("llamacpp", context=8192, model="qwen-tiny")
    with serving_in_thread(engine.app) as url:
        port = urlsplit(url).port or 0
        # engine, model, then "Save it anyway" at the refusal, default name, "Just save it"
        with terminal(ENTER, ENTER, DOWN, ENTER, ENTER, ENTER, DOWN, DOWN, ENTER):  # (no web search)
            assert setup_cmd.run_setup(ports=[port]) is None
    err = " ".join(capsys.readouterr().err.split())
    assert "It works" not in err and "answered" not in err
    assert "Claude Code cannot answer on this set-up: the engine's window is 8,192 tokens" in err
    assert "restart llama-server with `-c 65536 -np 1`" in err
    assert not [r for r in engine.requests if "messages" in r]  # no test request proves nothing
    assert "saved without a passing test" in err


# ------------------------------------------------------------------------------------------ hosted, key


def test_hosted_key_is_stored_and_never_shown(capsys: pytest.CaptureFixture[str]) -> None:
    fake = hosted_fake()
    with serving_in_thread(fake.app) as url:
        keys = custom_anthropic_keys(url, KEY) + [DOWN, ENTER, CLEAR_LINE, "work", ENTER, ENTER]
        with terminal(*keys) as screen:
            assert setup_cmd.run_setup(ports=[free_port()]) == "work"  # "Launch now" hands the name back
    out, err = capsys.readouterr()
    for text in (out, err, screen.getvalue()):
        assert KEY not in text
        assert KEY[:-4] not in text
    profile = stored()["profiles"]["work"]
    assert profile["api_key"] == KEY and profile["api_key_env"] is None
    assert profile["protocol"] == "anthropic" and profile["base_url"] == url
    assert profile["model"] == "kimi-y"
    assert stored()["active"] == "work"
    # The test request went straight to the provider, with the key, as Claude Code would send it.
    assert fake.headers[-1]["Authorization"] == f"Bearer {KEY}"
    assert fake.requests[-1]["model"] == "kimi-y" and fake.requests[-1]["stream"] is True
    assert "It works (directly to" in err
    assert "No engine is running" in err


def test_make_it_the_default_for_plain_claude(capsys: pytest.CaptureFixture[str]) -> None:
    fake = hosted_fake()
    with serving_in_thread(fake.app) as url:
        keys = custom_anthropic_keys(url, KEY) + [ENTER, ENTER, DOWN, ENTER]  # glm-x, default name, switch
        with terminal(*keys):
            assert setup_cmd.run_setup(ports=[free_port()]) is None
    out, err = capsys.readouterr()
    env = json.loads(paths.claude_settings_file().read_text())["env"]
    assert env["ANTHROPIC_BASE_URL"] == url and env["ANTHROPIC_MODEL"] == "glm-x"
    assert env["ANTHROPIC_AUTH_TOKEN"] == KEY  # plain `claude` cannot read ccb's profile: the key goes there
    assert stored()["active"] == "custom"
    assert "Plain `claude` now uses 'custom'" in err
    assert KEY not in out + err


def test_failed_test_offers_retry_then_back(capsys: pytest.CaptureFixture[str]) -> None:
    fake = hosted_fake()
    with serving_in_thread(fake.app) as url:
        keys = custom_anthropic_keys(url, WRONG_KEY)
        keys += ["kimi-y", ENTER]  # listing failed (key refused): the model is typed instead
        keys += [ENTER, DOWN, ENTER]  # "Try again" (fails again), then "Go back"
        keys += [ENTER]  # back at the first question, "Another server" is preselected
        keys += [DOWN, ENTER, CLEAR_LINE, url, ENTER, ENTER, KEY, ENTER, ENTER]  # right key, model glm-x
        keys += [ENTER, DOWN, DOWN, ENTER]  # default name, "Just save it"
        with terminal(*keys) as screen:
            assert setup_cmd.run_setup(ports=[free_port()]) is None
    out, err = capsys.readouterr()
    assert err.count("the test request failed") == 2
    assert "HTTP 401" in err and "the key was refused" in err
    assert "could not list the models" in err
    for text in (out, err, screen.getvalue()):
        assert WRONG_KEY not in text and KEY not in text
    profile = stored()["profiles"]["custom"]
    assert profile["api_key"] == KEY and profile["model"] == "glm-x"


def test_save_anyway_after_a_failed_test(capsys: pytest.CaptureFixture[str]) -> None:
    fake = hosted_fake()
    with serving_in_thread(fake.app) as url:
        keys = custom_anthropic_keys(url, WRONG_KEY) + ["kimi-y", ENTER]
        keys += [DOWN, DOWN, ENTER, ENTER, DOWN, DOWN, ENTER]  # "Save it anyway", default name, "Just save"
        with terminal(*keys):
            setup_cmd.run_setup(ports=[free_port()])
    assert stored()["profiles"]["custom"]["api_key"] == WRONG_KEY
    assert WRONG_KEY not in "".join(capsys.readouterr())


async def test_usual_env_var_is_offered_with_its_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek-secret-abcd")
    with terminal(ENTER) as screen:
        answer = await onboard._ask_key(get_preset("deepseek"), optional=False)
    assert answer == (None, "DEEPSEEK_API_KEY")
    assert "Use $DEEPSEEK_API_KEY (set, ends in …abcd)" in screen.getvalue()
    assert "sk-deepseek-secret" not in screen.getvalue()


# ------------------------------------------------------------------------------------------ Ctrl-C


def test_ctrl_c_at_the_key_prompt_saves_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    keys = [UP, ENTER, DOWN, ENTER, CLEAR_LINE, "http://127.0.0.1:9", ENTER, ENTER, "sk-half-typed", CTRL_C]
    with terminal(*keys) as screen, pytest.raises(CcbError) as caught:
        setup_cmd.run_setup(ports=[free_port()])
    assert caught.value.exit_code == ExitCode.INTERRUPTED
    assert caught.value.message == "setup cancelled; nothing was saved"
    assert not paths.profiles_file().exists()
    assert not paths.claude_settings_file().exists()
    assert "sk-half-typed" not in screen.getvalue() + "".join(capsys.readouterr())


def test_bare_launch_on_a_terminal_runs_the_wizard_and_ctrl_c_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ccb.cli.app import main

    async def no_engines(**_: Any) -> list[EngineStatus]:
        return []

    # No engine anywhere (whatever listens on this machine's usual ports), and both ends look like a terminal.
    monkeypatch.setattr(probe, "probe_local", no_engines)
    monkeypatch.setattr(onboard, "probe_local", no_engines)
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(sys, "stdout", Terminal())
    monkeypatch.setattr(sys, "argv", ["ccb", "launch"])
    with terminal(DOWN, CTRL_C) as screen, pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 130
    assert "Where does the model you want to use run?" in screen.getvalue()
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: setup cancelled; nothing was saved"
    assert not any("Traceback" in line for line in err)
    assert not paths.profiles_file().exists()


def test_launch_with_nothing_set_up_onboards_then_launches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ccb.cli.app import main

    claude = fake_claude.install(tmp_path / "bin")
    record = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(record))
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "call")  # the fake claude sends one request through the bridge
    engine = FakeEngine("llamacpp", context=65536, model="qwen-tiny")
    with serving_in_thread(engine.app) as url:
        port = urlsplit(url).port or 0
        real_probe = probe.probe_local

        async def nothing(**_: Any) -> list[EngineStatus]:
            return []

        async def only_the_fake(**_: Any) -> list[EngineStatus]:
            return await real_probe(ports=[port])

        # `ccb launch`'s own probe finds nothing, so it onboards; the wizard's probe sees the fake engine.
        monkeypatch.setattr(probe, "probe_local", nothing)
        monkeypatch.setattr(onboard, "probe_local", only_the_fake)
        monkeypatch.setattr(sys, "stdin", Terminal())
        monkeypatch.setattr(sys, "stdout", Terminal())
        monkeypatch.setattr(sys, "argv", ["ccb", "launch", "--claude", str(claude)])
        # Engine, model, name: no "what next?" question, since launching is what was asked for.
        with terminal(ENTER, ENTER, ENTER, ENTER), pytest.raises(SystemExit) as exited:
            main()
    assert exited.value.code == 0, capsys.readouterr().err
    assert stored()["active"] == "llamacpp"
    seen = json.loads(record.read_text())
    assert seen["call"]["status"] == 200
    assert seen["settings"]["env"]["ANTHROPIC_MODEL"] == "qwen-tiny"


# ------------------------------------------------------------------------------------------ no terminal


def test_setup_without_a_terminal_says_what_to_run_instead(tmp_path: Path) -> None:
    script = "import sys\nfrom ccb.cli import app\nsys.argv = ['ccb', 'setup']\napp.main()\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "needs a terminal" in lines[0]
    assert "ccb profile add NAME --preset PRESET --api-key-env VAR" in lines[0]
    assert not paths.profiles_file().exists()


# ------------------------------------------------------------------------------------------ pure parts


def test_context_warning_names_the_engine_fix() -> None:
    assert onboard.context_warning("ollama", 65536) is None
    assert onboard.context_warning("ollama", None) is None
    warning = onboard.context_warning("ollama", 4096)
    assert warning is not None and warning.level == "refuse"
    assert "4,096 tokens" in warning.problem and "OLLAMA_CONTEXT_LENGTH=65536" in warning.fix
    assert "65536 tokens or more" in onboard.context_warning("tgi", 8192).fix  # type: ignore[union-attr]


def test_unique_name() -> None:
    assert onboard.unique_name("kimi", []) == "kimi"
    assert onboard.unique_name("kimi", ["kimi", "kimi-2"]) == "kimi-3"


def test_default_slots_keep_listed_suggestions_and_follow_a_chosen_model() -> None:
    draft = profile_from_preset("ds", "deepseek")
    listed = ["deepseek-v4-pro", "deepseek-v4-flash"]
    assert onboard.default_slots(draft, "deepseek-v4-pro", listed) == {
        "opus": "deepseek-v4-pro",
        "sonnet": "deepseek-v4-pro",
        "haiku": "deepseek-v4-flash",
        "subagent": "deepseek-v4-pro",
    }
    # A suggestion the provider no longer lists falls back to the main model.
    assert onboard.default_slots(draft, "deepseek-v4-pro", ["deepseek-v4-pro"])["haiku"] == "deepseek-v4-pro"
    # The user picked something else: every slot follows it.
    assert set(onboard.default_slots(draft, "other-model", listed).values()) == {"other-model"}


def test_target_menu_lists_running_engines_first_in_plain_words() -> None:
    running = EngineStatus(
        "http://127.0.0.1:11434",
        "ok",
        kind="ollama",
        version="0.12.3",
        models=(ModelInfo("qwen3-coder:30b", loaded=True),),
    )
    menu, targets = onboard.target_menu([running])
    titles = [str(item.title) for item in menu]
    assert titles[1] == "Ollama 0.12.3 — running at 127.0.0.1:11434, model qwen3-coder:30b"
    assert targets["engine:0"].status is running and targets["engine:0"].preset.name == "ollama"
    assert "Ollama — not running now (you will give its address)" not in titles
    assert "Moonshot Kimi — works with Claude Code directly" in titles
    assert "Groq — ccb translates for Claude Code" in titles
    assert titles[-1].startswith("Another server (any address)")
    kimi, groq = (
        titles.index("Moonshot Kimi — works with Claude Code directly"),
        titles.index("Groq — ccb translates for Claude Code"),
    )
    assert titles.index("vLLM — not running now (you will give its address)") < kimi < groq


def test_the_bridges_log_lines_stay_out_of_the_wizard(capsys: pytest.CaptureFixture[str]) -> None:  # m8
    profile = profile_from_preset("gone", "vllm", base_url=f"http://127.0.0.1:{free_port()}/v1", model="m")
    result = asyncio.run(setup_cmd.test_connection(profile, None))
    assert not result.ok and "through the ccb bridge" in result.via
    err = capsys.readouterr().err
    assert "answering 502" not in err and "cannot reach the engine" not in err


def test_an_unset_key_variable_is_not_offered_a_retry_that_cannot_pass(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:  # m9
    monkeypatch.delenv("NEVER_SET_KEY", raising=False)
    profile = profile_from_preset("ds", "deepseek", api_key_env="NEVER_SET_KEY", model="deepseek-chat")
    with terminal(ENTER) as screen:  # the first choice
        verdict, tested = asyncio.run(onboard._test(profile, None, setup_cmd.test_connection))
    assert (verdict, tested) == ("back", False)
    assert "Try again" not in screen.getvalue() and "Go back and change the settings" in screen.getvalue()


def test_another_server_gets_the_engine_checks_and_no_key_first(capsys: pytest.CaptureFixture[str]) -> None:  # p8, p9
    engine = FakeEngine("llamacpp", context=8192, model="qwen-tiny")
    with serving_in_thread(engine.app) as url:
        keys = [UP, ENTER, ENTER, CLEAR_LINE, url + "/v1", ENTER]  # Another server, OpenAI's API, its address
        keys += [ENTER, ENTER]  # "No key needed" comes first (it answered without one), the listed model
        keys += [DOWN, ENTER, ENTER, ENTER, DOWN, DOWN, ENTER]  # save anyway, no web search, default name, save
        with terminal(*keys) as screen:
            assert setup_cmd.run_setup(ports=[free_port()]) is None
    err = " ".join(capsys.readouterr().err.split())
    assert "No key needed (the server answered without one)" in screen.getvalue()
    assert "Claude Code cannot answer on this set-up: the engine's window is 8,192 tokens" in err
    assert stored()["profiles"]["custom"]["api_key"] is None
