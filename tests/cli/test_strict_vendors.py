"""Presets of vendors whose Anthropic endpoint rejects what newer Claude Code sends work through `ccb launch`:
the real Claude Code against a fake vendor that rejects exactly that (tests/fakes/strict_vendor.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.openai_engine import Answer
from tests.fakes.strict_vendor import StrictVendor
from tests.support.claude import launch_env
from tests.support.cli import add_anthropic_profile
from tests.support.processes import run_ccb
from tests.support.servers import serving

pytestmark = pytest.mark.claude

KEY = "sk-vendor-abcdef123456"


async def launch(tmp_path: Path, preset: str) -> tuple[StrictVendor, int, str, str]:
    vendor = StrictVendor(key=KEY)
    vendor.default = Answer(text="Hello from the vendor.")
    async with serving(vendor.app) as url:
        add_anthropic_profile("v", url, api_key_env="VENDOR_KEY", model="vendor-model", preset=preset)
        code, out, err = await run_ccb(
            "launch",
            "v",
            "--",
            "-p",
            "say hello",
            "--max-turns",
            "2",
            env=launch_env(VENDOR_KEY=KEY),
            cwd=tmp_path,
            timeout=180,
        )
    return vendor, code, out, err


@pytest.mark.parametrize("preset", ["kimi", "kimi-for-coding", "zai", "glm"])
async def test_strict_vendor_presets_work_without_a_rejected_request(tmp_path: Path, preset: str) -> None:
    vendor, code, out, err = await launch(tmp_path, preset)
    assert code == 0, err
    assert out.strip() == "Hello from the vendor."
    assert vendor.rejected == []
    assert vendor.requests and all("defer_loading" not in str(r.get("tools")) for r in vendor.requests)


async def test_without_the_switch_the_vendor_rejects_claude_codes_requests(tmp_path: Path) -> None:
    """The control: a plain custom Anthropic profile sends what these vendors reject."""
    vendor, _, _, _ = await launch(tmp_path, "custom")
    assert vendor.rejected, "the fake vendor accepted everything: it no longer checks what the vendors reject"
