"""Engine error envelopes → Anthropic errors, table-driven with the engines' documented texts."""

from __future__ import annotations

import json

import pytest

from ccb.proxy.translate.errors import map_upstream

VLLM_OVERFLOW = json.dumps(
    {
        "error": {
            "message": "This model's maximum context length is 8192 tokens. However, you requested 32000 output tokens and "
            "your prompt contains at least 9001 input tokens, for a total of at least 41001 tokens. Please reduce "
            "the length of the input prompt or the number of requested output tokens. (parameter=input_tokens, "
            "value=9001)",
            "type": "BadRequestError",
            "param": "input_tokens",
            "code": 400,
        }
    }
)
VLLM_MAX_TOKENS = json.dumps(
    {
        "error": {
            "message": "This model's maximum context length is 8192 tokens. However, you requested 32000 output tokens and "
            "your prompt contains at least 5000 input tokens, for a total of at least 37000 tokens.",
            "type": "BadRequestError",
            "param": "input_tokens",
            "code": 400,
        }
    }
)
VLLM_OLD = json.dumps(
    {
        "object": "error",
        "message": "This model's maximum context length is 4096 tokens. However, "
        "you requested 5000 tokens (4500 in the messages, 500 in the completion). Please reduce the "
        "length of the messages or completion.",
        "type": "BadRequestError",
        "code": 400,
    }
)
SGLANG_OVERFLOW = json.dumps(
    {
        "object": "error",
        "message": "The input (70000 tokens) is longer than the model's context length (32768 tokens).",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
)
LLAMA_OVERFLOW = json.dumps(
    {
        "error": {
            "code": 400,
            "message": "request (12345 tokens) exceeds the available context size (8192 tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 12345,
            "n_ctx": 8192,
        }
    }
)
LMSTUDIO_OVERFLOW = json.dumps(
    {
        "error": "The number of tokens to keep from the initial prompt is greater than the "
        "context length (n_keep: 9000>= n_ctx: 4096). Try to load the model with a larger "
        "context length, or provide a shorter input."
    }
)
OLLAMA_OVERFLOW = json.dumps({"error": {"message": "the input length exceeds the context length", "type": "api_error"}})

CASES = [
    # (status, body, expected status, expected type, message fragment)
    (400, VLLM_OVERFLOW, 400, "invalid_request_error", "prompt is too long: 9001 tokens > 8192 maximum"),
    (400, VLLM_OLD, 400, "invalid_request_error", "prompt is too long: 4500 tokens > 4096 maximum"),
    (400, SGLANG_OVERFLOW, 400, "invalid_request_error", "prompt is too long: 70000 tokens > 32768 maximum"),
    (400, LLAMA_OVERFLOW, 400, "invalid_request_error", "prompt is too long: 12345 tokens > 8192 maximum"),
    (400, LMSTUDIO_OVERFLOW, 400, "invalid_request_error", "prompt is too long: 9000 tokens > 4096 maximum"),
    (400, OLLAMA_OVERFLOW, 400, "invalid_request_error", "prompt is too long"),
    (400, '{"error":{"message":"bad field","type":"BadRequestError"}}', 400, "invalid_request_error", "bad field"),
    (401, '{"error":{"message":"Invalid API key","code":401}}', 401, "authentication_error", "Invalid API key"),
    (403, '{"error":"forbidden"}', 403, "permission_error", "forbidden"),
    (
        404,
        '{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","code":404}}',
        404,
        "not_found_error",
        "does not exist",
    ),
    (413, "payload too large", 413, "request_too_large", "payload too large"),
    (
        422,
        '{"detail":[{"loc":["body","messages"],"msg":"field required"}]}',
        400,
        "invalid_request_error",
        "field required",
    ),
    (
        429,
        '{"error":{"message":"Rate limit reached","type":"rate_limit_exceeded"}}',
        429,
        "rate_limit_error",
        "Rate limit",
    ),
    (500, '{"error":{"code":500,"message":"boom","type":"server_error"}}', 500, "api_error", "boom"),
    (
        500,
        '{"error":{"code":500,"message":"tools param requires --jinja flag","type":"server_error"}}',
        400,
        "invalid_request_error",
        "--jinja",
    ),
    (
        400,
        (
            '{"error":{"message":"\\"auto\\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to '
            'be set","type":"BadRequestError"}}'
        ),
        400,
        "invalid_request_error",
        "--enable-auto-tool-choice",
    ),
    (
        503,
        '{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}',
        529,
        "overloaded_error",
        "Loading model",
    ),
    (502, "<html>Bad Gateway</html>", 502, "api_error", "Bad Gateway"),
    (500, "", 500, "api_error", "(no body)"),
]


@pytest.mark.parametrize(("status", "body", "want_status", "want_type", "fragment"), CASES)
def test_mapping(status: int, body: str, want_status: int, want_type: str, fragment: str) -> None:
    mapped = map_upstream(status, body.encode())
    assert mapped.status == want_status
    assert mapped.body["type"] == "error"
    assert mapped.body["error"]["type"] == want_type
    assert fragment in mapped.body["error"]["message"]


def test_prompt_fits_but_max_tokens_does_not_is_retryable() -> None:
    overflow = map_upstream(400, VLLM_MAX_TOKENS.encode()).overflow
    assert overflow is not None and overflow.completion and (overflow.prompt, overflow.limit) == (5000, 8192)


def test_prompt_alone_too_long_is_not_retryable() -> None:
    overflow = map_upstream(400, VLLM_OVERFLOW.encode()).overflow
    assert overflow is not None and not overflow.completion
