"""Each engine family's facts: found by kind, a generic server's for anything else, every remedy usable."""

from __future__ import annotations

import pytest

from ccb.cli.engines.facts import GENERIC
from ccb.cli.engines.families import FAMILIES, facts_for


def test_facts_are_found_by_kind_and_other_kinds_get_the_generic_ones() -> None:
    assert list(FAMILIES) == ["ollama", "lmstudio", "vllm", "sglang", "llamacpp"]  # the probe's port order
    for kind, facts in FAMILIES.items():
        assert facts_for(kind) is facts and facts is not GENERIC
    assert facts_for("tgi") is GENERIC and facts_for(None) is GENERIC and facts_for("") is GENERIC
    assert GENERIC.direct_ok is False  # an unknown server's native endpoint is never trusted


@pytest.mark.parametrize("kind", [*FAMILIES, None])
def test_every_remedy_is_one_clause_and_the_window_advice_names_the_window(kind: str | None) -> None:
    facts = facts_for(kind)
    for text in (facts.start, facts.window_fix, facts.tools_fix):
        assert text and text == text.strip() and "\n" not in text and not text.endswith(".")
    assert "65536" in facts.window_fix.format(n=65536) and "{n}" not in facts.start.format(n=65536)
