"""Is a process, or a listener on a port, the user's own ccb bridge? Does process, file and network I/O.

A command line that merely contains "serve" proves nothing (a recycled pid may belong to `ollama serve`),
and a listener that answers `{"status": "ok"}` proves nothing either (anyone may bind a port above 1024).
ccb trusts a recorded pid only when the same process (uid, start time, ccb's own module on its command
line) still runs it, and a listener only when it answers a fresh challenge with a proof that takes the
bridge token to compute; the token itself is never sent to an unverified listener.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx
import psutil

from ccb.proxy.net import health_proof

_OUR_MODULES = ("ccb.cli", "ccb.proxy", "ccb.proxy.keeper", "ccb.cli.bridge_boot")


def process_is_ours(pid: int, create_time: float | None) -> bool:
    """`pid` is a live ccb bridge process of this user, started at `create_time` (when recorded)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.uids().real != os.getuid():
            return False
        if create_time and abs(proc.create_time() - create_time) > 1.0:
            return False
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return False
    return "serve" in cmdline and any(module in cmdline for module in _OUR_MODULES)


def answers_as_ours(url: str, token: str, timeout: float = 2.0) -> bool:
    """The listener at `url` proved it holds `token` (a fresh challenge; the token is not sent)."""
    challenge = secrets.token_hex(16)
    try:
        resp = httpx.get(
            url.rstrip("/") + "/health",
            params={"challenge": challenge},
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
        )
        body = resp.json()
    except (httpx.HTTPError, ValueError):
        return False
    proof = body.get("proof") if isinstance(body, dict) else None
    return (
        resp.status_code == 200
        and isinstance(proof, str)
        and secrets.compare_digest(proof, health_proof(token, challenge))
    )


def listener_uid(port: int) -> int | None:
    """The uid owning the TCP socket listening on `port` (any address), from /proc/net/tcp{,6}; None when
    nothing listens or the system does not say (not Linux)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 7 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return int(fields[7])
    return None


def describe_uid(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"
