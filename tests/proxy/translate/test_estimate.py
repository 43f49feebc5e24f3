"""The token estimate gathered while translation walks a request. Pure."""

from __future__ import annotations

from ccb.proxy.translate.estimate import CHARS_PER_TOKEN, Estimate


def test_an_empty_request_still_costs_a_few_tokens() -> None:
    assert Estimate().tokens() == 8


def test_characters_and_fixed_costs_add_up() -> None:
    estimate = Estimate()
    estimate.text("x" * 360)
    estimate.chars(36)
    estimate.tokens_add(800)  # an image
    assert estimate.tokens() == int(396 / CHARS_PER_TOKEN) + 800 + 8 == 918
