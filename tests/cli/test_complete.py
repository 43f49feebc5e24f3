"""Shell completion's names: profiles and presets by prefix; a broken profiles file completes nothing."""

from __future__ import annotations

import pytest

from ccb.cli import paths
from ccb.cli.complete import preset_names, profile_names
from ccb.profiles import load_presets
from tests.support.cli import ccb


def test_profile_names_by_prefix() -> None:
    assert profile_names("") == []
    for name in ("kimi-work", "kimi-home", "glm"):
        ccb("profile", "add", name, "--preset", "kimi")
    assert profile_names("kimi") == ["kimi-home", "kimi-work"]
    assert profile_names("") == ["glm", "kimi-home", "kimi-work"]
    assert profile_names("nope") == []


def test_a_broken_profiles_file_completes_nothing_and_raises_nothing() -> None:
    ccb("profile", "add", "kimi", "--preset", "kimi")
    paths.profiles_file().write_text("{ not json")
    assert profile_names("") == []


@pytest.mark.parametrize("prefix", ["", "k", "vl"])
def test_preset_names_by_prefix(prefix: str) -> None:
    expected = sorted(name for name in load_presets() if name.startswith(prefix))
    assert preset_names(prefix) == expected and expected
