"""`ccb serve --workers N`: several processes on one port, one token, one log, metrics added up."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import psutil
import pytest
from aiohttp import web

from tests.fakes.openai_engine import Answer, FakeEngine

TOKEN = "workers-token"


async def _engine() -> tuple[FakeEngine, web.AppRunner, str]:
    engine = FakeEngine("vllm")
    runner = web.AppRunner(engine.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return engine, runner, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"


async def _serve(tmp_path: Path, upstream: str, *extra: str) -> tuple[asyncio.subprocess.Process, str, Path]:
    env = {**os.environ, "CCB_HOME": str(tmp_path / "home")}
    err = tmp_path / "serve.err"
    with err.open("w") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ccb.cli",
            "serve",
            "--port",
            "0",
            "--upstream",
            upstream,
            "--model",
            "m",
            "--engine",
            "vllm",
            "--auth-token",
            TOKEN,
            *extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=sink,
            env=env,
        )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    match = re.search(r"ANTHROPIC_BASE_URL=(\S+)", line.decode())
    assert match, (line, err.read_text())
    return proc, match.group(1), err


async def _stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 30)


def _workers_of(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children()


async def _ask(session: aiohttp.ClientSession, url: str) -> int:
    async with session.post(
        url + "/v1/messages",
        headers={"x-api-key": TOKEN},
        json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        await r.read()
        return r.status


def _value(text: str, series: str) -> float:
    found = re.search(r"(?m)^" + re.escape(series) + r" (\S+)$", text)
    assert found, text
    return float(found.group(1))


async def test_workers_share_one_port_token_log_and_metrics(tmp_path: Path) -> None:
    engine, runner, upstream = await _engine()
    engine.push(*[Answer(text=f"answer {i}", prompt_tokens=10, completion_tokens=2) for i in range(40)])
    proc, url, _ = await _serve(tmp_path, upstream, "--workers", "2")
    try:
        workers = _workers_of(proc.pid)
        assert len(workers) == 2
        # Many connections (no keep-alive reuse): the kernel spreads them over both workers.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            statuses = await asyncio.gather(*[_ask(session, url) for _ in range(40)])
            assert statuses == [200] * 40
            async with session.get(url + "/v1/models") as resp:
                assert resp.status == 401  # one token for every worker
            for _ in range(4):  # whichever worker answers the scrape sees the whole bridge
                async with session.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                    text = await resp.text()
                assert _value(text, 'ccb_requests_total{route="messages"}') == 40
                assert _value(text, "ccb_input_tokens_total") == 400
                assert _value(text, 'ccb_errors_total{type="authentication_error"}') == 1
        busy = [w for w in workers if w.cpu_times().user + w.cpu_times().system > 0]
        assert len(busy) == 2
    finally:
        assert await _stop(proc) == 0
        await runner.cleanup()
    for worker in workers:
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    log = (tmp_path / "home").rglob("*.log")
    lines = "".join(p.read_text() for p in log)
    assert lines.count("POST /v1/messages 200") == 40  # one log, every worker's lines in it
    assert TOKEN not in lines


async def test_a_dead_worker_is_replaced(tmp_path: Path) -> None:
    engine, runner, upstream = await _engine()
    engine.push(*[Answer(text="ok") for _ in range(10)])
    proc, url, _ = await _serve(tmp_path, upstream, "--workers", "2")
    try:
        first = _workers_of(proc.pid)
        first[0].kill()
        for _ in range(100):
            now = _workers_of(proc.pid)
            if len([w for w in now if w.pid != first[0].pid and w.status() != psutil.STATUS_ZOMBIE]) == 2:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the dead worker was not replaced")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            assert await asyncio.gather(*[_ask(session, url) for _ in range(10)]) == [200] * 10
    finally:
        assert await _stop(proc) == 0
        await runner.cleanup()


@pytest.mark.parametrize("value", ["-1", "many", "1000"])
async def test_bad_worker_counts_are_refused(tmp_path: Path, value: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccb.cli",
        "serve",
        "--upstream",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--engine",
        "vllm",
        "--workers",
        value,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CCB_HOME": str(tmp_path)},
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert "--workers" in err.decode()
