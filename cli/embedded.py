"""The embedded engine: llama.cpp's server (PyPI `xllamacpp`, ccb's optional `engine` extra) as a child of ccb.

For a machine with no engine and no key. A profile of preset `embedded` names a GGUF model (a file, or a
reference llama.cpp fetches itself: `org/repo:QUANT` on Hugging Face, or an https URL) in its model slot;
`ccb launch` starts the server on 127.0.0.1 (a free port, a fresh key), with jinja chat templates (tool
calling) on and a window sized to Claude Code's needs, the model's training and this machine's memory, shows
the loading as a progress display, and stops it with the session.

`python -m ccb.cli.embedded serve --model REF --port N --ctx N --threads N` is the child itself: it serves
until SIGTERM or until its parent dies. Does I/O (files, processes, loopback HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path
from typing import IO, Any

from ccb.cli.errors import CcbError
from ccb.cli.window import RECOMMENDED_WINDOW
from ccb.proxy.net import root_url

PRESET = "embedded"
# What the stored profile says; the real address is picked at every start.
NOMINAL_URL = "http://127.0.0.1:8080/v1"
# The window ccb aims for (Claude Code's recommended), before the model's training and memory cap it.
TARGET_WINDOW = RECOMMENDED_WINDOW
# Memory kept free for everything else on the machine.
RESERVE_BYTES = 1 << 30
LOAD_TIMEOUT_S = 1800.0  # a fetched model downloads first
_HF_REF = re.compile(r"^[\w.-]+/[\w.-]+(?::[\w.-]+)?$")


def is_embedded(profile: Any) -> bool:
    return getattr(profile, "preset", None) == PRESET


# ------------------------------------------------------------------------------------------ the extra


def engine_requirement() -> str:
    """The pip requirement of the `engine` extra (e.g. "xllamacpp==2026.10.11549")."""
    with suppress(PackageNotFoundError):
        for line in requires("ccb") or []:
            if "extra ==" in line and "engine" in line.split("extra ==", 1)[1]:
                return line.split(";", 1)[0].strip().replace(" ", "")
    return "xllamacpp"


def install_command() -> str:
    return f"{sys.executable} -m pip install '{engine_requirement()}'"


def check_installed() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise CcbError(
            f"the embedded engine needs llama.cpp's server from PyPI, which is not installed: {install_command()}"
        )


# ------------------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class ModelFacts:
    """What a GGUF file's header says (None when it does not say)."""

    path: Path | None
    size: int | None
    trained: int | None = None
    kv_bytes_per_token: int | None = None


def is_reference(model: str) -> bool:
    """A model llama.cpp fetches itself, rather than a local file."""
    return model.startswith(("https://", "http://")) or (bool(_HF_REF.match(model)) and not Path(model).exists())


