"""ccb's built-in engine: the GGUF header, window sizing, one-line failures, and the real llama.cpp server."""

from __future__ import annotations

import asyncio
import importlib.util
import struct
from pathlib import Path

import httpx
import psutil
import pytest

from ccb.cli import embedded
from ccb.cli.errors import CcbError
from tests.support.cli import ccb
from tests.support.llama_server import model_path

GIB = 1 << 30


def _gguf(path: Path, meta: dict[str, object]) -> Path:
    """A GGUF v3 header holding only `meta` (strings and u32 numbers), no tensors."""
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(meta))
    for key, value in meta.items():
        raw = key.encode()
        out += struct.pack("<Q", len(raw)) + raw
        if isinstance(value, str):
            data = value.encode()
            out += struct.pack("<IQ", 8, len(data)) + data
        else:
            out += struct.pack("<II", 4, int(value))  # type: ignore[call-overload]
    path.write_bytes(out)
    return path


def test_the_smollm2_header_gives_its_trained_window_and_kv_size() -> None:
    facts = embedded.model_facts(str(model_path()))
    assert facts.trained == 8192
    # 30 layers x 3 KV heads x 64 dims x (K and V) x 2 bytes
    assert facts.kv_bytes_per_token == 30 * 3 * 64 * 2 * 2
    assert facts.size == model_path().stat().st_size


def test_window_is_claude_codes_target_capped_by_training_and_memory(tmp_path: Path) -> None:
    big = embedded.ModelFacts(tmp_path / "m.gguf", 4 * GIB, trained=262144, kv_bytes_per_token=100_000)
    assert embedded.size_window(big, available=64 * GIB, minimum=26624) == 65536
    # 4 GiB free after the weights and the reserve: 42,949 tokens of KV cache fit
    assert embedded.size_window(big, available=9 * GIB, minimum=26624) == 41984
    with pytest.raises(CcbError, match="not enough memory for a window Claude Code can use"):
        embedded.size_window(big, available=6 * GIB, minimum=26624)
    with pytest.raises(CcbError, match=r"not enough memory for the model: .* needs about 4.0 GiB and 2.0 GiB is free"):
        embedded.size_window(big, available=2 * GIB, minimum=26624)
    small = embedded.ModelFacts(tmp_path / "s.gguf", GIB // 10, trained=8192, kv_bytes_per_token=23040)
    assert embedded.size_window(small, available=8 * GIB, minimum=26624) == 8192  # the model's own limit


def test_a_written_header_is_read_back(tmp_path: Path) -> None:
    path = _gguf(
        tmp_path / "q.gguf",
        {
            "general.architecture": "qwen2",
            "qwen2.context_length": 32768,
            "qwen2.block_count": 28,
            "qwen2.attention.head_count": 28,
            "qwen2.attention.head_count_kv": 4,
            "qwen2.embedding_length": 3584,
        },
    )
    facts = embedded.model_facts(str(path))
    assert facts.trained == 32768 and facts.kv_bytes_per_token == 2 * 28 * 4 * 128 * 2


def test_model_problems_are_one_line_each(tmp_path: Path) -> None:
    assert "model file not found" in (embedded.model_problem(str(tmp_path / "nope.gguf")) or "")
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a GGUF model file" in (embedded.model_problem(str(tmp_path / "notes.txt")) or "")
    assert embedded.model_problem(str(model_path())) is None
    assert embedded.model_problem("Qwen/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M") is None
    assert embedded.is_reference("https://example.com/m.gguf")


def test_a_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "xllamacpp" else real(name, *a))
    with pytest.raises(CcbError) as caught:
        embedded.check_installed()
    assert "pip install 'xllamacpp==" in caught.value.message
    assert "\n" not in caught.value.message


def test_profile_add_takes_a_model_file(tmp_path: Path) -> None:
    from ccb.cli.profile_store import get_profile

    ccb("profile", "add", "mine", "--preset", "embedded", "--model-file", str(model_path()))
    assert get_profile("mine").model == str(model_path())
    from typer.testing import CliRunner

    from ccb.cli.app import app

    missing = CliRunner().invoke(
        app, ["profile", "add", "m2", "--preset", "embedded", "--model-file", str(tmp_path / "none.gguf")]
    )
    assert missing.exit_code == 1
    wrong = CliRunner().invoke(app, ["profile", "add", "m3", "--preset", "vllm", "--model-file", str(model_path())])
    assert wrong.exit_code == 1


@pytest.mark.engine
async def test_the_real_engine_starts_answers_with_its_key_and_stops() -> None:
    engine = await embedded.start(str(model_path()), minimum=26624, quiet=True)
    try:
        assert engine.window == 8192  # SmolLM2's trained window caps the 64k target
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(engine.url + "/models")).status_code == 401
            listed = await client.get(engine.url + "/models", headers={"Authorization": f"Bearer {engine.key}"})
            assert listed.json()["data"][0]["id"] == str(model_path())
            props = (
                await client.get(
                    engine.url.removesuffix("/v1") + "/props", headers={"Authorization": f"Bearer {engine.key}"}
                )
            ).json()
            assert props["default_generation_settings"]["n_ctx"] == 8192
        pid = engine.proc.pid
    finally:
        await engine.stop()
    assert engine.proc.returncode == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.engine
async def test_a_damaged_model_file_is_one_clear_line(tmp_path: Path) -> None:
    broken = _gguf(tmp_path / "broken.gguf", {"general.architecture": "llama"})
    with pytest.raises(CcbError) as caught:
        await asyncio.wait_for(embedded.start(str(broken), minimum=26624, quiet=True), 300)
    assert "could not load" in caught.value.message or "stopped while loading" in caught.value.message
    assert "\n" not in caught.value.message


def test_plain_claude_cannot_be_switched_to_the_builtin_engine_and_is_told_what_works() -> None:
    from typer.testing import CliRunner

    from ccb.cli.app import app

    ccb("profile", "add", "mine", "--preset", "embedded", "--model-file", str(model_path()))
    done = CliRunner().invoke(app, ["profile", "switch", "mine"])
    message = str(done.exception or done.output)
    assert done.exit_code == 1 and "plain `claude` needs a bridge that stays up" in message
    assert "`ccb launch mine`" in message and "`ccb serve --profile mine`" in message
    detached = CliRunner().invoke(app, ["serve", "--profile", "mine", "--detach"])
    message = str(detached.exception or detached.output)
    assert detached.exit_code == 1 and "runs only in the foreground" in message
    assert "`ccb serve --profile mine` in a terminal of its own" in message and "`ccb launch mine`" in message
    from ccb.cli import bridge_daemon

    assert bridge_daemon.read_state() is None


