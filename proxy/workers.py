"""`ccb serve --workers N`: N bridge processes on one port, one token, one log. Does process and socket I/O.

The parent binds the port and forks the workers; it never serves a request itself. On Linux each worker
gets its own listening socket bound to the same address with SO_REUSEPORT, and the kernel spreads new
connections across them evenly; elsewhere the workers share one listening socket. Workers send their log
records up a pipe each, and the parent alone writes the log file (no two processes rotating one file).
Metrics go into one memory-mapped file per worker in a private folder, and any worker answering
`GET /metrics` adds them all up (`ccb.proxy.metrics`). A worker that dies is started again on its
socket; SIGINT or SIGTERM stops them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ccb.proxy.config import BridgeConfig

log = logging.getLogger("ccb.bridge")

RESTART_PAUSE = 1.0  # seconds between restarts of a worker that keeps dying


def cores() -> int:
    """The cores this process may run on (`--workers auto`)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on one address (SO_REUSEPORT, Linux), else one socket to share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    balanced = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
    made: list[socket.socket] = []
    try:
        for _ in range(count if balanced else 1):
            sock = socket.socket(family, socket.SOCK_STREAM)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if balanced:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]  # port 0: the others join the port the first one got
            sock.listen(1024)
            sock.set_inheritable(True)
    except BaseException:
        for sock in made:
            sock.close()
        raise
    return made


class _PipeHandler(logging.Handler):
    """A worker's log records, one JSON line each, up the pipe to the parent."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = json.dumps([record.levelno, record.getMessage()]) + "\n"
            os.write(self.fd, line.encode())
        except (OSError, ValueError, TypeError):  # a log line must never take a request down
            self.handleError(record)


def _worker(config: BridgeConfig, sock: socket.socket, folder: Path, index: int, log_fd: int) -> int:
    """A worker process: serve on `sock` until SIGTERM or SIGINT."""
    from ccb.proxy.metrics import Metrics
    from ccb.proxy.runner import start_bridge

    logger = logging.getLogger("ccb.bridge")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(_PipeHandler(log_fd))
    logger.setLevel(logging.DEBUG if config.log_bodies else logging.INFO)
    logger.propagate = False

    async def run() -> None:
        figures = Metrics(folder, index)
        bridge = await start_bridge(config, sock=sock, figures=figures)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await bridge.stop()
            figures.close()

    asyncio.run(run())
    return 0


def supervise(config: BridgeConfig, host: str, port: int, workers: int, announce: Callable[[str], None]) -> int:
    """Bind, fork `workers` workers, relay their logs, restart the dead, stop all on SIGINT/SIGTERM."""
    try:
        socks = listening_sockets(host, port, workers)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
        sys.stderr.write(
            f"error: cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port (0 = any free)\n"
        )
        return 1
    bound = socks[0].getsockname()[1]
    # Loaded before forking: the workers share these modules' memory pages instead of loading their own.
    import ccb.proxy.runner  # noqa: F401

    folder = Path(tempfile.mkdtemp(prefix="ccb-bridge-metrics-"))  # 0700: only this user reads the figures
    pipes = [os.pipe() for _ in range(workers)]
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)

    def start(index: int) -> None:
        sock = socks[index % len(socks)]
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                for other in socks:
                    if other is not sock:
                        other.close()
                for i, (r, w) in enumerate(pipes):
                    os.close(r)
                    if i != index:
                        os.close(w)
                os.close(wake_r)
                os.close(wake_w)
                code = _worker(config, sock, folder, index, pipes[index][1])
            except BaseException as exc:  # noqa: BLE001 - report and leave, whatever it was
                sys.stderr.write(f"worker {index} failed: {exc!r}\n")
            finally:
                os._exit(code)
        children[pid] = index

    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)}

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if signum in (signal.SIGINT, signal.SIGTERM):
            stopping = True

    for sig in old:
        signal.signal(sig, on_signal)
    signal.set_wakeup_fd(wake_w)
    selector = selectors.DefaultSelector()
    buffers: dict[int, bytes] = {}
    for r, _ in pipes:
        selector.register(r, selectors.EVENT_READ)
        buffers[r] = b""
    selector.register(wake_r, selectors.EVENT_READ)
    last_start: dict[int, float] = {}
    try:
        for index in range(workers):
            start(index)
            last_start[index] = time.monotonic()
        announce(f"http://{f'[{host}]' if ':' in host else host}:{bound}")
        while True:
            for key, _ in selector.select(timeout=RESTART_PAUSE):
                fd = int(key.fd)
                if fd == wake_r:
                    while True:
                        try:
                            if not os.read(wake_r, 512):
                                break
                        except BlockingIOError:
                            break
                    continue
                buffers[fd] = _relay(buffers[fd] + os.read(fd, 65536))
            for pid, index in _reaped(children):
                if not stopping:
                    log.warning("worker %d (pid %d) ended; starting it again", index, pid)
                    time.sleep(max(0.0, RESTART_PAUSE - (time.monotonic() - last_start[index])))
                    start(index)
                    last_start[index] = time.monotonic()
            if stopping:
                break
        sys.stderr.write("stopping the bridge\n")
        for pid in list(children):
            _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while children and time.monotonic() < deadline:
            list(_reaped(children))
            time.sleep(0.05)
        for pid in list(children):
            _kill(pid, signal.SIGKILL)
            list(_reaped(children))
        for r, _ in pipes:  # the last lines the workers wrote
            os.set_blocking(r, False)
            try:
                while data := os.read(r, 65536):
                    buffers[r] = _relay(buffers[r] + data)
            except BlockingIOError:
                pass
        return 0
    finally:
        signal.set_wakeup_fd(-1)
        for sig, handler in old.items():
            signal.signal(sig, handler)
        selector.close()
        for sock in socks:
            sock.close()
        for r, w in pipes:
            os.close(r)
            os.close(w)
        os.close(wake_r)
        os.close(wake_w)
        shutil.rmtree(folder, ignore_errors=True)


def _relay(data: bytes) -> bytes:
    """Log every complete line a worker sent; return the incomplete rest."""
    *lines, rest = data.split(b"\n")
    for line in lines:
        try:
            level, message = json.loads(line)
            log.log(int(level), "%s", message)
        except (ValueError, TypeError):
            log.info("%s", line.decode("utf-8", "replace"))
    return rest


def _reaped(children: dict[int, int]) -> list[tuple[int, int]]:
    gone = []
    for pid in list(children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            gone.append((pid, children.pop(pid)))
    return gone


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
