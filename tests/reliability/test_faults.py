"""The engine misbehaves; the bridge answers with an Anthropic error Claude Code acts on, never a hang or a crash.

Before the first byte reaches the client: JSON with a 5xx/529 (or the engine's 4xx) status. After it:
`event: error` and no `message_stop`. Each time limit fires on its own, and only it.
"""

from __future__ import annotations

import json
import socket
from dataclasses import fields
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner

from ccb.cli.app import app
from ccb.cli.commands import serve as serve_cmd
from ccb.proxy.config import BridgeConfig
from tests.fakes.faulty_engine import Echo, FaultyEngine, Reply, Silent, Stream, Trickle, sse, unaccepting_port
from tests.fakes.openai_engine import Answer, render_stream
from tests.reliability.conftest import RigFactory
from tests.reliability.helpers import AUTH, TOKEN, Answered, ask, error_of
from tests.support.processes import ServeProcess
from tests.support.sse import text as stream_text

LONG = 30.0  # a limit that must not be the one firing; every request below also has a 20 s hang guard
PARTIAL = sse(render_stream(Answer(text="a partial answer that never ends"), "vllm"))[:4]


def assert_retryable_json(answer: Answered, status: int, *fragments: str) -> None:
    """An Anthropic JSON error with `status`, sent before any stream began."""
    assert answer.status == status, answer.raw[:300]
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["type"] == "error"
    for fragment in fragments:
        assert fragment in body["error"]["message"]


@pytest.mark.parametrize("stream", [True, False])
async def test_engine_refusing_connections_is_a_retryable_502(faulty_rig: RigFactory, stream: bool) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    rig = await faulty_rig(upstream=f"http://127.0.0.1:{dead}/v1")
    answer = await rig.post(ask(stream=stream))
    assert_retryable_json(answer, 502, f"127.0.0.1:{dead}", "Is it running?")
    assert answer.headers["x-should-retry"] == "true"


@pytest.mark.parametrize("stream", [True, False])
async def test_connect_timeout(faulty_rig: RigFactory, stream: bool) -> None:
    with unaccepting_port() as port:
        rig = await faulty_rig(
            upstream=f"http://127.0.0.1:{port}/v1", connect_timeout=0.3, first_byte_timeout=LONG, idle_timeout=LONG
        )
        answer = await rig.post(ask(stream=stream))
    assert_retryable_json(answer, 502, "no connection within the connect timeout (0.3 s)")
    assert answer.headers["x-should-retry"] == "true"


@pytest.mark.parametrize("stream", [True, False])
async def test_first_byte_timeout(faulty_rig: RigFactory, stream: bool) -> None:
    rig = await faulty_rig(connect_timeout=LONG, first_byte_timeout=0.3, idle_timeout=LONG)
    rig.engine.push(Silent())
    answer = await rig.post(ask(stream=stream))
    assert_retryable_json(answer, 504, "sent no answer within the first-byte timeout (0.3 s)")
    assert answer.headers["x-should-retry"] == "true"
    await rig.engine.wait_cut_short(1)  # the bridge hung up on the engine: no generation left running


