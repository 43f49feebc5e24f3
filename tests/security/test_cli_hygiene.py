"""What the CLI prints and keeps: restore keeps the user's later edits, ordinary file errors are one line with
a fix, engine-supplied names reach the terminal without escape sequences, secrets typed on the command line
are warned about and URL passwords refused (audit T3, T5, T13, T15, D7, S2, S7, S8, B22, B23)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from aiohttp import web
from typer.testing import CliRunner

from ccb.cli import app as app_module
from ccb.cli import claude_settings as cs
from ccb.cli.app import app
from tests.support.cli import ccb
from tests.support.servers import serving_in_thread

KEY = "sk-hygiene-0123456789"


def invoke(*args: str, **kwargs: object) -> object:
    return CliRunner().invoke(app, list(args), **kwargs)  # type: ignore[arg-type]


def test_restore_keeps_the_users_own_later_edits_and_says_so(isolated_home: Path) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"env": {"ANTHROPIC_MODEL": "user-model", "MINE": "1"}}))
    ccb("profile", "add", "kimi", "--preset", "kimi", "--api-key-env", "HYGIENE_KEY")
    assert invoke("profile", "switch", "kimi", env={"HYGIENE_KEY": KEY}).exit_code == 0
    data = json.loads(settings.read_text())
    data["env"]["ANTHROPIC_MODEL"] = "my-new-choice"  # the user edits keys ccb wrote
    data["env"]["ANTHROPIC_AUTH_TOKEN"] = "my-own-token"
    data["env"]["NEWVAR"] = "x"
    settings.write_text(json.dumps(data))
    restored = invoke("restore")
    assert restored.exit_code == 0
    env = json.loads(settings.read_text())["env"]
    assert env["ANTHROPIC_MODEL"] == "my-new-choice" and env["ANTHROPIC_AUTH_TOKEN"] == "my-own-token"
    assert env["NEWVAR"] == "x" and env["MINE"] == "1" and "ANTHROPIC_BASE_URL" not in env
    assert "Kept your own edits of" in restored.stderr and "ANTHROPIC_MODEL" in restored.stderr


def test_restore_after_an_untouched_switch_is_still_exact(isolated_home: Path) -> None:
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    original = {"env": {"ANTHROPIC_MODEL": "user-model"}, "permissions": {"allow": []}}
    settings.write_text(json.dumps(original))
    ccb("profile", "add", "kimi", "--preset", "kimi", "--api-key", KEY)
    ccb("profile", "add", "glm", "--preset", "glm", "--api-key", KEY)
    assert invoke("profile", "switch", "kimi").exit_code == 0
    assert invoke("profile", "switch", "glm").exit_code == 0
    result = invoke("restore")
    assert "Kept" not in result.stderr
    assert json.loads(settings.read_text()) == original


def test_a_full_disk_is_one_line_with_the_fix(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ccb("profile", "add", "kimi", "--preset", "kimi", "--api-key", KEY)

    def full(path: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(cs, "write_json_atomic", full)
    monkeypatch.setattr(sys, "argv", ["ccb", "profile", "switch", "kimi"])
    with pytest.raises(SystemExit) as stopped:
        app_module.main()
    assert stopped.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unexpected" not in err
    assert "No space left on device" in err and "free some disk space" in err


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="a permission error needs a second user (root and setpriv start it)",
)
def test_a_read_only_claude_folder_is_one_line_with_the_fix(tmp_path: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="ccb-test-nobody-home-"))
    try:
        (home / ".claude").mkdir()
        for folder in (home, home / ".claude"):
            os.chown(folder, 65534, 65534)
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "CCB_HOME": str(home / ".ccb"), "NO_PROXY": "*"}
        setpriv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-P", "-m", "ccb.cli"]
        added = subprocess.run(
            [*setpriv, "profile", "add", "kimi", "--preset", "kimi", "--api-key", KEY],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        (home / ".claude").chmod(0o555)
        switched = subprocess.run(
            [*setpriv, "profile", "switch", "kimi"],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert switched.returncode == 1
        err = switched.stderr.strip()
        assert len(err.splitlines()) == 1 and "unexpected" not in err, err
        assert "Permission denied" in err and "ls -l" in err
    finally:
        shutil.rmtree(home)


HOSTILE = "evil\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[31mred\nfake line\x9b"


def hostile_engine() -> web.Application:
    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": HOSTILE, "object": "model"}]})

    application = web.Application()
    application.router.add_get("/v1/models", models)
    return application


def test_engine_supplied_names_reach_the_terminal_without_escape_sequences() -> None:
    with serving_in_thread(hostile_engine()) as url:
        for args in (["models", "--url", url + "/v1"], ["probe", url + "/v1"]):
            result = invoke(*args)
            out = result.stdout + result.stderr
            assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out, (args, out)
            assert "fake line" not in out.replace("\\x0afake line", "")
        listed = invoke("models", "--url", url + "/v1", "--json")
        assert json.loads(listed.stdout)["models"][0]["id"] == HOSTILE  # --json keeps the exact id, escaped


def test_a_key_typed_on_the_command_line_is_warned_about() -> None:
    typed = invoke("profile", "add", "kimi", "--preset", "kimi", "--api-key", KEY)
    assert typed.exit_code == 0 and "shows in `ps`" in typed.stderr
    piped = invoke("profile", "add", "glm", "--preset", "glm", "--api-key", "-", input=KEY + "\n")
    assert piped.exit_code == 0 and "shows in `ps`" not in piped.stderr


def test_a_password_in_the_upstream_url_is_refused_and_never_printed() -> None:
    result = invoke("serve", "--upstream", "http://user:PWSECRET99@127.0.0.1:9/v1", "--model", "m", "--engine", "vllm")
    assert result.exit_code != 0
    message = str(result.exception) + result.output
    assert "user:password" in message and "PWSECRET99" not in message


@pytest.mark.parametrize("option", ["--upstream-key", "--auth-token"])
def test_a_secret_with_a_newline_is_refused_at_start(option: str) -> None:
    result = invoke(
        "serve",
        "--upstream",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--engine",
        "vllm",
        option,
        "sk-line\nbreak-0123456789",
    )
    assert result.exit_code != 0 and "control character" in str(result.exception)
    assert "break-0123456789" not in str(result.exception)


def test_a_network_listener_needs_a_token_worth_the_name() -> None:
    result = invoke(
        "serve",
        "--host",
        "0.0.0.0",
        "--auth-token",
        "x",
        "--upstream",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--engine",
        "vllm",
    )
    assert result.exit_code != 0 and "at least 16" in str(result.exception)