def model_problem(model: str) -> str | None:
    """Why `model` cannot be used, or None."""
    if is_reference(model):
        return None
    path = Path(model).expanduser()
    if not path.exists():
        return (
            f"model file not found: {path} (give a .gguf file, or a Hugging Face reference such as "
            "Qwen/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M)"
        )
    if not path.is_file():
        return f"not a model file: {path}"
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        return f"cannot read the model file {path}: {exc.strerror or exc}"
    if magic != b"GGUF":
        return f"not a GGUF model file: {path} (llama.cpp runs .gguf files)"
    return None


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def _read(fh: IO[bytes], fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF header")
    return struct.unpack(fmt, data)[0]


def _string(fh: IO[bytes]) -> str:
    n = _read(fh, "<Q")
    if n > 1 << 24:
        raise ValueError("implausible GGUF string")
    return fh.read(n).decode("utf-8", "replace")


def _value(fh: IO[bytes], kind: int) -> Any:
    if kind in _SCALARS:
        return _read(fh, _SCALARS[kind])
    if kind == 8:
        return _string(fh)
    if kind == 9:
        inner, count = _read(fh, "<I"), _read(fh, "<Q")
        if inner in _SCALARS:  # skip numeric arrays (token scores, types) without decoding them
            fh.seek(struct.calcsize(_SCALARS[inner]) * count, os.SEEK_CUR)
            return None
        for _ in range(count):
            _value(fh, inner)
        return None
    raise ValueError(f"unknown GGUF value type {kind}")


def gguf_metadata(path: Path) -> dict[str, Any]:
    """The scalar key/value metadata of a GGUF file (arrays are skipped)."""
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ValueError("not a GGUF file")
        version = _read(fh, "<I")
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        _read(fh, "<Q")  # tensor count
        count = _read(fh, "<Q")
        meta: dict[str, Any] = {}
        for _ in range(count):
            key = _string(fh)
            value = _value(fh, _read(fh, "<I"))
            if value is not None:
                meta[key] = value
        return meta


def model_facts(model: str) -> ModelFacts:
    if is_reference(model):
        return ModelFacts(None, None)
    path = Path(model).expanduser().resolve()
    size = path.stat().st_size
    try:
        meta = gguf_metadata(path)
    except (OSError, ValueError):
        return ModelFacts(path, size)
    arch = meta.get("general.architecture", "")

    def num(key: str) -> int | None:
        value = meta.get(f"{arch}.{key}")
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    trained = num("context_length")
    layers, heads, kv_heads, width = (
        num("block_count"),
        num("attention.head_count"),
        num("attention.head_count_kv"),
        num("embedding_length"),
    )
    key_len = num("attention.key_length")
    per_token = None
    if layers and heads and width:
        head_dim = key_len or width // heads
        per_token = 2 * layers * (kv_heads or heads) * head_dim * 2  # K and V, f16
    return ModelFacts(path, size, trained, per_token)


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def size_window(facts: ModelFacts, *, available: int, minimum: int) -> int:
    """The window to start the engine with: Claude Code's target, capped by the model's training and by the
    memory left once the weights are loaded. Raises CcbError (one line) when the weights alone do not fit,
    or when memory caps the window below what Claude Code needs although the model could do more."""
    target = TARGET_WINDOW
    if facts.trained:
        target = min(target, facts.trained)
    if facts.size is None or facts.kv_bytes_per_token is None:
        return target
    spare = available - facts.size - RESERVE_BYTES
    if spare <= 0:
        raise CcbError(
            f"not enough memory for the model: {facts.path} needs about {_gib(facts.size)} and "
            f"{_gib(available)} is free; close other programs, or use a smaller model or quantization"
        )
    fits = spare // facts.kv_bytes_per_token // 1024 * 1024
    window = min(target, fits)
    if window < min(minimum, target):
        raise CcbError(
            f"not enough memory for a window Claude Code can use: {_gib(available)} free leaves room "
            f"for {window:,} tokens after the model, and Claude Code needs {minimum:,}; close other "
            "programs, or use a smaller model or quantization"
        )
    return max(window, 1024)


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def threads() -> int:
    """One core left for Claude Code, ccb and the rest: llama.cpp's threads spin, and on an oversubscribed
    machine a thread per core makes generation crawl."""
    import psutil

    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 2
    return max(1, min(8, cores - 1))


# ------------------------------------------------------------------------------------------ the parent side


@dataclass
class RunningEngine:
    """A started embedded engine: its OpenAI base URL, the model id it answers to, its child process."""

    url: str
    model: str
    window: int
    key: str
    proc: asyncio.subprocess.Process
    log: Path

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                with suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _failure(log: Path, model: str) -> str:
    """One line for why the child stopped, from its log."""
    try:
        text = log.read_text("utf-8", "replace")
    except OSError:
        text = ""
    low = text.lower()
    if "failed to allocate" in low or "out of memory" in low or "cannot allocate" in low or "bad_alloc" in low:
        return (
            "the embedded engine ran out of memory loading the model: close other programs, or use a smaller "
            "model or quantization"
        )
    if "failed to download" in low or "could not resolve" in low or "curl" in low and "error" in low:
        return f"the embedded engine could not fetch {model}: check the reference and the network"
    if "failed to load model" in low or "error loading model" in low or "unable to load model" in low:
        return f"llama.cpp could not load {model}: the file is damaged or of an architecture this build lacks"
    if "address already in use" in low or "bind" in low and "fail" in low:
        return "the embedded engine could not listen on 127.0.0.1 (port taken); run ccb launch again"
    tail = [line for line in text.strip().splitlines() if line.strip()][-1:] or ["no output"]
    return f"the embedded engine stopped while loading {model}: {tail[0].strip()} (log: {log})"


async def start(model: str, *, minimum: int, window: int | None = None, quiet: bool = False) -> RunningEngine:
    """Start the engine on `model` and wait until it answers; a progress display while it loads."""
    from ccb.cli import render
    from ccb.cli.childproc import python_module_argv, safe_cwd
    from ccb.cli.paths import embedded_log_file, private_dir

    check_installed()
    if problem := model_problem(model):
        raise CcbError(problem)
    facts = model_facts(model)
    n_ctx = window or size_window(facts, available=available_memory(), minimum=minimum)
    port = _free_port()
    key = "ccb-engine-" + secrets.token_urlsafe(18)
    ref = str(facts.path) if facts.path else model
    log = embedded_log_file()
    private_dir(log.parent)
    argv = python_module_argv(
        "ccb.cli.embedded",
        "serve",
        "--model",
        ref,
        "--alias",
        model,
        "--port",
        str(port),
        "--ctx",
        str(n_ctx),
        "--threads",
        str(threads()),
    )
    env = dict(os.environ, CCB_ENGINE_KEY=key)
    with _open_log(log) as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd=safe_cwd()
        )
    engine = RunningEngine(f"http://127.0.0.1:{port}/v1", model, n_ctx, key, proc, log)
    what = facts.path.name if facts.path else model
    size = f", {_gib(facts.size)}" if facts.size else ""
    try:
        await _wait_ready(engine, f"Loading {what}{size} into llama.cpp ({n_ctx:,}-token window)", quiet)
    except BaseException:
        await engine.stop()
        raise
    if not quiet:
        render.info(f"The embedded engine is ready: {what} at 127.0.0.1:{port}, {n_ctx:,}-token window.")
    return engine


