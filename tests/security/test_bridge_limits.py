"""One misbehaving peer cannot starve or exhaust the bridge, nor forge its log (audit B2, B4, B10, B13-B19,
B24). No test measures time: the limits are shortened for the test, and time bounds only stop a hang."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from ccb.proxy import connguard, relay
from ccb.proxy.translate import sse
from ccb.proxy.translate import stream as stream_mod
from ccb.proxy.translate.stream import StreamTranslator
from tests.fakes.faulty_engine import Echo, Reply, Trickle
from tests.reliability.conftest import RigFactory
from tests.reliability.helpers import TOKEN, ask, error_of, exchange


def with_host(port: int, path: str, host: str, headers: list[tuple[str, str]] | None = None) -> tuple[int, bytes]:
    """GET `path` with exactly this Host header (and nothing else aiohttp would add)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:  # timeout: hang guard
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def closed_by_peer(sock: socket.socket, guard: float = 15.0) -> bool:
    """True when the bridge closes the connection (recv gives EOF); False when it keeps it open past `guard`."""
    sock.settimeout(guard)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture
def quick_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connguard, "HEADER_TIMEOUT", 0.5)
    monkeypatch.setattr(connguard, "SWEEP_EVERY", 0.1)


async def test_a_request_head_that_never_ends_is_closed(faulty_rig: RigFactory, quick_guard: None) -> None:
    rig = await faulty_rig()
    with socket.create_connection(("127.0.0.1", rig.bridge.port)) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 8000)
        assert await asyncio.to_thread(closed_by_peer, sock)
    answer = await rig.post(ask(stream=False))
    assert answer.status == 200


async def test_many_idle_connections_cannot_crowd_out_the_user(
    faulty_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connguard, "MAX_IDLE", 5)
    monkeypatch.setattr(connguard, "SWEEP_EVERY", 0.1)
    rig = await faulty_rig()
    idle = [socket.create_connection(("127.0.0.1", rig.bridge.port)) for _ in range(40)]
    try:
        closed = await asyncio.gather(*(asyncio.to_thread(closed_by_peer, s) for s in idle[:35]))
        assert all(closed)  # the oldest idle ones make room
        answer = await rig.post(ask(stream=False))
        assert answer.status == 200
    finally:
        for s in idle:
            s.close()


async def test_a_connection_inside_a_request_is_never_cut(faulty_rig: RigFactory, quick_guard: None) -> None:
    rig = await faulty_rig()
    rig.engine.push(Echo(delay=1.5))  # a long prefill: longer than the (shortened) header limit
    answer = await rig.post(ask("still here", stream=False))
    assert answer.status == 200 and "still here" in json.dumps(answer.json())


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:{port}", "127.0.0.1.nip.io", "10.0.0.1"])
async def test_a_foreign_host_header_is_refused_on_every_route(faulty_rig: RigFactory, host: str) -> None:
    rig = await faulty_rig()
    for path in ("/health", "/", "/v1/models"):
        status, body = await asyncio.to_thread(
            with_host, rig.bridge.port, path, host.format(port=rig.bridge.port), [("x-api-key", TOKEN)]
        )
        assert status == 403, (path, status)
        assert b"upstream" not in body and json.loads(body)["error"]["type"] == "permission_error"


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}", "127.0.0.1"])
async def test_loopback_host_headers_are_served(faulty_rig: RigFactory, host: str) -> None:
    rig = await faulty_rig()
    status, _ = await asyncio.to_thread(with_host, rig.bridge.port, "/health", host.format(port=rig.bridge.port))
    assert status == 200


