"""A planted key never shows: not in profile output, `--json`, error answers, logs or tracebacks.

The key is planted everywhere it can live: a profile's literal key, a profile's key variable, the bridge's
upstream key (flag and environment) and, worst of all, in the engine's own error answers, which echo it
back the way hosted APIs do ("Incorrect API key provided: sk-...").
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner

from ccb.cli import paths
from ccb.cli.app import app
from tests.fakes.faulty_engine import Behaviour, FaultyEngine, Reply, Stream, sse
from tests.fakes.openai_engine import Answer, render_stream
from tests.reliability.conftest import RigFactory
from tests.reliability.helpers import ask
from tests.support.processes import ServeProcess

KEY = "sk-PLANTED-0123456789abcdef"
ENV_KEY = "sk-PLANTED-ENV-fedcba9876543210"
PARTIAL = sse(render_stream(Answer(text="so far so good"), "vllm"))[:3]


def echoing_engine_answers() -> list[Behaviour]:
    """Every way an engine's answer can carry the key back to the bridge."""
    return [
        Reply(
            401,
            json.dumps(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {KEY}.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                }
            ).encode(),
        ),
        Reply(403, f"<html><body>Forbidden: Bearer {KEY}</body></html>".encode(), content_type="text/html"),
        Reply(429, json.dumps({"error": {"message": f"rate limit for {KEY}"}}).encode(), headers={"Retry-After": "1"}),
        Reply(400, json.dumps({"error": {"message": f"key {KEY}: maximum context length is 100 tokens"}}).encode()),
        Reply(503, json.dumps({"error": {"message": f"loading, {KEY}", "type": "unavailable_error"}}).encode()),
        Reply(200, f"not json, but {KEY}".encode(), content_type="text/plain"),
        Stream([*PARTIAL, f'data: {{"error": {{"message": "key {KEY} revoked", "code": 401}}}}\n\n'.encode()]),
        Stream([*PARTIAL, f"data: {{{KEY}\n\n".encode()]),  # a malformed chunk quoting the key
    ]


def assert_no_key(*texts: str | bytes) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        assert KEY.encode() not in data and ENV_KEY.encode() not in data, data[-2000:]


