"""No Python file from the current directory runs inside any process ccb starts (audit L6).

A cloned repository is untrusted code; users run ccb inside one. Each planted module records that it ran
and then fails the import, so a process that picks it up cannot go on unnoticed either.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ccb.cli import bridge_daemon
from ccb.cli.app import app
from tests.fakes.openai_engine import FakeEngine
from tests.support.cli import ccb
from tests.support.servers import serving_in_thread

PLANTED = ("json", "orjson", "asyncio", "aiohttp", "yarl", "ccb")


def plant(folder: Path) -> Path:
    """Modules that shadow what ccb imports; each leaves a marker file naming itself when it runs."""
    marker = folder / "EXECUTED"
    body = (
        f"open({str(marker)!r}, 'a').write(__name__ + ' ' + str(__import__('os').getpid()) + '\\n')\n"
        "raise ImportError('planted module')\n"
    )
    for name in PLANTED:
        if name == "ccb":
            (folder / "ccb").mkdir()
            (folder / "ccb" / "__init__.py").write_text(body)
        else:
            (folder / f"{name}.py").write_text(body)
    return marker


def ccb_script() -> str:
    """The installed `ccb` entry point, as a user runs it (a console script does not put the cwd on sys.path)."""
    found = Path(sys.executable).with_name("ccb")
    assert found.exists(), f"the ccb console script is not installed next to {sys.executable}"
    return str(found)


def test_ccb_serve_imports_nothing_from_the_current_directory(tmp_path: Path) -> None:
    project = tmp_path / "cloned-repo"
    project.mkdir()
    marker = plant(project)
    engine = FakeEngine("vllm", context=32768)
    with serving_in_thread(engine.app) as url:
        out, err = tmp_path / "serve.out", tmp_path / "serve.err"
        with out.open("wb") as fout, err.open("wb") as ferr:
            proc = subprocess.Popen(
                [ccb_script(), "serve", "--upstream", url + "/v1", "--model", "m", "--engine", "vllm", "--port", "0"],
                cwd=project,
                stdout=fout,
                stderr=ferr,
                env={**os.environ, "CCB_UPSTREAM_KEY": "sk-upstream-secret-1234"},
            )
        try:
            deadline = time.monotonic() + 30  # hang guard only
            while not (found := re.search(r"ANTHROPIC_BASE_URL=(\S+)", out.read_text())):
                assert proc.poll() is None, err.read_text()
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.05)
            token = re.search(r"ANTHROPIC_AUTH_TOKEN=(\S+)", out.read_text())
            assert token is not None
            resp = httpx.post(
                found.group(1) + "/v1/messages",
                timeout=30,
                trust_env=False,
                headers={"x-api-key": token.group(1)},
                json={"model": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            )
            assert resp.status_code == 200, resp.text
            # Audit S4: the key and token are not left in the bridge's environment (/proc/PID/environ).
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
            assert b"sk-upstream-secret-1234" not in environ and token.group(1).encode() not in environ
        finally:
            proc.terminate()
            proc.wait(30)
    assert not marker.exists(), marker.read_text()


def test_background_bridge_imports_nothing_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "cloned-repo"
    project.mkdir()
    marker = plant(project)
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        monkeypatch.chdir(project)
        try:
            result = CliRunner().invoke(app, ["serve", "--profile", "local", "--detach", "--json"])
            assert result.exit_code == 0, result.output
            state = json.loads(result.stdout)
            # The detached bridge runs in ccb's private state folder, not in the project.
            assert Path(os.readlink(f"/proc/{state['pid']}/cwd")) != project
            token = bridge_daemon.read_state().token  # type: ignore[union-attr]
            assert token.encode() not in Path(f"/proc/{state['pid']}/environ").read_bytes()
            for _ in range(3):
                resp = httpx.get(state["url"] + "/v1/models", headers={"x-api-key": token}, trust_env=False)
                assert resp.status_code == 200
            # Audit S14: the detached bridge's stderr file is private and gets no per-request lines (those go
            # to the rotating bridge.log).
            daemon_log = Path(state["log"])
            assert daemon_log.stat().st_mode & 0o777 == 0o600
            assert "/v1/models" not in daemon_log.read_text()
        finally:
            bridge_daemon.stop()
    assert not marker.exists(), marker.read_text()
    shutil.rmtree(project)
