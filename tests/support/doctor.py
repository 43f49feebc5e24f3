"""Shared set-up for the `ccb doctor` tests: a fake `claude`, a clean environment, and result helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ccb.cli.app import app
from ccb.cli.profile_store import Profile, add_profile, profile_from_preset, set_active
from tests.fakes import fake_claude

SECRET = "sk-test-PLANTED-SECRET-9f8e"


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop whatever Claude Code variables the machine running the tests happens to export."""
    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "CLAUDE_CODE_")) or name in (
            "API_TIMEOUT_MS",
            "NO_PROXY",
            "no_proxy",
        ):
            monkeypatch.delenv(name, raising=False)


def install_fake_claude(bin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    claude = fake_claude.install(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return claude


def onboard(home: Path, **extra: Any) -> None:
    (home / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True, **extra}))


def user_settings(home: Path, data: Any) -> Path:
    path = home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def add(name: str, preset: str, *, activate: bool = True, **options: Any) -> Profile:
    profile = profile_from_preset(name, preset, **options)
    add_profile(profile)
    if activate:
        set_active(name)
    return profile


def doctor(*args: str) -> Result:
    return CliRunner().invoke(app, ["doctor", *args])


def doctor_json(*args: str, code: int | None = None) -> dict[str, Any]:
    result = doctor("--json", *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if code is not None:
        assert result.exit_code == code, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["checks"]}
