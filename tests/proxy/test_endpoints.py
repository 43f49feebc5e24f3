"""GET /v1/models/{id} and request ids, through the official SDK (and raw HTTP where the SDK hides them)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
import anthropic
import pytest

from ccb.proxy.config import ModelMap
from tests.fakes.openai_engine import Answer, Raw
from tests.proxy.conftest import TOKEN, Rig, RigFactory
from tests.support import sse

HI: Any = [{"role": "user", "content": "hi"}]
RID = re.compile(r"^req_[0-9a-f]{24}$")


@pytest.fixture
async def tiered(rig_factory: RigFactory) -> Rig:
    return await rig_factory(
        "vllm",
        models=ModelMap(default="qwen3-coder", opus="glm-4.6", haiku="qwen3-4b", exact={"my-alias": "qwen3-coder"}),
    )


@pytest.mark.parametrize(
    ("model_id", "display"),
    [
        ("qwen3-coder", "qwen3-coder"),
        ("glm-4.6", "glm-4.6"),
        ("my-alias", "my-alias (served by qwen3-coder)"),
        ("claude-opus-4-8", "claude-opus-4-8 (served by glm-4.6)"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001 (served by qwen3-4b)"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5 (served by qwen3-coder)"),
    ],
)
async def test_retrieve_a_served_model(tiered: Rig, model_id: str, display: str) -> None:
    model = await tiered.client().models.retrieve(model_id)
    assert model.type == "model" and model.id == model_id and model.display_name == display
    assert model.created_at.year == 1970


@pytest.mark.parametrize("model_id", ["gpt-4o", "llama3", "nothing-here"])
async def test_retrieve_an_unknown_model_is_an_anthropic_404(tiered: Rig, model_id: str) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        await tiered.client().models.retrieve(model_id)
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"] == {"type": "not_found_error", "message": f"model: {model_id}"}
    assert RID.match(body["request_id"]) and info.value.request_id == body["request_id"]


async def test_every_answer_carries_a_request_id(rig: Rig) -> None:
    client = rig.client()
    message = await client.messages.create(model="m", max_tokens=10, messages=HI)
    ids = [message._request_id]
    async with client.messages.stream(model="m", max_tokens=10, messages=HI) as stream:
        await stream.get_final_message()
        ids.append(stream.response.headers["request-id"])
    count = await client.messages.count_tokens(model="m", messages=HI)
    ids.append(count._request_id)
    page = await client.models.list()
    ids.append(page._request_id if hasattr(page, "_request_id") else None)  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as session:
        for method, path, headers in [
            ("GET", "/", {}),
            ("HEAD", "/", {}),
            ("GET", "/health", {}),
            ("GET", "/v1/models", {"x-api-key": "wrong"}),
            ("GET", "/nowhere", {"x-api-key": TOKEN}),
        ]:
            async with session.request(method, rig.bridge.url + path, headers=headers) as resp:
                ids.append(resp.headers.get("request-id"))
                if resp.status >= 400:
                    assert (await resp.json())["request_id"] == resp.headers["request-id"]
    real = [i for i in ids if i is not None]
    assert len(real) >= 9 and all(RID.match(i) for i in real), ids
    assert len(set(real)) == len(real)


async def test_validation_and_engine_errors_name_the_same_id_as_the_header(rig: Rig) -> None:
    client = rig.client()
    with pytest.raises(anthropic.BadRequestError) as info:
        await client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": 5}])  # type: ignore[typeddict-item]
    assert RID.match(info.value.request_id or "") and info.value.body["request_id"] == info.value.request_id  # type: ignore[index]
    rig.engine.push(
        Raw(
            500,
            json.dumps({"error": {"message": "engine exploded", "code": 500}}).encode(),
            {"Content-Type": "application/json"},
        )
    )
    with pytest.raises(anthropic.InternalServerError) as failed:
        await client.messages.create(model="m", max_tokens=10, messages=HI)
    assert RID.match(failed.value.request_id or "") and failed.value.body["request_id"] == failed.value.request_id  # type: ignore[index]


async def test_a_failure_mid_stream_names_the_request(rig: Rig) -> None:
    error = {"error": {"message": "worker died", "code": 500}}
    rig.engine.push(
        Raw(
            200,
            [
                b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n',
                b"data: " + json.dumps(error).encode() + b"\n\n",
            ],
            {"Content-Type": "text/event-stream"},
        )
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            rig.bridge.url + "/v1/messages",
            headers={"x-api-key": TOKEN},
            json={"model": "m", "max_tokens": 10, "messages": HI, "stream": True},
        ) as resp,
    ):
        raw = await resp.read()
        rid = resp.headers["request-id"]
    name, error = sse.events(raw)[-1]
    assert name == "error" and error["request_id"] == rid


async def test_the_log_line_of_a_request_names_its_id(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ccb.bridge")
    rig.engine.push(Answer(text="ok"))
    message = await rig.client().messages.create(model="m", max_tokens=10, messages=HI)
    lines = [r.getMessage() for r in caplog.records if r.name == "ccb.bridge"]
    assert any(
        line.startswith("POST /v1/messages 200 ") and line.endswith(message._request_id or "-") for line in lines
    ), lines
    # One line per request, with what the engine's answer used.
    requests = [line for line in lines if "/v1/messages" in line or "stop=" in line]
    assert len(requests) == 1, lines
    usage = message.usage
    assert f" stop=stop tokens in={usage.input_tokens} cached=0 out={usage.output_tokens} req_" in requests[0]