@pytest.mark.engine
def test_serve_runs_the_builtin_engine_behind_the_bridge_and_stops_both(isolated_home: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import anthropic

    from ccb.cli.window import prompt_size

    ccb("profile", "add", "mine", "--preset", "embedded", "--model-file", str(model_path()))
    argv = [sys.executable, "-m", "ccb.cli", "serve", "--profile", "mine", "--port", "0"]
    env = dict(os.environ, HOME=str(isolated_home))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            exports: dict[str, str] = {}
            while "ANTHROPIC_MODEL" not in exports or "CLAUDE_CODE_MAX_OUTPUT_TOKENS" not in exports:
                line = proc.stdout.readline()
                assert line, proc.stderr.read() if proc.stderr else ""
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value.strip("'")
            # SmolLM2's template drops tools: like `ccb launch`, Claude Code is told the window it sends with.
            assert exports["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == str(prompt_size(None).minimum_window())
            (engine,) = [p for p in psutil.Process(proc.pid).children() if "ccb.cli.embedded" in p.cmdline()]
            client = anthropic.Anthropic(
                base_url=exports["ANTHROPIC_BASE_URL"], auth_token=exports["ANTHROPIC_AUTH_TOKEN"], api_key=None
            )
            answer = client.messages.create(
                model=exports["ANTHROPIC_MODEL"], max_tokens=16, messages=[{"role": "user", "content": "Say hi."}]
            )
            assert answer.content and answer.usage.output_tokens > 0
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the bridge stops, and the engine with it
            assert proc.wait(60) == 0
            deadline = time.monotonic() + 60  # hang guard only: the engine checks its parent every second
            while engine.is_running() and engine.status() != psutil.STATUS_ZOMBIE:
                assert time.monotonic() < deadline, "the built-in engine outlived ccb serve"
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()


def _doctor(*args: str) -> dict[str, dict[str, object]]:
    from typer.testing import CliRunner

    from ccb.cli.app import app

    done = CliRunner().invoke(app, ["doctor", "--json", *args])
    assert done.exit_code in (0, 1), done.output
    import json

    return {check["id"]: check for check in json.loads(done.stdout)["checks"]}


def test_doctor_offline_reads_what_starting_the_builtin_engine_needs() -> None:
    ccb("profile", "add", "mine", "--preset", "embedded", "--model-file", str(model_path()))
    found = _doctor("--profile", "mine", "--offline")
    assert found["engine.extra"]["status"] == "ok" and "xllamacpp" in str(found["engine.extra"]["finding"])
    assert found["engine.model"]["status"] == "ok" and "trained for 8,192 tokens" in str(
        found["engine.model"]["finding"]
    )
    assert found["engine.memory"]["status"] == "ok" and "GiB free" in str(found["engine.memory"]["finding"])
    window = found["engine.window"]
    assert window["status"] == "warn" and "8,192-token window" in str(window["finding"])
    assert "a bigger window will not help" in str(window["fix"])
    assert found["engine.found"]["status"] == "skip" and found["smoke.stream"]["status"] == "skip"
    assert "connection refused" not in str(found)  # nothing probes the profile's nominal address


def test_doctor_names_a_missing_model_file_and_a_missing_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from ccb.cli import paths

    ccb("profile", "add", "mine", "--preset", "embedded", "--model-file", str(model_path()))
    data = json.loads(paths.profiles_file().read_text())
    data["profiles"]["mine"]["model"] = str(tmp_path / "gone.gguf")
    paths.profiles_file().write_text(json.dumps(data))
    from importlib import metadata

    real = metadata.version

    def version(name: str) -> str:
        if name == "xllamacpp":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    monkeypatch.setattr("ccb.cli.doctor.embedded.version", version)
    found = _doctor("--profile", "mine")
    assert found["engine.extra"]["status"] == "fail" and "pip install 'xllamacpp==" in str(found["engine.extra"]["fix"])
    assert found["engine.model"]["status"] == "fail" and "model file not found" in str(found["engine.model"]["finding"])
    assert "cannot start" in str(found["engine.found"]["finding"]) and found["smoke.stream"]["status"] == "skip"


@pytest.mark.engine
def test_doctor_starts_the_builtin_engine_checks_it_like_any_engine_and_stops_it() -> None:
    ccb("profile", "add", "mine", "--preset", "embedded", "--model-file", str(model_path()))
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    found = _doctor("--profile", "mine")
    assert found["engine.extra"]["status"] == "ok" and found["engine.memory"]["status"] == "ok"
    assert "engine.window" not in found  # the running engine's engine.context says it with what it found
    assert found["engine.found"]["status"] == "ok" and "llama.cpp" in str(found["engine.found"]["finding"])
    assert found["engine.context"]["status"] == "warn" and "8,192 tokens" in str(found["engine.context"]["finding"])
    assert found["backend.reachable"]["status"] == "ok" and found["backend.auth"]["status"] == "ok"
    assert found["smoke.stream"]["status"] == "ok"
    assert "--jinja" not in str(found["engine.tools"]["fix"])  # ccb starts it: no llama-server flags to add
    assert "8080" not in str(found["backend.reachable"]["finding"])  # the real port, not the profile's nominal one
    leftover = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not [p for p in leftover if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
