"""A stand-in for the `claude` executable, installed into a temp dir first on PATH by `install()`.

It records its argv, environment, the `--settings` file's content and the signals it receives into the
JSON file named by FAKE_CLAUDE_RECORD, then behaves as FAKE_CLAUDE_MODE says:
`exit:N` (exit with N), `kill` (SIGKILL itself), `wait` (run until SIGTERM/SIGHUP, then exit 100+signal),
`call` (send one Messages request to ANTHROPIC_BASE_URL, record the status, exit 0).
"""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPT = r"""
import json, os, signal, sys, time, urllib.request
record = os.environ["FAKE_CLAUDE_RECORD"]
args = sys.argv[1:]
settings = None
if args[:1] == ["--settings"]:
    with open(args[1]) as fh:
        settings = json.load(fh)
data = {"argv": args, "env": dict(os.environ), "settings": settings, "signals": [], "pid": os.getpid()}

def save():
    tmp = record + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, record)

if "--version" in args:
    print("2.1.197 (Claude Code)")
    sys.exit(0)
mode = os.environ.get("FAKE_CLAUDE_MODE", "exit:0")
if mode == "call":
    body = json.dumps({"model": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}).encode()
    req = urllib.request.Request(os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages", data=body, method="POST",
                                 headers={"Authorization": "Bearer " + os.environ["ANTHROPIC_AUTH_TOKEN"],
                                          "Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as resp:
        data["call"] = {"status": resp.status, "body": json.loads(resp.read())}
save()
if mode.startswith("exit:"):
    sys.exit(int(mode[5:]))
if mode == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "wait":
    def on(sig, frame):
        data["signals"].append(sig)
        save()
        sys.exit(100 + sig)
    signal.signal(signal.SIGTERM, on)
    signal.signal(signal.SIGHUP, on)
    data["ready"] = True
    save()
    for _ in range(600):
        time.sleep(0.1)
    sys.exit(99)
sys.exit(0)
"""


def install(folder: Path) -> Path:
    """Write the fake as `folder/claude` (executable) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "claude"
    path.write_text(f"#!{sys.executable}\n{SCRIPT}")
    path.chmod(0o755)
    return path
