"""Running `claude` as a supervised child process. Does I/O: spawns a process, handles signals, temp files.

`build_child_env` is pure; `run_claude` spawns the child from an argument list (never a shell, so a prompt
containing `$(...)`, quotes or spaces reaches Claude Code verbatim), waits for it and returns its exit code.

Signals while the child runs:

- SIGINT: ccb stays alive and does **not** forward it. In a terminal, Ctrl-C goes to the whole foreground
  process group, so Claude Code already has it (it uses Ctrl-C itself: cancel, then exit on the second
  press); forwarding would deliver it twice. ccb installs a no-op handler through the event loop rather than
  SIG_IGN, because an ignored disposition survives exec and Claude Code would then never see Ctrl-C.
- SIGTERM, SIGHUP: forwarded to the child; ccb keeps waiting and returns the child's exit code.
- ccb killed outright (SIGKILL, crash): on Linux the child was started with PR_SET_PDEATHSIG=SIGTERM, so the
  kernel tells it. That needs code between fork and exec, i.e. `preexec_fn`, which is documented as unsafe
  when the parent has threads (another thread may hold a lock the child then needs). Python's subprocess
  offers no other hook and `setpriv --pdeathsig` (util-linux) is not installed everywhere. The risk is kept
  small: libc and `prctl` are resolved before the fork, so the child imports nothing and never calls
  dlopen; it runs three lines of Python and two system calls.
  The death signal fires when the *thread* that forked exits: run the loop in a thread that outlives the
  child (asyncio.run on the main thread does).

A child killed by signal N yields 128+N, as a shell reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeAlias

from ccb.cli.errors import CcbError
from ccb.cli.paths import LAUNCH_SETTINGS_PREFIX, launch_dir

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
# Each switches Claude Code to a cloud provider mode that ignores ANTHROPIC_BASE_URL.
CLOUD_MODE_VARS = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY")
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# After a cancellation ccb asks the child to stop; this long, then it insists.
STOP_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1

_Handler: TypeAlias = "Callable[[int, FrameType | None], Any] | int | None"


# --------------------------------------------------------------------------------------- environment


def _with_loopback(value: str | None) -> str:
    """`value` with 127.0.0.1 and localhost appended where missing; the user's text is kept as written."""
    text = (value or "").strip()
    present = {entry.strip().lower() for entry in text.split(",") if entry.strip()}
    missing = [host for host in LOOPBACK_HOSTS if host not in present]
    if not missing:
        return value or ""
    kept = text.rstrip(",").rstrip()
    return ",".join([kept, *missing]) if kept else ",".join(missing)


def build_child_env(base: Mapping[str, str], block: Mapping[str, str]) -> dict[str, str]:
    """The environment for `claude`: `base` (usually os.environ) plus the launch `block`.

    - `ANTHROPIC_API_KEY` becomes "" unless the block sets it: an inherited key next to the block's token
      makes Claude Code report an auth conflict or send the wrong credential.
    - `NO_PROXY` and `no_proxy` get the loopback hosts appended, never replaced: with `HTTP(S)_PROXY` set,
      Claude Code would otherwise route even 127.0.0.1 through the proxy. When only one spelling is set,
      the other starts from its value, so whichever one the runtime reads keeps the user's entries.
    - The cloud-mode switches are dropped from `base` (a block may still set them on purpose).
    """
    env = {key: value for key, value in base.items() if key not in CLOUD_MODE_VARS}
    env.update(block)
    if "ANTHROPIC_API_KEY" not in block:
        env["ANTHROPIC_API_KEY"] = ""
    upper, lower = env.get("NO_PROXY"), env.get("no_proxy")
    env["NO_PROXY"] = _with_loopback(upper if upper else lower)
    env["no_proxy"] = _with_loopback(lower if lower else upper)
    return env


# ---------------------------------------------------------------------------------------- child set-up


def _make_pdeathsig_setup() -> Callable[[], None] | None:
    """A `preexec_fn` asking the kernel to SIGTERM the child when ccb dies (Linux only, else None)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    term = int(signal.SIGTERM)

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, term, 0, 0, 0)
        # ccb may have died between fork and prctl; the kernel would then never send the signal.
        if os.getppid() != parent:
            os.kill(os.getpid(), term)

    return setup


def launch_settings_dir() -> Path:
    """Where `--settings` files live while Claude Code runs: a 0700 folder of ccb's own (not the shared
    temporary folder), each file named with ccb's pid so the next launch removes one a kill left behind."""
    from ccb.cli.fileio import ensure_dir, sweep_stale_temps

    folder = ensure_dir(launch_dir())
    sweep_stale_temps(folder, LAUNCH_SETTINGS_PREFIX, suffix=".json", unnamed_age_s=86400.0)
    return folder