async def test_failed_logins_are_logged_without_the_token(
    faulty_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await faulty_rig()
    with caplog.at_level(logging.INFO, logger="ccb.bridge"):
        answer = await rig.post(ask(), headers={"x-api-key": "wrong-guess-0123456789"})
        assert answer.status == 401
    lines = [r.getMessage() for r in caplog.records]
    assert any("refused POST /v1/messages: wrong bridge token" in line for line in lines), lines
    assert not any("wrong-guess-0123456789" in line or TOKEN in line for line in lines)


async def test_a_request_path_cannot_forge_log_lines_or_send_terminal_escapes(
    faulty_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await faulty_rig()
    with caplog.at_level(logging.INFO, logger="ccb.bridge"):
        await asyncio.to_thread(
            exchange,
            rig.bridge.port,
            "GET",
            "/x%0a2026-12-02%2013:00:00,000%20INFO%20FORGED%1b[31m",
            [("x-api-key", TOKEN)],
        )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "FORGED" in text and "\x1b" not in text and "\n2026-12-02" not in text and "\\x0a" in text


async def test_an_endless_whole_answer_is_cut_at_the_cap(
    faulty_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "MAX_ANSWER_BYTES", 1 << 20)
    rig = await faulty_rig()
    rig.engine.push(Reply(200, b'{"id": "' + b"a" * (3 << 20) + b'"}'))
    answer = await rig.post(ask(stream=False))
    assert answer.status == 502 and "larger than" in answer.json()["error"]["message"]
    assert answer.headers["x-should-retry"] == "true"


async def test_a_streamed_line_that_never_ends_is_an_error_event(
    faulty_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "MAX_LINE", 1 << 20)
    rig = await faulty_rig()
    rig.engine.push(Trickle(piece=b"data: " + b"x" * 65536, interval=0.0))
    answer = await rig.post(ask())
    assert answer.status == 200
    assert "over 1048576 bytes" in error_of(answer.raw)["error"]["message"]


def test_the_sse_decoder_refuses_an_overlong_line_and_keeps_decoding_complete_ones() -> None:
    decoder = sse.SSEDecoder(max_line=1000)
    assert decoder.feed(b"data: 1\n\ndata: ") == ["1"]
    decoder.feed(b"x" * 900)
    with pytest.raises(sse.LineTooLong):
        decoder.feed(b"x" * 200)


def tool_chunk(args: str, *, first: bool = False, finish: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": 0, "function": {"name": "Write", "arguments": args}}
    if first:
        call["id"] = "call_1"
    return {"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": finish}]}


def test_tool_call_deltas_repeating_the_name_are_not_reparsed_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = stream_mod._complete_json

    def counting(text: str) -> bool:
        nonlocal calls
        calls += 1
        return real(text)

    monkeypatch.setattr(stream_mod, "_complete_json", counting)
    content = 'x = {"a": [1, 2]}\n"quoted" \\ done } ] { [ ' * 200  # brackets and escapes inside the string
    arguments = json.dumps({"file_path": "/tmp/a.py", "content": content})
    machine = StreamTranslator(model="m", input_estimate=1, tool_names={}, stop_sequences=[])
    events = machine.feed(tool_chunk(arguments[0], first=True))
    for ch in arguments[1:]:  # one character per delta, the name repeated each time, no id (older llama.cpp)
        events += machine.feed(tool_chunk(ch))
    events += machine.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    assert calls <= 3, calls
    starts = [e for name, e in events if name == "content_block_start"]
    assert len(starts) == 1  # one call, not thousands
    sent = "".join(e["delta"]["partial_json"] for name, e in events if name == "content_block_delta")
    assert json.loads(sent) == json.loads(arguments)


def test_endless_leading_whitespace_is_held_in_a_bounded_buffer() -> None:
    machine = StreamTranslator(model="m", input_estimate=1, tool_names={}, stop_sequences=[])
    for _ in range(20000):
        machine.feed({"choices": [{"index": 0, "delta": {"content": " \n"}, "finish_reason": None}]})
        assert len(machine._think.pending) <= 1024
    events = machine.feed(
        {"choices": [{"index": 0, "delta": {"content": "<think>hm</think>hello"}, "finish_reason": "stop"}]}
    )
    kinds = [e["delta"]["type"] for name, e in events if name == "content_block_delta"]
    assert "thinking_delta" in kinds and "text_delta" in kinds


async def test_json_nested_beyond_the_stack_is_a_400_not_a_crash(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig()
    body = b'{"model": "m", "max_tokens": 5, "messages": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    answer = await asyncio.to_thread(
        exchange,
        rig.bridge.port,
        "POST",
        "/v1/messages",
        [("x-api-key", TOKEN), ("Content-Type", "application/json")],
        body,
    )
    assert answer.status == 400 and "nested deeper than" in answer.error()["error"]["message"]


@pytest.mark.parametrize(
    ("target", "headers", "says"),
    [
        ("/v1/messages", [("X-Huge", "a" * 9 * 1024)], "request line or header too large"),
        ("/v1/messages", [("X-Huge", "a" * 100 * 1024)], "request line or header too large"),
        ("/v1/messages", [("X-" + "n" * 9 * 1024, "1")], "request line or header too large"),
        ("/v1/" + "m" * 9 * 1024, [], "request line or header too large"),
        ("/v1/messages", [(f"X-Many-{i}", "1") for i in range(200)], "too many request headers"),
    ],
    ids=["9-KB-value", "100-KB-value", "9-KB-name", "9-KB-request-line", "200-headers"],
)
async def test_an_oversized_request_head_gets_an_anthropic_json_error(
    faulty_rig: RigFactory, target: str, headers: list[tuple[str, str]], says: str
) -> None:
    rig = await faulty_rig()
    answer = await asyncio.to_thread(
        exchange, rig.bridge.port, "POST", target, [("x-api-key", TOKEN), *headers], json.dumps(ask()).encode()
    )
    assert answer.status == 400
    assert b"content-type: application/json" in answer.head.lower()
    error = answer.error()
    assert error["error"]["type"] == "invalid_request_error" and says in error["error"]["message"]
    assert "aaaa" not in error["error"]["message"]  # what was too large is named, not echoed
    assert rig.engine.received == 0
    assert (await rig.post(ask(stream=False))).status == 200


async def test_the_anthropic_sdk_shows_why_an_oversized_header_was_refused(faulty_rig: RigFactory) -> None:
    import anthropic

    rig = await faulty_rig()
    async with anthropic.AsyncAnthropic(base_url=rig.bridge.url, api_key=TOKEN) as client:
        with pytest.raises(anthropic.BadRequestError) as refused:
            await client.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=5,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-huge": "a" * 20 * 1024},
            )
    assert refused.value.status_code == 400
    assert "request line or header too large" in refused.value.message
    body = refused.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"


