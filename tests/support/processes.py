"""ccb as a child process in tests, exactly as a user starts it. Does process and network I/O (loopback only).

- `run_ccb(*args, env=..., cwd=...)`: run one command to its end; returns (exit code, stdout, stderr).
- `child_env(bin_dir, **extra)`: the test's environment without proxy variables, `bin_dir` first on PATH.
- `ServeProcess(*options)`: `ccb [--debug] serve --port 0 OPTIONS` for the block, its output in files (never a
  pipe that could fill up and block it); `.url` is the bridge's base URL. Leaving the block stops it with SIGTERM
  and fails the test if it logged a traceback.
- `llama_server(n_ctx)`: a genuine llama.cpp server (tests/support/llama_server.py) for the block, once it is healthy;
  yields its root URL.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Self

import aiohttp
import psutil
import pytest

LLAMA_SERVER = Path(__file__).resolve().parent / "llama_server.py"


def child_env(bin_dir: Path | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


async def run_ccb(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccb.cli",
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode()


class ServeProcess:
    """`python -m ccb.cli [--debug] serve --port 0 ...` on a free port, for an `async with` block."""

    def __init__(
        self, *options: str, env: dict[str, str] | None = None, workdir: Path | None = None, debug: bool = False
    ) -> None:
        self.args = [*(["--debug"] if debug else []), "serve", "--port", "0", *options]
        self.env = env
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="ccb-test-serve-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.out_path, self.err_path = self.workdir / "serve.out", self.workdir / "serve.err"
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ccb.cli", *self.args, stdout=out, stderr=err, env=self.env
            )
        try:
            async with asyncio.timeout(30):
                while not (match := re.search(r"ANTHROPIC_BASE_URL=(\S+)", self.out_path.read_text())):
                    assert self.proc.returncode is None, f"ccb serve did not start: {self.err_path.read_text()}"
                    await asyncio.sleep(0.05)
        except BaseException:
            await self.stop()
            self._clean()
            raise
        self.url = match.group(1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.stop()
            # aiohttp logs a handler that crashed as "Error handling request", with a traceback.
            errors = self.err_path.read_text()
            assert "Traceback" not in errors and "Error handling request" not in errors, errors[-3000:]
        finally:
            self._clean()

    async def stop(self) -> int:
        """SIGTERM (once) and wait; returns its exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            return await self.proc.wait()

    def rss(self) -> int:
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def _clean(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def free_port() -> int:
    """A port nothing listens on right now (for servers that cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def llama_server(n_ctx: int = 8192, template: Path | None = None, timeout: float = 120) -> AsyncIterator[str]:
    """tests/support/llama_server.py on a free port with an `n_ctx` window (and a chat template file), for the block;
    yields its root URL once /health answers 200. A server that exits or stays unhealthy fails the test."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LLAMA_SERVER),
        str(port),
        str(n_ctx),
        *([str(template)] if template else []),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(int(timeout * 10)):
                if proc.returncode is not None:
                    err = await proc.stderr.read() if proc.stderr else b""
                    pytest.fail(f"llama.cpp server exited: {err.decode()[-2000:]}")
                try:
                    async with session.get(url + "/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"llama.cpp server did not become healthy in {timeout:.0f} s")
        yield url
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
