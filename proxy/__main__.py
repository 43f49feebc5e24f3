"""`python -m ccb.proxy serve`: the bridge alone, in a process that loads none of the CLI. Does I/O.

`ccb serve` checks its options, then replaces itself with this entry (`os.execve`): the bridge then costs
the memory of the bridge, not of the whole command line tool. The configuration holds keys, so it never
goes on the command line (where `ps` shows it) nor in the environment (which stays readable in
/proc/PID/environ for the process's whole life): it arrives in an unlinked private file whose descriptor
number is in CCB_BRIDGE_SPEC_FD, read once and closed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

SPEC_VAR = "CCB_BRIDGE_SPEC_FD"


def spec_fd(text: str) -> int:
    """An inheritable descriptor of an unlinked 0600 file holding `text`, for the exec'd bridge to read."""
    import tempfile

    with tempfile.TemporaryFile() as fh:
        fh.write(text.encode("utf-8"))
        fh.flush()
        fd = os.dup(fh.fileno())
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd


def _read_spec() -> str | None:
    raw = os.environ.pop(SPEC_VAR, None)
    if raw is None or not raw.isdigit():
        return None
    fd = int(raw)
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read().decode("utf-8")
    except OSError:
        return None


def spec(
    config_dict: dict[str, Any],
    host: str,
    port: int,
    *,
    show_token: bool,
    log: Path,
    exports: dict[str, str] | None = None,
    echo: bool = True,
    workers: int = 1,
    background: str | None = None,
) -> str:
    """`exports`: further variables for the lines Claude Code's users paste (models, window, output limit).
    `echo`: log lines on stderr too (not for a background bridge, whose stderr is a plain file).
    `workers`: bridge processes sharing the port (`ccb.proxy.workers`).
    `background`: the profile a background bridge (`ccb serve --detach`, run by `ccb.proxy.keeper`) serves."""
    return json.dumps(
        {
            "config": config_dict,
            "host": host,
            "port": port,
            "show_token": show_token,
            "log": str(log),
            "exports": exports or {},
            "echo": echo,
            "workers": workers,
            "background": background,
        }
    )


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


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
        _say(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port (0 = any free)")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _announce(data, config, bridge.url, log_path)
    try:
        await stop.wait()
    finally:
        _say("stopping the bridge")
        await bridge.stop()
    return 0


def _announce(data: dict[str, Any], config: Any, url: str, log_path: Path, workers: int = 1) -> None:
    """What the bridge says once it listens, worded for how it runs: in the foreground (Ctrl-C, and the
    lines to paste), or in the background under its keeper (its stderr is a file nobody watches; plain
    `claude` finds it through the settings `ccb profile switch` writes; the token stays in ccb's state)."""
    many = f" ({workers} worker processes)" if workers > 1 else ""
    profile = data.get("background")
    if profile is None:
        _say(f"ccb bridge on {url}{many} → {config.chat_url} (model {config.models.default}); Ctrl-C stops it")
    else:
        again = " (restarted by its keeper: same port, same token)" if data.get("restarted") else ""
        _say(
            f"ccb background bridge for '{profile}' on {url}{again} → {config.chat_url} "
            f"(model {config.models.default}); `ccb serve --stop` stops it, `ccb serve --status` shows it"
        )
    if config.web_search:
        from ccb.proxy.websearch.spec import parse_spec

        backend = parse_spec(config.web_search, config.web_search_key_env)
        _say(f"web search: {backend.label} at {config.redact(backend.search_url)}")
    _say(f"log: {log_path}")
    if profile is not None:
        if not data.get("restarted"):
            _say(
                f"plain `claude` reaches it through the settings `ccb profile switch {profile}` writes (URL and token)"
            )
        return
    _say("Point Claude Code at it:")
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
    raw = _read_spec()
    if argv[:1] != ["serve"] or raw is None:
        _say("error: this entry is started by `ccb serve`; run that instead")
        return 2
    data = json.loads(raw)
    workers = int(data.get("workers") or 1)
    if workers > 1:
        return _run_workers(data, workers)
    return asyncio.run(_run(data))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