def open_files_limit(pid: int) -> tuple[int, int]:
    """(soft, hard) RLIMIT_NOFILE of a running process, as the kernel reports it."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError(f"no open-files line in /proc/{pid}/limits")


def low_soft_limit() -> None:
    """In a child before exec: the usual small soft limit (1,024 on most systems; 128 here) under a higher hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_SOFT, hard))


LOW_SOFT = 128
needs_proc = pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc/PID/limits (Linux)")
needs_headroom = pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] <= LOW_SOFT,
    reason=f"the hard open-files limit here is {LOW_SOFT} or less: there is nothing to raise",
)


@needs_proc
@needs_headroom
@pytest.mark.parametrize("workers", [1, 2])
def test_ccb_serve_raises_its_open_files_limit_to_the_hard_limit(tmp_path: Path, workers: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    out = tmp_path / "serve.out"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "ccb.cli", "serve", "--upstream", "http://127.0.0.1:9/v1", "--model", "m"]
            + ["--engine", "vllm", "--context-length", "4096", "--auth-token", TOKEN, "--port", "0"]
            + ["--workers", str(workers)],
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            preexec_fn=low_soft_limit,  # noqa: PLW1509 (the test process starts no threads here)
        )
    try:
        deadline = time.monotonic() + 60  # hang guard only
        while b"ANTHROPIC_BASE_URL=" not in out.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        serving = [proc.pid] + [child.pid for child in psutil.Process(proc.pid).children()]
        assert len(serving) == (1 if workers == 1 else 1 + workers)
        for pid in serving:  # `ccb serve` became the bridge (same pid); workers are its children
            assert open_files_limit(pid) == (hard, hard), pid
    finally:
        proc.terminate()
        proc.wait(30)


@needs_proc
@needs_headroom
def test_the_background_bridge_raises_its_open_files_limit_to_the_hard_limit(isolated_home: Path) -> None:
    from ccb.cli import bridge_daemon
    from tests.fakes.openai_engine import FakeEngine
    from tests.support.cli import ccb
    from tests.support.servers import serving_in_thread

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    engine = FakeEngine("vllm", context=131072)
    with serving_in_thread(engine.app) as url:
        ccb("profile", "add", "local", "--preset", "vllm", "--base-url", url + "/v1", "--model", "qwen3")
        resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_SOFT, hard))  # what the keeper and the bridge inherit
        try:
            state = bridge_daemon.start("local")
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        try:
            (bridge,) = psutil.Process(state.pid).children()  # the keeper holds the port, its child serves
            assert open_files_limit(bridge.pid) == (hard, hard)
            assert open_files_limit(state.pid)[0] == LOW_SOFT  # the keeper holds one socket: it needs no more
        finally:
            bridge_daemon.stop()
