"""`python -m ccb.proxy serve`: the bridge alone, in a process that loads none of the CLI. Does I/O.

`ccb serve` checks its options, then replaces itself with this entry (`os.execve`): the bridge then costs
the memory of the bridge, not of the whole command line tool. The configuration holds keys, so it never
goes on the command line (where `ps` shows it) nor in the environment (which stays readable in
/proc/PID/environ for the process's whole life): it arrives in an unlinked private file whose descriptor
number is in CCB_BRIDGE_SPEC_FD, read once and closed (`ccb.proxy.entry`).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from ccb.proxy.entry import read_spec, say


async def _run(data: dict[str, Any]) -> int:
    from ccb.proxy.config import BridgeConfig
    from ccb.proxy.logsetup import setup
    from ccb.proxy.runner import start_bridge

    config = BridgeConfig.from_dict(data["config"])
    host, port = data["host"], int(data["port"])
    log_path = setup(Path(data["log"]), log_bodies=config.log_bodies, echo=data.get("echo", True))
    _raise_fd_limit()
    try:
        # Under the keeper (a background bridge) the listening socket is handed over, already bound.
        listen_fd = data.get("listen_fd")
        sock = socket.socket(fileno=int(listen_fd)) if listen_fd is not None else None
        bridge = await start_bridge(config, host, port, sock=sock)
    except OSError as exc:
        say(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port (0 = any free)")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _announce(data, config, bridge.url, log_path)
    try:
        await stop.wait()
    finally:
        say("stopping the bridge")
        await bridge.stop()
    return 0


def _announce(data: dict[str, Any], config: Any, url: str, log_path: Path, workers: int = 1) -> None:
    """What the bridge says once it listens, worded for how it runs: in the foreground (Ctrl-C, and the
    lines to paste), or in the background under its keeper (its stderr is a file nobody watches; plain
    `claude` finds it through the settings `ccb profile switch` writes; the token stays in ccb's state)."""
    many = f" ({workers} worker processes)" if workers > 1 else ""
    profile = data.get("background")
    if profile is None:
        say(f"ccb bridge on {url}{many} → {config.chat_url} (model {config.models.default}); Ctrl-C stops it")
    else:
        again = " (restarted by its keeper: same port, same token)" if data.get("restarted") else ""
        say(
            f"ccb background bridge for '{profile}' on {url}{again} → {config.chat_url} "
            f"(model {config.models.default}); `ccb serve --stop` stops it, `ccb serve --status` shows it"
        )
    if config.web_search:
        from ccb.proxy.websearch.spec import parse_spec

        backend = parse_spec(config.web_search, config.web_search_key_env)
        say(f"web search: {backend.label} at {config.redact(backend.search_url)}")
    say(f"log: {log_path}")
    if profile is not None:
        if not data.get("restarted"):
            say(f"plain `claude` reaches it through the settings `ccb profile switch {profile}` writes (URL and token)")
        return
    say("Point Claude Code at it:")
    token = config.auth_token if data["show_token"] else "<the token you passed>"
    sys.stdout.write(
        f'export ANTHROPIC_BASE_URL={url}\nexport ANTHROPIC_AUTH_TOKEN={token}\nexport ANTHROPIC_API_KEY=""\n'
    )
    for name, value in data.get("exports", {}).items():
        sys.stdout.write(f"export {name}={shlex.quote(value)}\n")
    sys.stdout.flush()


def _run_workers(data: dict[str, Any], workers: int) -> int:
    from ccb.proxy.config import BridgeConfig
    from ccb.proxy.logsetup import setup
    from ccb.proxy.workers import supervise

    config = BridgeConfig.from_dict(data["config"])
    log_path = setup(Path(data["log"]), log_bodies=config.log_bodies, echo=data.get("echo", True))
    _raise_fd_limit()
    return supervise(
        config, data["host"], int(data["port"]), workers, lambda url: _announce(data, config, url, log_path, workers)
    )


def _raise_fd_limit() -> None:
    """Up to the hard limit: many idle connections from a local peer must not leave the real user's refused."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hard if hard != resource.RLIM_INFINITY else 65536
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):
        pass


def main(argv: list[str]) -> int:
    raw = read_spec()
    if argv[:1] != ["serve"] or raw is None:
        say("error: this entry is started by `ccb serve`; run that instead")
        return 2
    data = json.loads(raw)
    workers = int(data.get("workers") or 1)
    if workers > 1:
        return _run_workers(data, workers)
    return asyncio.run(_run(data))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