def _write_settings_file(settings: Mapping[str, object]) -> Path:
    # mkstemp creates the file 0600: the block usually carries a token.
    folder = launch_settings_dir()
    fd, name = tempfile.mkstemp(prefix=f"{LAUNCH_SETTINGS_PREFIX}{os.getpid()}-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dict(settings), fh, ensure_ascii=False)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def exit_code_of(returncode: int) -> int:
    """A child's exit status as a shell reports it: killed by signal N → 128+N."""
    return 128 - returncode if returncode < 0 else returncode


# ------------------------------------------------------------------------------------------- signals


def _send(proc: asyncio.subprocess.Process, sig: int) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


class _Routing:
    """Where SIGTERM/SIGHUP go: to the child once it runs; one that arrives while it starts is sent on start."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.pending: list[int] = []

    def forward(self, sig: int) -> None:
        if self.proc is None:
            self.pending.append(sig)
        else:
            _send(self.proc, sig)

    def started(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        for sig in self.pending:
            _send(proc, sig)
        self.pending.clear()


@contextlib.contextmanager
def _signals_routed(routing: _Routing) -> Iterator[None]:
    """From before the child starts until it ends: SIGINT is absorbed, SIGTERM/SIGHUP are forwarded;
    previous handlers come back. Installed before the spawn, so a Ctrl-C at the very start cannot kill ccb
    while claude runs on."""
    loop = asyncio.get_running_loop()
    installed: list[tuple[signal.Signals, _Handler]] = []
    try:
        for sig in (signal.SIGINT, *FORWARDED_SIGNALS):
            previous = signal.getsignal(sig)
            try:
                if sig == signal.SIGINT:
                    # The terminal already delivered Ctrl-C to claude (same process group).
                    loop.add_signal_handler(sig, lambda: None)
                else:
                    loop.add_signal_handler(sig, routing.forward, sig)
            except (RuntimeError, ValueError, NotImplementedError):
                # Not the main thread, or no Unix signals: run unsupervised rather than not at all.
                continue
            installed.append((sig, previous))
        yield
    finally:
        for done, previous in reversed(installed):
            loop.remove_signal_handler(done)
            # remove_signal_handler resets to the default; put back what the caller had (e.g. asyncio.run's
            # SIGINT handler that cancels the main task).
            if previous is not None:
                signal.signal(done, previous)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    _send(proc, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
    except TimeoutError:
        _send(proc, signal.SIGKILL)
        await proc.wait()


# ---------------------------------------------------------------------------------------------- run


async def run_claude(
    claude: Path,
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    settings: Mapping[str, object] | None = None,
) -> int:
    """Run `claude` with `args` verbatim and `env` as its whole environment; return its exit code.

    `settings` (usually `{"env": block}`) goes into a private temp file passed as `--settings <file>` before
    the user's arguments: that layer beats the user's, project and local settings files, whose `env` would
    otherwise override the process environment. The file is removed when the child ends, however it ends.
    If the awaiting task is cancelled, the child gets SIGTERM (then SIGKILL after a grace period).
    """
    settings_file = _write_settings_file(settings) if settings is not None else None
    try:
        argv = [str(claude)]
        if settings_file is not None:
            argv += ["--settings", str(settings_file)]
        argv += [str(arg) for arg in args]
        routing = _Routing()
        with _signals_routed(routing):
            try:
                proc = await asyncio.create_subprocess_exec(*argv, env=dict(env), preexec_fn=_make_pdeathsig_setup())
            except OSError as exc:
                raise CcbError(f"could not start Claude Code ({claude}): {exc.strerror or exc}") from exc
            routing.started(proc)
            try:
                returncode = await proc.wait()
            except asyncio.CancelledError:
                await asyncio.shield(_stop(proc))
                raise
            except BaseException:
                _send(proc, signal.SIGTERM)
                raise
        return exit_code_of(returncode)
    finally:
        if settings_file is not None:
            settings_file.unlink(missing_ok=True)
