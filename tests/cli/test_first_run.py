"""A new user's first minutes on a real pseudo-terminal: fresh HOME, no `claude` anywhere.

`ccb launch` must offer the pinned install (never crash inside its event loop), show the exact npm command and
where it goes, and find that copy on the next launch even though it is not on PATH. npm is a local fake here:
nothing is downloaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ccb.cli.claude_bin import NEWEST_TESTED
from tests.support.pty_session import ENTER, Session, fresh_env

FAKE_NPM = r"""
import json, os, sys
from pathlib import Path
with open(os.environ["FAKE_NPM_RECORD"], "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\n")
prefix = Path(sys.argv[sys.argv.index("--prefix") + 1])
target = prefix / "node_modules" / ".bin"
if os.environ.get("FAKE_NPM_LINK"):  # "install" a real Claude Code that is already on this machine
    target.mkdir(parents=True, exist_ok=True)
    (target / "claude").symlink_to(os.environ["FAKE_NPM_LINK"])
else:
    sys.path.insert(0, os.environ["FAKE_NPM_TESTS"])
    from fakes import fake_claude
    fake_claude.install(target)
print("added 3 packages in 1s")
"""


@pytest.fixture
def newcomer(tmp_path: Path) -> dict[str, object]:
    """A fresh HOME with one saved provider profile (direct route, no engine needed) and no `claude`."""
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = fresh_env(
        home,
        [bin_dir],
        MOONSHOT_API_KEY="sk-test-0000000000001234",
        CCB_PROBE_PORTS="",
        FAKE_CLAUDE_RECORD=str(tmp_path / "claude.json"),
        FAKE_NPM_RECORD=str(tmp_path / "npm.log"),
        FAKE_NPM_TESTS=str(Path(__file__).resolve().parents[1]),
    )
    add = subprocess.run(
        [
            sys.executable,
            "-m",
            "ccb.cli",
            "profile",
            "add",
            "kimi",
            "--preset",
            "kimi",
            "--api-key-env",
            "MOONSHOT_API_KEY",
            "--activate",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert add.returncode == 0, add.stderr
    return {"home": home, "bin": bin_dir, "env": env, "cwd": tmp_path}


def _install_fake_npm(bin_dir: Path) -> None:
    npm = bin_dir / "npm"
    npm.write_text(f"#!{sys.executable}\n{FAKE_NPM}", encoding="utf-8")
    npm.chmod(0o755)


def _install_dir(home: Path) -> Path:
    # platformdirs' data folder for a fresh HOME without XDG variables
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "ccb" / "claude-code"
    return home / ".local" / "share" / "ccb" / "claude-code"


def test_launch_without_claude_offers_the_pinned_install_and_no_says_how(newcomer: dict[str, object]) -> None:
    _install_fake_npm(newcomer["bin"])  # type: ignore[arg-type]
    where = _install_dir(newcomer["home"])  # type: ignore[arg-type]
    session = Session(["launch"], newcomer["env"], newcomer["cwd"])  # type: ignore[arg-type]
    try:
        screen = session.expect("Install it now?")
        command = (
            f"npm install --prefix {where} --no-fund --no-audit --no-update-notifier "
            f"@anthropic-ai/claude-code@{NEWEST_TESTED}"
        )
        assert command in " ".join(screen.split())
        assert f"Claude Code {NEWEST_TESTED}" in screen
        session.send("n")
        code = session.wait()
    finally:
        session.close()
    text = session.text
    assert code == 1
    assert "RuntimeError" not in text and "asyncio" not in text and "Traceback" not in text
    assert "Claude Code (`claude`) is not installed" in text
    assert f"npm install -g @anthropic-ai/claude-code@{NEWEST_TESTED}" in text
    assert "--claude PATH" in text
    assert not (newcomer["cwd"] / "npm.log").exists()  # type: ignore[operator]


def test_yes_at_the_offer_installs_says_where_and_the_next_launch_finds_it(newcomer: dict[str, object]) -> None:
    _install_fake_npm(newcomer["bin"])  # type: ignore[arg-type]
    where = _install_dir(newcomer["home"])  # type: ignore[arg-type]
    cwd: Path = newcomer["cwd"]  # type: ignore[assignment]
    session = Session(["launch", "--", "-p", "hi"], newcomer["env"], cwd)  # type: ignore[arg-type]
    try:
        session.expect("Install it now?")
        session.send("y")
        code = session.wait()
    finally:
        session.close()
    installed = where / "node_modules" / ".bin" / "claude"
    assert code == 0, session.text
    flat = " ".join(session.text.split())
    assert f"Installed Claude Code {NEWEST_TESTED} at {installed}" in flat
    assert f"add {installed.parent} to your PATH" in flat
    npm_calls = [json.loads(line) for line in (cwd / "npm.log").read_text().splitlines()]
    assert npm_calls == [
        [
            "install",
            "--prefix",
            str(where),
            "--no-fund",
            "--no-audit",
            "--no-update-notifier",
            f"@anthropic-ai/claude-code@{NEWEST_TESTED}",
        ]
    ]
    record = json.loads((cwd / "claude.json").read_text())
    assert record["argv"][-2:] == ["-p", "hi"]
    assert record["env"]["ANTHROPIC_BASE_URL"] == "https://api.moonshot.ai/anthropic"

    # Next time, without a terminal and without --yes: found where ccb put it, nothing installed again.
    (cwd / "claude.json").unlink()
    again = subprocess.run(
        [sys.executable, "-m", "ccb.cli", "launch"],
        env=newcomer["env"],
        cwd=cwd,  # type: ignore[arg-type]
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert (cwd / "claude.json").exists()
    assert len((cwd / "npm.log").read_text().splitlines()) == 1


def test_without_npm_there_is_no_offer_only_the_ways_to_install(newcomer: dict[str, object]) -> None:
    session = Session(["launch"], newcomer["env"], newcomer["cwd"])  # type: ignore[arg-type]
    try:
        code = session.wait()
    finally:
        session.close()
    assert code == 1
    assert "Install it now?" not in session.text
    assert "curl -fsSL https://claude.ai/install.sh | bash" in session.text
    assert "RuntimeError" not in session.text


def test_ctrl_c_at_the_offer_installs_nothing_and_exits_130(newcomer: dict[str, object]) -> None:
    _install_fake_npm(newcomer["bin"])  # type: ignore[arg-type]
    session = Session(["launch"], newcomer["env"], newcomer["cwd"])  # type: ignore[arg-type]
    try:
        session.expect("Install it now?")
        session.send("\x03")
        code = session.wait()
    finally:
        session.close()
    assert code == 130
    assert not (newcomer["cwd"] / "npm.log").exists()  # type: ignore[operator]


@pytest.mark.claude
@pytest.mark.engine
@pytest.mark.slow
def test_a_new_user_with_nothing_gets_the_builtin_engine_and_claude_code_answers(tmp_path: Path) -> None:
    """Fresh HOME, no engine, no key, no claude: `ccb launch` → wizard → built-in engine on the SmolLM2 file →
    install offer (npm here links the real Claude Code) → Claude Code's answer from the model."""
    from tests.support.claude import claude_path
    from tests.support.llama_server import model_path

    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    bin_dir.mkdir()
    _install_fake_npm(bin_dir)
    env = fresh_env(
        home,
        [bin_dir, Path("/usr/bin"), Path("/bin")],
        CCB_PROBE_PORTS="",
        FAKE_NPM_RECORD=str(tmp_path / "npm.log"),
        FAKE_NPM_LINK=str(claude_path()),
    )
    prompt = ["-p", "Say hello.", "--system-prompt", "Answer in at most five words.", "--output-format", "json"]
    session = Session(["launch", "--", *prompt], env, tmp_path)
    try:
        screen = session.expect("Another server (any address)")  # the whole menu is on the screen
        assert "No engine is running" in screen
        assert "» ccb's built-in engine — runs a GGUF model file on this computer" in screen  # the default
        session.send(ENTER)
        session.expect("GGUF model file")
        session.send(str(model_path()) + ENTER)
        session.expect("Main model", timeout=300)
        session.send(ENTER)
        session.expect("Web search for Claude Code", timeout=600)
        session.send(ENTER)  # none for now
        screen = session.expect("Name for this profile")
        flat = " ".join(screen.split())
        assert "The model answered (through the ccb bridge" in flat and "It works" not in flat
        assert "chat template drops tool definitions" in flat
        session.send(ENTER)
        screen = session.expect("Install it now?")
        assert f"Claude Code {NEWEST_TESTED}" in screen
        session.send("y")
        code = session.wait(timeout=1500)
    finally:
        session.close()
    text = session.text
    flat = " ".join(text.split())
    assert "Saved profile 'embedded'" in flat and "Installed Claude Code" in flat
    assert "The embedded engine is ready" in flat
    answer = json.loads([line for line in text.splitlines() if line.startswith("{") and '"result"' in line][-1])
    # The model's words reached Claude Code through the bridge, with no engine or transport error on the way.
    assert answer["usage"]["output_tokens"] > 0 and answer.get("api_error_status") is None, answer
    if answer["is_error"]:
        # SmolLM2-135M samples at llama.cpp's default temperature and sometimes rambles on past the output limit,
        # which Claude Code reports as an over-long answer: the one outcome a 135M model may add.
        assert "output token maximum" in answer["result"] and code == 1, answer
    else:
        assert code == 0 and answer["result"].strip(), text[-3000:]
    stored = json.loads(next(home.rglob("profiles.json")).read_text())
    profile = stored["profiles"]["embedded"]
    assert profile["model"] == str(model_path()) and profile.get("api_key") is None


def test_after_an_interactive_session_the_resume_hint_keeps_the_profile(newcomer: dict[str, object]) -> None:
    from tests.fakes import fake_claude

    fake_claude.install(newcomer["bin"])  # type: ignore[arg-type]
    session = Session(["launch"], newcomer["env"], newcomer["cwd"])  # type: ignore[arg-type]
    try:
        code = session.wait()
    finally:
        session.close()
    assert code == 0
    assert "`ccb launch kimi -- --resume <id>`" in " ".join(session.text.split())
