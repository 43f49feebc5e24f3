"""Record what a Claude Code release sends: the wire corpus the translator tests replay.

    .venv/bin/python -m tests.record_wire [VERSION ...]      # default: every pinned version

For each version (installed under `.tools/claude/<version>`, or `$CCB_TEST_CLAUDE_ROOT`), the real client
runs a few scenarios against a recording Anthropic server on 127.0.0.1 that answers from a script, and
every request it makes is written to `tests/fixtures/wire/<version>/<scenario>-<n>.json`:
`{"method", "path", "query", "headers", "body"}`, with the auth headers left out and the temporary
HOME and working folder written as `$HOME` and `$CWD`. The old recordings of that version are replaced.

Scenarios: `plain` (one `-p` answer), `tool` (a Bash round trip), `toolsearch` (ToolSearch selects CronList,
then CronList runs; a release without tool search calls CronList at once), `count_tokens` (tool search in
`auto` mode with a 32k window counts its tools first), `interactive` (one prompt typed in a tmux terminal)
and `compact` (`/compact` of a saved session).
`tests/run.sh --new-release VERSION` installs a release, records it and runs the tests against it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.claude import CLAUDE_VERSIONS, ROOT, claude_binary

FIXTURES = ROOT / "tests" / "fixtures" / "wire"
TOKEN = "wire-recording-token"
MODEL = "wire-model"
DROPPED_HEADERS = frozenset({"authorization", "x-api-key", "host", "content-length"})

Reply = dict[str, Any]  # {"text": str} or {"tool": name, "input": {...}}
Script = Callable[[dict[str, Any]], Reply]


# ---------------------------------------------------------------------------------------- scripts


def _results(body: dict[str, Any]) -> dict[str, str]:
    """tool_use id -> tool name, for every tool call in the conversation that has a result."""
    calls: dict[str, str] = {}
    answered: set[str] = set()
    for message in body.get("messages", []):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if block.get("type") == "tool_use":
                calls[block["id"]] = block["name"]
            elif block.get("type") == "tool_result":
                answered.add(block.get("tool_use_id", ""))
    return {i: n for i, n in calls.items() if i in answered}


def _tool_names(body: dict[str, Any]) -> set[str]:
    return {t.get("name", "") for t in body.get("tools") or []}


def plain(body: dict[str, Any]) -> Reply:
    return {"text": "Hello from the recording server."}


def tool(body: dict[str, Any]) -> Reply:
    if "Bash" in _results(body).values() or "Bash" not in _tool_names(body):
        return {"text": "The command printed wire-corpus."}
    return {"tool": "Bash", "input": {"command": "echo wire-corpus", "description": "Print a word"}}


def toolsearch(body: dict[str, Any]) -> Reply:
    done = set(_results(body).values())
    names = _tool_names(body)
    if "CronList" in done:
        return {"text": "There are no scheduled jobs."}
    if "CronList" in names:
        return {"tool": "CronList", "input": {}}
    if "ToolSearch" in names and "ToolSearch" not in done:
        return {"tool": "ToolSearch", "input": {"query": "select:CronList", "max_results": 5}}
    return {"text": "CronList is not available."}


def compact(body: dict[str, Any]) -> Reply:
    return {"text": "<summary>The user asked for a greeting and got one.</summary>"}


# ------------------------------------------------------------------------------------------ server


def _events(reply: Reply, model: str) -> list[tuple[str, dict[str, Any]]]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_" + uuid.uuid4().hex[:24],
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 1200,
                "output_tokens": 1,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
            },
        },
    }
    if "tool" in reply:
        block = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": reply["tool"], "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(reply["input"])}
        stop = "tool_use"
    else:
        block, delta, stop = {"type": "text", "text": ""}, {"type": "text_delta", "text": reply["text"]}, "end_turn"
    return [
        ("message_start", start),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 12},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def _message(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = dict(_events(reply, model)[0][1]["message"])
    if "tool" in reply:
        message["content"] = [
            {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": reply["tool"], "input": reply["input"]}
        ]
        message["stop_reason"] = "tool_use"
    else:
        message["content"] = [{"type": "text", "text": reply["text"]}]
        message["stop_reason"] = "end_turn"
    return message


class Recorder:
    """A loopback Anthropic server that keeps every request and answers `/v1/messages` from a script."""

    def __init__(self) -> None:
        self.script: Script = plain
        self.records: list[dict[str, Any]] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._any)

    async def _any(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.records.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_HEADERS},
                "body": body,
            }
        )
        if request.headers.get("Authorization") != f"Bearer {TOKEN}" and request.method == "POST":
            return web.json_response(
                {"type": "error", "error": {"type": "authentication_error", "message": "invalid token"}}, status=401
            )
        if request.method == "POST" and request.path == "/v1/messages/count_tokens":
            return web.json_response({"input_tokens": max(1, len(raw) // 4)})
        if request.method != "POST" or request.path != "/v1/messages" or not isinstance(body, dict):
            return web.json_response(
                {"type": "error", "error": {"type": "not_found_error", "message": "not found"}}, status=404
            )
        reply = self.script(body)
        model = str(body.get("model", MODEL))
        if not body.get("stream"):
            return web.json_response(_message(reply, model))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for name, data in _events(reply, model):
            await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        await resp.write_eof()
        return resp


# ----------------------------------------------------------------------------------------- running


def _env(home: Path, url: str, **extra: str) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "NO_PROXY": "127.0.0.1,localhost",
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_AUTH_TOKEN": TOKEN,
        "ANTHROPIC_API_KEY": "",
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": MODEL,
        "CLAUDE_CODE_SUBAGENT_MODEL": MODEL,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "API_TIMEOUT_MS": "60000",
        "IS_SANDBOX": "1",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }
    env.update(extra)
    return env


async def _interactive(binary: Path, env: dict[str, str], cwd: Path) -> None:
    """One prompt in a real terminal (tmux): interactive requests carry `safeguards` and more tools."""
    from tests.support.tmux import Terminal

    home = Path(env["HOME"])
    # A folder already trusted and onboarding done, so no first-run dialog stands in the way.
    (home / ".claude.json").write_text(
        json.dumps({"hasCompletedOnboarding": True, "projects": {str(cwd): {"hasTrustDialogAccepted": True}}})
    )
    with Terminal([str(binary)], env={**env, "TERM": "xterm-256color"}, cwd=cwd) as term:
        await term.wait_for("? for shortcuts", "for agents", timeout=90)
        term.type("Say hello.")
        await asyncio.sleep(0.5)
        term.keys("Enter")
        await term.wait_for("Hello from the recording server.", timeout=90)
        term.type("/exit")
        await asyncio.sleep(0.8)
        term.keys("Enter")
        await term.wait_for("[exit 0]", timeout=30)


async def _claude(binary: Path, args: list[str], env: dict[str, str], cwd: Path) -> None:
    if args == ["(interactive)"]:
        await _interactive(binary, env, cwd)
        return
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        *args,
        "--output-format",
        "json",
        "--dangerously-skip-permissions",
        "--max-turns",
        "6",
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    if proc.returncode != 0:
        raise RuntimeError(
            f"claude {' '.join(args)} exited {proc.returncode}: {out.decode()[-500:]} {err.decode()[-500:]}"
        )


# name -> (script, runs of (args, extra env)); a scenario's runs share one HOME and working folder.
SCENARIOS: dict[str, tuple[Script, list[tuple[list[str], dict[str, str]]]]] = {
    "plain": (plain, [(["-p", "Say hello.", "--no-session-persistence"], {})]),
    "tool": (tool, [(["-p", "Run: echo wire-corpus", "--no-session-persistence"], {})]),
    "toolsearch": (toolsearch, [(["-p", "List the scheduled cron jobs.", "--no-session-persistence"], {})]),
    "count_tokens": (
        plain,
        [
            (
                ["-p", "Say hello.", "--no-session-persistence"],
                {"ENABLE_TOOL_SEARCH": "auto", "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "32768"},
            )
        ],
    ),
    "interactive": (plain, [(["(interactive)"], {})]),
    # 2.1.197 finds one exchange "not enough messages to compact".
    "compact": (
        compact,
        [
            (["-p", "Say hello."], {}),
            (["-p", "--continue", "Say it again."], {}),
            (["-p", "--continue", "/compact"], {}),
        ],
    ),
}


def normalize(value: Any, replacements: list[tuple[str, str]]) -> Any:
    """Every string with the temporary folders replaced by placeholders (longest path first)."""
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [normalize(v, replacements) for v in value]
    if isinstance(value, dict):
        return {normalize(k, replacements): normalize(v, replacements) for k, v in value.items()}
    return value


async def record(version: str) -> list[Path]:
    binary = claude_binary(version)
    if not binary.exists():
        raise SystemExit(
            f"Claude Code {version} is not installed at {binary}; tests/run.sh installs it "
            f"(CCB_TEST_CLAUDE_VERSIONS={version} tests/run.sh --co -q)"
        )
    recorder = Recorder()
    runner = web.AppRunner(recorder.app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    target = FIXTURES / version
    written: list[Path] = []
    try:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name, (script, runs) in SCENARIOS.items():
            with tempfile.TemporaryDirectory(prefix="ccb-wire-") as folder:
                base = Path(folder).resolve()
                home, cwd = base / "home", base / "project"
                home.mkdir()
                cwd.mkdir()
                recorder.script, recorder.records = script, []
                for args, extra in runs:
                    await _claude(binary, args, _env(home, url, **extra), cwd)
                # Claude Code also names the project folder after the working folder (`-tmp-…-project`).
                slug = re.sub(r"[^A-Za-z0-9]", "-", str(cwd))
                replacements = [
                    (slug, "$CWD_SLUG"),
                    (str(cwd), "$CWD"),
                    (str(home), "$HOME"),
                    (str(base), "$TMP"),
                    (url, "$BASE_URL"),
                ]
                for n, item in enumerate(recorder.records, 1):
                    path = target / f"{name}-{n:02d}.json"
                    path.write_text(
                        json.dumps(normalize(item, replacements), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
                    )
                    written.append(path)
            print(f"{version} {name}: {len(recorder.records)} requests", file=sys.stderr)
    finally:
        await runner.cleanup()
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="*", help="Claude Code versions (default: the pinned ones)")
    args = parser.parse_args(argv)
    for version in args.versions or list(CLAUDE_VERSIONS):
        asyncio.run(record(version))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
