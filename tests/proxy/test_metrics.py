"""GET /metrics: Prometheus text behind the bridge's token, counting what clients and the engine did."""

from __future__ import annotations

import json
import re

import aiohttp
import anthropic
import pytest

from ccb.proxy.metrics import LATENCY_BUCKETS, LAYOUT, Metrics
from tests.fakes.openai_engine import Answer, Raw
from tests.proxy.conftest import TOKEN, Rig, RigFactory


async def scrape(rig: Rig, token: str | None = TOKEN) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(rig.bridge.url + "/metrics", headers=headers) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


def sample(text: str, name: str, labels: str = "") -> float:
    """The value of one series; fails when it is missing."""
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" (\S+)\n"
    found = re.search(r"(?m)^" + pattern, text)
    assert found, f"{name}{{{labels}}} not in:\n{text}"
    return float(found.group(1))


async def test_metrics_demand_the_token(rig: Rig) -> None:
    status, _, text = await scrape(rig, token=None)
    assert status == 401
    assert "ccb_" not in text
    status, _, _ = await scrape(rig, token="wrong")
    assert status == 401


async def test_metrics_count_requests_tokens_and_latency(rig: Rig) -> None:
    completion = {
        "id": "c",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 7,
            "total_tokens": 127,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }
    rig.engine.push(
        Raw(status=200, body=json.dumps(completion).encode(), headers={"Content-Type": "application/json"}),
        Answer(text="streamed", prompt_tokens=50, completion_tokens=3),
    )
    client = rig.client()
    await client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    async with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        await stream.get_final_message()
    status, ctype, text = await scrape(rig)
    assert status == 200
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype
    assert sample(text, "ccb_requests_total", 'route="messages"') == 2
    assert sample(text, "ccb_input_tokens_total") == 20 + 50
    assert sample(text, "ccb_cache_read_tokens_total") == 100
    assert sample(text, "ccb_output_tokens_total") == 10
    assert sample(text, "ccb_request_duration_seconds_count") == 2
    assert sample(text, "ccb_request_duration_seconds_bucket", 'le="+Inf"') == 2
    assert sample(text, "ccb_request_duration_seconds_sum") > 0
    # Only the streamed answer has a time to first token.
    assert sample(text, "ccb_time_to_first_token_seconds_count") == 1
    assert sample(text, "ccb_engine_up") == 1
    assert sample(text, "ccb_requests_in_flight") == 1  # the scrape itself
    assert 'ccb_engine_info{dialect="vllm",model="fake-model",context_window=' in text
    # Buckets are cumulative and never decrease.
    buckets = [float(v) for v in re.findall(r'ccb_request_duration_seconds_bucket\{le="[^"]+"\} (\S+)', text)]
    assert buckets == sorted(buckets) and buckets[-1] == 2


async def test_metrics_count_errors_by_type(rig: Rig) -> None:
    client = rig.client()
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.create(model="m", max_tokens=5, messages=[{"role": "robot", "content": "hi"}])
    rig.engine.push(Raw(status=429, body=b'{"error": {"message": "slow down"}}'))
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    bad = anthropic.AsyncAnthropic(base_url=rig.bridge.url, api_key="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        await bad.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    await bad.close()
    _, _, text = await scrape(rig)
    assert sample(text, "ccb_errors_total", 'type="invalid_request_error"') == 1
    assert sample(text, "ccb_errors_total", 'type="rate_limit_error"') == 1
    assert sample(text, "ccb_errors_total", 'type="authentication_error"') == 1
    assert sample(text, "ccb_errors_total", 'type="api_error"') == 0


async def test_stream_error_events_are_counted(rig: Rig) -> None:
    body = (
        b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"par"}}]}\n\n'
        b'data: {"error": {"message": "engine fell over", "code": 500}}\n\n'
    )
    rig.engine.push(Raw(status=200, body=body, headers={"Content-Type": "text/event-stream"}))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            rig.bridge.url + "/v1/messages",
            headers={"x-api-key": TOKEN},
            json={"model": "m", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        ) as resp,
    ):
        assert resp.status == 200
        assert b"event: error" in await resp.read()
    _, _, text = await scrape(rig)
    assert sample(text, "ccb_errors_total", 'type="api_error"') == 1
    assert sample(text, "ccb_time_to_first_token_seconds_count") == 1


async def test_unreachable_engine_shows_as_down(rig_factory: RigFactory) -> None:
    rig = await rig_factory("vllm", upstream="http://127.0.0.1:9/v1")
    with pytest.raises(anthropic.APIStatusError):
        await rig.client().messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    _, _, text = await scrape(rig)
    assert sample(text, "ccb_engine_up") == 0
    assert sample(text, "ccb_engine_failures_total") == 1
    assert sample(text, "ccb_errors_total", 'type="api_error"') == 1


def test_workers_figures_add_up(tmp_path) -> None:
    one, two = Metrics(tmp_path, 0), Metrics(tmp_path, 1)
    one.started()
    one.finished("/v1/messages", 200, 0.2, {"usage": {"input_tokens": 5, "output_tokens": 2}})
    two.started()
    two.finished("/v1/messages", 529, 3.0, {})
    two.engine(False)
    one.engine(True)  # later than two's failure: the engine is up
    for reader in (one, two):
        total = reader.totals()
        assert total[LAYOUT.requests] == 2
        assert total[LAYOUT.in_flight] == 0
        assert total[LAYOUT.input_tokens] == 5
        assert total[LAYOUT.latency + len(LATENCY_BUCKETS) + 2] == 2
        assert b"ccb_engine_up 1" in reader.render(model="m", engine="vllm", window=None)
        assert b'ccb_errors_total{type="overloaded_error"} 1' in reader.render(model="m", engine="vllm", window=None)
    # A restarted worker counts on from its file.
    one.close()
    again = Metrics(tmp_path, 0)
    assert again.totals()[LAYOUT.requests] == 2
    assert oct((tmp_path / "worker-0.metrics").stat().st_mode & 0o777) == "0o600"
    again.close()
    two.close()