@pytest.fixture
def bridge_log_capture(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record at DEBUG, the `ccb.bridge` ones included even when a `ccb serve` in this process
    turned that logger's propagation off."""
    caplog.set_level(logging.DEBUG)
    bridge = logging.getLogger("ccb.bridge")
    bridge.addHandler(caplog.handler)
    level = bridge.level
    bridge.setLevel(logging.DEBUG)
    yield caplog
    bridge.removeHandler(caplog.handler)
    bridge.setLevel(level)


@pytest.mark.parametrize("stream", [True, False])
async def test_engine_errors_echoing_the_key_are_redacted_in_answers_and_logs(
    faulty_rig: RigFactory, bridge_log_capture: pytest.LogCaptureFixture, stream: bool
) -> None:
    rig = await faulty_rig(upstream_key=KEY, log_bodies=True)
    answers = echoing_engine_answers()
    rig.engine.push(*answers)
    seen = []
    for _ in answers:
        answer = await rig.post(ask("tell me a secret", stream=stream))
        assert answer.status != 200 or b"error" in answer.raw
        seen.append(answer)
    assert all(h["authorization"] == f"Bearer {KEY}" for h in rig.engine.headers)  # the key was in play
    for answer in seen:
        assert_no_key(answer.raw, json.dumps(dict(answer.headers)))
    assert "[redacted]" in b"".join(a.raw for a in seen).decode()
    assert "answering 401" in bridge_log_capture.text  # the errors were logged, without the key
    assert_no_key(bridge_log_capture.text)
    for record in bridge_log_capture.records:
        assert_no_key(record.getMessage(), str(record.args), str(record.exc_info))


async def test_a_password_in_the_engine_url_never_shows(faulty_rig: RigFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    rig = await faulty_rig(upstream=f"http://user:{KEY}@127.0.0.1:{dead}/v1")
    answer = await rig.post(ask())
    assert answer.status == 502 and f"127.0.0.1:{dead}" in answer.json()["error"]["message"]
    assert_no_key(answer.raw)
    async with aiohttp.ClientSession() as session, session.get(rig.bridge.url + "/health") as resp:
        assert_no_key(await resp.read())


def test_profiles_never_print_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTED_KEY_VAR", ENV_KEY)
    runner = CliRunner()
    outputs = [
        runner.invoke(
            app,
            [
                "profile",
                "add",
                "lit",
                "--preset",
                "custom",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--api-key",
                KEY,
                "--model",
                "m",
                "--activate",
            ],
        ),
        runner.invoke(
            app,
            [
                "profile",
                "add",
                "env",
                "--preset",
                "custom",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--api-key-env",
                "PLANTED_KEY_VAR",
                "--model",
                "m",
            ],
        ),
        runner.invoke(
            app,
            [
                "profile",
                "add",
                "dup",
                "--preset",
                "custom",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--api-key",
                KEY,
                "--api-key-env",
                "PLANTED_KEY_VAR",
            ],
        ),  # an error, quoting nothing
    ]
    for args in (["list"], ["show", "lit"], ["show", "env"], ["current"]):
        outputs += [runner.invoke(app, ["profile", *args]), runner.invoke(app, ["profile", *args, "--json"])]
    assert [r.exit_code for r in outputs].count(0) == len(outputs) - 1
    for result in outputs:
        assert_no_key(result.output, result.stdout, result.stderr, repr(result.exception))
    shown = json.loads(runner.invoke(app, ["profile", "show", "lit", "--json"]).stdout)
    assert shown["api_key"] == "••••cdef" and shown["key_source"] == "literal"
    # Stored, by request, in a file only the user can read.
    stored = paths.profiles_file()
    assert KEY in stored.read_text() and ENV_KEY not in stored.read_text()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


async def _drive(serve: ServeProcess, engine: FaultyEngine, bridge_token: str) -> list[bytes]:
    answers = echoing_engine_answers()
    engine.push(*answers, *answers)
    out = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for stream in (True, False):
            for _ in answers:
                async with session.post(
                    serve.url + "/v1/messages", json=ask("secret?", stream=stream), headers={"x-api-key": bridge_token}
                ) as resp:
                    out.append(await resp.read())
    return out


def _token(serve: ServeProcess) -> str:
    return serve.out_path.read_text().split("ANTHROPIC_AUTH_TOKEN=")[1].split()[0]


@pytest.mark.parametrize("how", ["flag", "env", "profile-literal", "profile-env"])
async def test_ccb_serve_with_debug_never_shows_the_key(tmp_path: Path, how: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CCB_UPSTREAM_KEY", "CCB_AUTH_TOKEN")}
    async with FaultyEngine() as engine:
        args = ["--log-bodies"]
        if how == "flag":
            args += ["--upstream", engine.url, "--model", "fake-model", "--upstream-key", KEY]
        elif how == "env":  # no --engine: the start-up probe sends the key too
            args += ["--upstream", engine.url, "--model", "fake-model"]
            env["CCB_UPSTREAM_KEY"] = KEY
        else:
            key_args = ["--api-key", KEY] if how == "profile-literal" else ["--api-key-env", "PLANTED_KEY_VAR"]
            env["PLANTED_KEY_VAR"] = KEY
            added = CliRunner().invoke(
                app,
                [
                    "profile",
                    "add",
                    "planted",
                    "--preset",
                    "vllm",
                    "--base-url",
                    engine.url,
                    "--model",
                    "fake-model",
                    *key_args,
                ],
                env=env,
            )
            assert added.exit_code == 0, added.output
            args += ["--profile", "planted"]
        async with ServeProcess(*args, env=env, workdir=tmp_path, debug=True) as serve:
            answers = await _drive(serve, engine, _token(serve))
        assert engine.headers and all(h.get("authorization") == f"Bearer {KEY}" for h in engine.headers)
    log = paths.log_dir() / "bridge.log"
    outputs = [serve.out_path.read_text(), serve.err_path.read_text(), log.read_text(), *answers]
    assert "answering 401" in outputs[1] and "answering 401" in outputs[2]  # errors were logged
    assert "upstream request:" in outputs[2]  # --log-bodies was on
    assert_no_key(*outputs)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_ccb_serve_refusal_with_debug_shows_no_key(tmp_path: Path) -> None:
    """`--debug` re-raises CcbError with a traceback; the traceback must not carry the key either."""
    env = {k: v for k, v in os.environ.items() if k != "CCB_AUTH_TOKEN"}
    env["CCB_UPSTREAM_KEY"] = KEY
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ccb.cli",
            "--debug",
            "serve",
            "--host",
            "0.0.0.0",
            "--upstream",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--engine",
            "vllm",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0 and "refusing to listen" in done.stderr
    assert_no_key(done.stdout, done.stderr)
