"""The bridge's JSON: fast path, and the standard library for what orjson refuses. No I/O."""

from __future__ import annotations

import json

import pytest

from ccb.proxy import jsonio


def test_ordinary_json_round_trips() -> None:
    value = {"model": "m", "messages": [{"role": "user", "content": "héllo ✓"}], "n": 1.5, "ok": None}
    assert jsonio.parse(json.dumps(value)) == (value, False)
    assert jsonio.loads(jsonio.dumps(value)) == value
    assert jsonio.dumps({"a": [1, 2], "b": None}) == b'{"a":[1,2],"b":null}'  # compact


def test_what_orjson_refuses_falls_back_to_the_standard_library() -> None:
    lone = '{"text": "\\ud800"}'
    assert jsonio.parse(lone) == ({"text": "\ud800"}, True)  # only this path can carry lone surrogates
    big = 2**70
    assert jsonio.loads(jsonio.dumps({"n": big})) == {"n": big}


def test_invalid_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        jsonio.loads(b"{not json")


def test_nesting_beyond_the_limit_is_too_deep() -> None:
    with pytest.raises(jsonio.TooDeep):
        jsonio.loads("[" * 100_000 + "]" * 100_000)
    assert jsonio.loads("[" * 100 + "]" * 100) is not None