def _open_log(log: Path) -> IO[bytes]:
    from ccb.proxy.privatefiles import open_private

    return open(open_private(log, os.O_WRONLY | os.O_TRUNC), "wb")


async def _wait_ready(engine: RunningEngine, label: str, quiet: bool) -> None:
    import httpx
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ccb.cli import render

    root = root_url(engine.url)
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=render.err,
        transient=True,
        disable=quiet,
    )
    with progress:
        progress.add_task(label)
        async with httpx.AsyncClient(trust_env=False) as client:
            while True:
                if engine.proc.returncode is not None:
                    raise CcbError(_failure(engine.log, engine.model))
                with suppress(httpx.HTTPError):
                    reply = await client.get(root + "/health", timeout=2.0)
                    if reply.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise CcbError(
                        f"the embedded engine did not finish loading {engine.model} within "
                        f"{LOAD_TIMEOUT_S:.0f} s (log: {engine.log})"
                    )
                await asyncio.sleep(0.25)


async def start_for_profile(profile: Any, *, minimum: int, quiet: bool = False) -> tuple[Any, Any, RunningEngine]:
    """Start the engine for an embedded profile: (the profile pointed at it, a probe of it, the engine)."""
    from ccb.cli.engines.probe import probe_url

    model = profile.slots().get("model")
    if not model:
        raise CcbError(
            f"profile '{profile.name}' names no model file: re-add it with "
            f"`ccb profile add {profile.name} --preset embedded --model-file PATH`"
        )
    engine = await start(model, minimum=minimum, window=profile.context_length, quiet=quiet)
    try:
        status = await probe_url(engine.url, api_key=engine.key, timeout=10.0)
    except BaseException:
        await engine.stop()
        raise
    live = replace(profile, base_url=engine.url, openai_base_url=engine.url, api_key=engine.key, api_key_env=None)
    return live, status, engine


# ------------------------------------------------------------------------------------------ the child side


def _parent_watch(parent: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m ccb.cli.embedded serve")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, required=True)
    parser.add_argument("--threads", type=int, default=threads())
    args = parser.parse_args(argv)
    import xllamacpp

    params = xllamacpp.CommonParams()
    if is_reference(args.model):
        if args.model.startswith(("https://", "http://")):
            params.model.url = args.model
        else:
            params.model.hf_repo = args.model
    else:
        params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = 1
    params.use_jinja = True
    params.endpoint_props = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    if key := os.environ.pop("CCB_ENGINE_KEY", ""):
        params.api_keys = [key]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to Claude Code; ccb stops us
    threading.Thread(target=_parent_watch, args=(os.getppid(), stop), daemon=True).start()
    server = xllamacpp.Server(params)
    print("listening", flush=True)
    stop.wait()
    del server
    os._exit(0)


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        raise SystemExit("usage: python -m ccb.cli.embedded serve --model REF --alias NAME --port N --ctx N")
    serve(sys.argv[2:])
