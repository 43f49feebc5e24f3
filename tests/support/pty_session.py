"""Drive `ccb` as a user would: a child process on a real pseudo-terminal, keys in, screen text out.

`Session.expect(text)` waits (with a generous bound, only so that a hang cannot stall the suite) until the
output, stripped of terminal escape sequences, contains `text`.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?|\r")

KEY_DOWN = "\x1b[B"
KEY_UP = "\x1b[A"
ENTER = "\r"
CTRL_C = "\x03"


def plain(raw: bytes) -> str:
    return _ESCAPES.sub(b"", raw).decode("utf-8", "replace")


def fresh_env(home: Path, path_dirs: list[Path], **extra: str) -> dict[str, str]:
    """A new user's environment: a fresh HOME, only `path_dirs` on PATH, nothing of ours inherited."""
    env = {
        "HOME": str(home),
        "PATH": os.pathsep.join(str(p) for p in path_dirs),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "NO_PROXY": "127.0.0.1,localhost",
        "COLUMNS": "160",
        "LINES": "50",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }  # a pty answers no cursor-position requests; a terminal would
    env.update(extra)
    return env


class Session:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, *, columns: int = 160) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ccb.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.raw = b""

    @property
    def text(self) -> str:
        return plain(self.raw)

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the child closed the terminal
            return False
        if not chunk:
            return False
        self.raw += chunk
        return True

    def expect(self, text: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.text:
            if time.monotonic() > deadline or not self._read(0.2) and text not in self.text:
                raise AssertionError(f"never saw {text!r}; the screen so far:\n{self.text[-3000:]}")
        return self.text

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait(self, timeout: float = 120.0) -> int:
        """Read until the child exits; its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.05) and select.select([self.master], [], [], 0)[0]:
            pass
        if self.proc.poll() is None:
            self.close()
            raise AssertionError(f"ccb did not exit; the screen so far:\n{self.text[-3000:]}")
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass
