"""The one stand-in for the `claude` executable, written into a folder by `install()` (put it first on PATH).

`claude --version` prints the version line Claude Code prints (`install(..., version=...)`; an exit code other
than 0 makes it a broken install). Otherwise it records into the JSON file named by FAKE_CLAUDE_RECORD (replaced
whole on every change; `read_record()` reads it): its argv, environment, pid, the `--settings` file's content,
the signals it received (numbers) and, in `call` mode, the answer. Then it behaves as FAKE_CLAUDE_MODE says:

- `exit:N` (the default is `exit:0`): exit with N;
- `kill`: SIGKILL itself;
- `call`: send one Messages request to ANTHROPIC_BASE_URL with ANTHROPIC_AUTH_TOKEN, record it, exit 0;
- `wait`: record `ready`, then run until the file named by FAKE_CLAUDE_RELEASE appears (exit 0) or 60 s pass
  (exit 99).

Like Claude Code it survives SIGINT (Ctrl-C is its own key); SIGTERM and SIGHUP end it with FAKE_CLAUDE_SIGNAL_EXIT,
or 100 + the signal's number. Every signal is recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCRIPT = r"""
import json, os, signal, sys, time, urllib.request
VERSION, VERSION_EXIT = {version!r}, {version_exit!r}
args = sys.argv[1:]
if "--version" in args:
    print(VERSION)
    sys.exit(VERSION_EXIT)
record = os.environ.get("FAKE_CLAUDE_RECORD")
settings = None
if "--settings" in args:
    with open(args[args.index("--settings") + 1]) as fh:
        settings = json.load(fh)
data = {{"argv": args, "env": dict(os.environ), "settings": settings, "signals": [], "pid": os.getpid()}}

def save():
    if record:
        tmp = record + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, record)

def on_signal(sig, frame):
    data["signals"].append(sig)
    save()
    if sig != signal.SIGINT:
        sys.exit(int(os.environ.get("FAKE_CLAUDE_SIGNAL_EXIT", 100 + sig)))

for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(sig, on_signal)
save()
mode = os.environ.get("FAKE_CLAUDE_MODE", "exit:0")
if mode == "call":
    body = json.dumps({{"model": "x", "max_tokens": 5, "messages": [{{"role": "user", "content": "hi"}}]}}).encode()
    req = urllib.request.Request(os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages", data=body, method="POST",
                                 headers={{"Authorization": "Bearer " + os.environ["ANTHROPIC_AUTH_TOKEN"],
                                          "Content-Type": "application/json"}})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
    with opener.open(req, timeout=30) as resp:
        data["call"] = {{"status": resp.status, "body": json.loads(resp.read())}}
    save()
if mode.startswith("exit:"):
    sys.exit(int(mode[5:]))
if mode == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "wait":
    data["ready"] = True
    save()
    release = os.environ.get("FAKE_CLAUDE_RELEASE")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if release and os.path.exists(release):
            sys.exit(0)
        time.sleep(0.02)
    sys.exit(99)
sys.exit(0)
"""


def install(
    folder: Path, *, name: str = "claude", version: str = "2.1.197 (Claude Code)", version_exit: int = 0
) -> Path:
    """Write the fake as `folder/name` (executable) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!{sys.executable}\n" + SCRIPT.format(version=version, version_exit=version_exit))
    path.chmod(0o755)
    return path


def read_record(path: Path) -> dict[str, Any]:
    """What the fake recorded (see the module docstring)."""
    return json.loads(path.read_text())  # type: ignore[no-any-return]