async def test_idle_timeout_after_headers_is_an_error_event(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig(connect_timeout=LONG, first_byte_timeout=LONG, idle_timeout=0.3)
    rig.engine.push(Stream(PARTIAL, then="hang"))
    answer = await rig.post(ask())
    assert answer.status == 200
    error = error_of(answer.raw)
    assert "sent nothing for the idle timeout (0.3 s) in the middle of the answer" in error["error"]["message"]
    await rig.engine.wait_cut_short(1)


async def test_idle_timeout_on_a_whole_answer_is_a_retryable_json_error(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig(connect_timeout=LONG, first_byte_timeout=LONG, idle_timeout=0.3)
    rig.engine.push(Stream([b'{"choices": ['], then="hang", content_type="application/json"))
    answer = await rig.post(ask(stream=False))
    assert_retryable_json(answer, 502, "sent nothing for the idle timeout (0.3 s)")


async def test_endless_keepalive_comments_end_in_the_idle_timeout(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig(idle_timeout=0.5)
    rig.engine.push(Trickle(b": ping\n\n", interval=0.05))
    answer = await rig.post(ask())
    assert "idle timeout (0.5 s)" in error_of(answer.raw)["error"]["message"]
    await rig.engine.wait_cut_short(1)


async def test_endless_blank_lines_end_in_the_idle_timeout(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig(idle_timeout=0.5)
    rig.engine.push(Trickle(b"\n", interval=0.02))
    answer = await rig.post(ask())
    assert "idle timeout" in error_of(answer.raw)["error"]["message"]


@pytest.mark.parametrize("stream", [True, False])
async def test_slow_prefill_is_not_an_idle_timeout(faulty_rig: RigFactory, stream: bool) -> None:
    """Waiting for headers is the first-byte limit's business alone (aiohttp's sock_read used to cut it)."""
    rig = await faulty_rig(first_byte_timeout=LONG, idle_timeout=0.3)
    rig.engine.push(Echo(delay=1.0))
    answer = await rig.post(ask("slow", stream=stream))
    assert answer.status == 200
    text = stream_text(answer.raw) if stream else answer.json()["content"][0]["text"]
    assert text == "echo: slow"


async def test_idle_timeout_counts_silence_not_total_time(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig(idle_timeout=0.5)
    rig.engine.push(Echo(pause=0.1))  # ~15 chunks: longer than the idle limit in total, never silent for long
    answer = await rig.post(ask("patience"))
    assert stream_text(answer.raw) == "echo: patience"


@pytest.mark.parametrize("stream", [True, False])
async def test_429_passes_retry_after_through(faulty_rig: RigFactory, stream: bool) -> None:
    rig = await faulty_rig()
    rig.engine.push(Reply(429, b'{"error":{"message":"slow down","type":"rate_limit"}}', headers={"Retry-After": "7"}))
    answer = await rig.post(ask(stream=stream))
    assert_retryable_json(answer, 429, "slow down")
    assert answer.json()["error"]["type"] == "rate_limit_error"
    assert answer.headers["retry-after"] == "7"


@pytest.mark.parametrize(
    ("status", "want", "kind"),
    [
        (500, 500, "api_error"),
        (502, 502, "api_error"),
        (503, 529, "overloaded_error"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_engine_5xx_is_a_5xx_json_before_the_first_byte(
    faulty_rig: RigFactory, status: int, want: int, kind: str, stream: bool
) -> None:
    rig = await faulty_rig()
    rig.engine.push(Reply(status, b"<html><body>upstream trouble</body></html>", content_type="text/html"))
    answer = await rig.post(ask(stream=stream))
    assert_retryable_json(answer, want, "upstream trouble")
    assert answer.json()["error"]["type"] == kind


@pytest.mark.parametrize("status", [201, 204, 302, 304, 600, 999])
async def test_an_engine_status_outside_4xx_5xx_is_a_retryable_502(faulty_rig: RigFactory, status: int) -> None:
    rig = await faulty_rig()
    rig.engine.push(Reply(status, b"" if status in (204, 304) else b'{"error": {"message": "odd"}}'))
    answer = await rig.post(ask(stream=False))
    assert_retryable_json(answer, 502, f"answered HTTP {status}")
    assert answer.headers["x-should-retry"] == "true"


async def test_error_body_arriving_in_pieces_is_read_whole(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig()
    rig.engine.push(
        Stream(
            [b'{"error": {"mess', b'age": "slow down, please"}}'],
            pause=0.05,
            status=429,
            content_type="application/json",
        )
    )
    answer = await rig.post(ask())
    assert answer.status == 429 and answer.json()["error"]["message"] == "slow down, please"


@pytest.mark.parametrize("then", ["hang", "rst"])
async def test_error_body_that_never_ends_keeps_its_status(faulty_rig: RigFactory, then: str) -> None:
    rig = await faulty_rig(idle_timeout=0.3)
    rig.engine.push(Stream([b'{"error": "over'], then=then, status=503, content_type="application/json"))
    answer = await rig.post(ask())
    assert_retryable_json(answer, 529)


@pytest.mark.parametrize("then", ["fin", "rst"])
async def test_drop_in_the_middle_of_a_stream_is_an_error_event(faulty_rig: RigFactory, then: str) -> None:
    rig = await faulty_rig()
    rig.engine.push(Stream(PARTIAL, then=then))
    answer = await rig.post(ask())
    assert answer.status == 200
    assert "closed the connection in the middle of the answer" in error_of(answer.raw)["error"]["message"]


@pytest.mark.parametrize("then", ["fin", "rst"])
async def test_drop_in_the_middle_of_a_whole_answer_is_a_retryable_json_error(
    faulty_rig: RigFactory, then: str
) -> None:
    rig = await faulty_rig()
    rig.engine.push(Stream([b'{"choices": [{"index": 0, "mess'], then=then, content_type="application/json"))
    answer = await rig.post(ask(stream=False))
    assert_retryable_json(answer, 502, "closed the connection before its answer was complete")


async def test_clean_end_without_a_finish_is_an_error_event(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig()
    rig.engine.push(Stream(PARTIAL))
    answer = await rig.post(ask())
    assert "ended its stream in the middle of the answer" in error_of(answer.raw)["error"]["message"]


@pytest.mark.parametrize(("code", "want"), [(429, 429), (False, 500), (0, 500), (42, 500), ("oops", 500), (None, 500)])
async def test_error_chunk_keeps_only_a_real_http_status(faulty_rig: RigFactory, code: object, want: int) -> None:
    rig = await faulty_rig()
    error = json.dumps({"error": {"message": "engine trouble", "code": code}}).encode()
    rig.engine.push(Stream([b"data: " + error + b"\n\n"]))
    answer = await rig.post(ask(stream=False))
    assert_retryable_json(answer, want, "engine trouble")


GARBLED = [
    b"data: {not json\n\n",
    b"data: 42\n\n",
    b"data: []\n\n",
    b'data: "text"\n\n',
    b'data: {"choices": "x"}\n\n',
    b'data: {"choices": [5]}\n\n',
    b'data: {"choices": [{"delta": "text"}]}\n\n',
    b'data: {"choices": [{"delta": {"tool_calls": [7]}}]}\n\n',
]


@pytest.mark.parametrize("chunk", GARBLED)
async def test_malformed_chunk_is_an_error_event(faulty_rig: RigFactory, chunk: bytes) -> None:
    rig = await faulty_rig()
    rig.engine.push(Stream([*PARTIAL[:2], chunk, *PARTIAL[2:]]))
    answer = await rig.post(ask())
    assert answer.status == 200
    assert "malformed chunk" in error_of(answer.raw)["error"]["message"]


@pytest.mark.parametrize("chunk", GARBLED)
async def test_malformed_chunk_in_a_whole_answer_is_a_json_error(faulty_rig: RigFactory, chunk: bytes) -> None:
    rig = await faulty_rig()
    rig.engine.push(Stream([*PARTIAL[:2], chunk, *PARTIAL[2:]]))  # SSE, although the request did not stream
    answer = await rig.post(ask(stream=False))
    assert_retryable_json(answer, 502)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><body>Welcome to nginx!</body></html>"),
        ("text/plain", b""),
        ("application/json", b"[1, 2, 3]"),
        ("application/json", b'{"unexpected": true}'),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
async def test_a_body_of_the_wrong_kind_is_a_json_error(
    faulty_rig: RigFactory, content_type: str, body: bytes, stream: bool
) -> None:
    rig = await faulty_rig()
    rig.engine.push(Reply(200, body, content_type=content_type))
    answer = await rig.post(ask(stream=stream))
    if body == b'{"unexpected": true}':  # valid JSON object without choices: an empty answer, well formed
        assert answer.status == 200
        return
    assert_retryable_json(answer, 502, "not a chat completion")


async def test_bridge_keeps_serving_after_every_fault(faulty_rig: RigFactory) -> None:
    rig = await faulty_rig(idle_timeout=0.3, first_byte_timeout=0.3)
    rig.engine.push(Silent(), Stream(PARTIAL, then="rst"), Stream([b"data: 42\n\n"]), Reply(200, b"<html>"), Trickle())
    for _ in range(5):
        await rig.post(ask())
    answer = await rig.post(ask("still here"))
    assert stream_text(answer.raw) == "echo: still here"
    assert json.loads((await rig.post(ask("and here", stream=False))).raw)["content"][0]["text"] == "echo: and here"


# ------------------------------------------------------------------------------- ccb serve flags


@pytest.mark.parametrize(
    ("flag", "field"),
    [
        ("--connect-timeout", "connect_timeout"),
        ("--first-byte-timeout", "first_byte_timeout"),
        ("--idle-timeout", "idle_timeout"),
    ],
)
def test_serve_flags_set_each_time_limit_alone(monkeypatch: pytest.MonkeyPatch, flag: str, field: str) -> None:
    seen: list[BridgeConfig] = []

    def fake_launch(config: BridgeConfig, *args: object, **kwargs: object) -> None:
        seen.append(config)

    monkeypatch.setattr(serve_cmd, "_launch_bridge", fake_launch)
    base = ["serve", "--upstream", "http://127.0.0.1:9/v1", "--model", "m", "--engine", "vllm"]
    result = CliRunner().invoke(app, [*base, flag, "2.5"])
    assert result.exit_code == 0, result.output
    defaults = {f.name: f.default for f in fields(BridgeConfig) if f.name.endswith("_timeout")}
    assert {name: getattr(seen[0], name) for name in defaults} == {**defaults, field: 2.5}
    for bad in ("0", "-1", "nan"):
        refused = CliRunner().invoke(app, [*base, flag, bad])
        assert refused.exception is not None and f"{flag} must be a positive number of seconds" in str(
            refused.exception
        )


async def test_ccb_serve_time_limits_end_to_end(tmp_path: Path) -> None:
    """The three flags through the real `ccb serve`: each limit fires alone and ends in its own error."""
    common = ["--model", "fake-model", "--engine", "vllm", "--context-length", "8192", "--auth-token", TOKEN]
    async with FaultyEngine() as engine:
        engine.rules = {"silent": Silent(), "stall": Stream(PARTIAL, then="hang")}
        with unaccepting_port() as dead:
            async with (
                ServeProcess(
                    "--upstream",
                    engine.url,
                    *common,
                    "--first-byte-timeout",
                    "0.3",
                    "--idle-timeout",
                    "0.4",
                    workdir=tmp_path / "live",
                ) as live,
                ServeProcess(
                    "--upstream",
                    f"http://127.0.0.1:{dead}/v1",
                    *common,
                    "--connect-timeout",
                    "0.3",
                    workdir=tmp_path / "dead",
                ) as unreachable,
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session,
            ):
                async with session.post(live.url + "/v1/messages", json=ask("silent"), headers=AUTH) as resp:
                    assert resp.status == 504
                    assert "first-byte timeout (0.3 s)" in (await resp.json())["error"]["message"]
                async with session.post(live.url + "/v1/messages", json=ask("stall"), headers=AUTH) as resp:
                    assert "idle timeout (0.4 s)" in error_of(await resp.read())["error"]["message"]
                async with session.post(unreachable.url + "/v1/messages", json=ask(), headers=AUTH) as resp:
                    assert resp.status == 502
                    assert "connect timeout (0.3 s)" in (await resp.json())["error"]["message"]
