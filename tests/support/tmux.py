"""A real terminal for interactive Claude Code tests: a tmux server of the test's own, driven key by key.

Each `Terminal` runs its own tmux server (a private socket), starts one command in a clean environment
(`env -i`, only the variables given), and reads the screen with `capture-pane`. Waiting polls the screen
until a text appears; the time limit only stops a hang from stalling the suite.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Self

import pytest


def tmux() -> str:
    found = shutil.which("tmux")
    if found is None:
        pytest.fail("tmux is not installed: the interactive tests need it (apt-get install -y tmux)")
    return found


class Terminal:
    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path, width: int = 160, height: int = 50) -> None:
        self.socket = "ccb-test-" + secrets.token_hex(6)
        self.argv, self.env, self.cwd, self.size = argv, env, cwd, (width, height)

    def _tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tmux(), "-L", self.socket, *args], capture_output=True, text=True, check=False, timeout=30
        )

    def __enter__(self) -> Self:
        command = " ".join(
            [
                "cd",
                shlex.quote(str(self.cwd)),
                "&&",
                "env",
                "-i",
                *(shlex.quote(f"{k}={v}") for k, v in self.env.items()),
                *(shlex.quote(a) for a in self.argv),
            ]
        )
        # After the command ends the pane stays, so its last words can still be read.
        done = self._tmux(
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            str(self.size[0]),
            "-y",
            str(self.size[1]),
            "sh",
            "-c",
            command + '; echo; echo "[exit $?]"; sleep 600',
        )
        assert done.returncode == 0, done.stderr
        return self

    def __exit__(self, *exc: object) -> None:
        self._tmux("kill-server")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t").stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)

    async def wait_for(self, *texts: str, timeout: float = 60) -> str:
        """The screen once any of `texts` shows on it; fails the test with the screen after `timeout` s."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            screen = self.screen()
            if any(t in screen for t in texts):
                return screen
            if loop.time() > end:
                pytest.fail(f"none of {texts!r} appeared within {timeout} s; the screen:\n{screen}")
            await asyncio.sleep(0.3)

    async def select(self, text: str, *, tries: int = 12) -> None:
        """Move a menu's selection (the `❯` row) down onto the row showing `text`."""
        for _ in range(tries):
            chosen = [line for line in self.screen().splitlines() if "❯" in line]
            if chosen and text in chosen[-1]:
                return
            self.keys("Down")
            await asyncio.sleep(0.3)
        pytest.fail(f"could not select the row with {text!r}:\n{self.screen()}")

    async def trust_folder(self) -> None:
        """Answer Claude Code's folder trust dialog with "Yes". 2.1.332 preselects "No, exit", earlier versions
        "Yes": move the selection onto "Yes" (never just press Enter), then confirm."""
        await self.wait_for("trust this folder")
        for _ in range(4):
            chosen = [line for line in self.screen().splitlines() if "❯" in line]
            if chosen and "Yes" in chosen[0]:
                break
            self.keys("Down")
            await asyncio.sleep(0.3)
        else:
            pytest.fail(f"could not select 'Yes' in the trust dialog:\n{self.screen()}")
        self.keys("Enter")
