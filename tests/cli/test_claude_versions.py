"""Claude Code versions in `ccb doctor`: the tested range, and each release's known problems with remedies."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ccb.cli.claude_bin import NEWEST_TESTED, OLDEST_TESTED
from ccb.cli.claude_versions import ISSUES, issues_for, parse_version, range_position
from ccb.cli.doctor.claude import issue_checks, version_check
from tests.fakes import fake_claude
from tests.support.doctor import by_id, clean_env, doctor_json, onboard, user_settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.1.332", (2, 1, 332)),
        ("2.1.332 (Claude Code)", (2, 1, 332)),
        ("2.10.3-beta.1", (2, 10, 3)),
        ("weird build", None),
        ("", None),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    ("version", "position", "status"),
    [
        (OLDEST_TESTED, "inside", "ok"),
        (NEWEST_TESTED, "inside", "ok"),
        ("2.1.250", "inside", "ok"),
        ("2.1.196", "older", "warn"),
        ("1.9.999", "older", "warn"),
        ("2.1.333", "newer", "warn"),
        ("2.2.0", "newer", "warn"),
        ("3.0.0", "newer", "warn"),
        ("nightly", "unknown", "warn"),
    ],
)
def test_tested_range(version: str, position: str, status: str) -> None:
    assert range_position(version) == position
    check = version_check(version)
    assert check.id == "claude.version" and check.status == status
    if status == "warn":
        assert f"@anthropic-ai/claude-code@{NEWEST_TESTED}" in (check.fix or "")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.1.197", set()),
        ("2.1.303", set()),
        ("2.1.304", {"tool_search"}),
        ("2.1.322", {"tool_search"}),
        ("2.1.323", {"tool_search", "window_1m"}),
        ("2.1.327", {"tool_search", "window_1m", "output_128k"}),
        ("2.1.332", {issue.id for issue in ISSUES}),
        ("2.1.400", {issue.id for issue in ISSUES}),
    ],
)
def test_known_issues_by_release(version: str, expected: set[str]) -> None:
    assert {issue.id for issue in issues_for(version)} == expected


def test_issues_warn_only_for_a_set_up_they_hurt() -> None:
    handled = {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8765",
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "65536",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "16384",
        "CLAUDE_CODE_SUBAGENT_MODEL": "s",
        "CLAUDE_CODE_SUBAGENT_MODEL_FORCE": "1",
    }
    assert {c.status for c in issue_checks("2.1.332", handled)} == {"ok"}
    hurt = {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8765",
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW": "65536",
        "CLAUDE_CODE_SUBAGENT_MODEL": "s",
    }
    warned = {c.id: c for c in issue_checks("2.1.332", hurt) if c.status == "warn"}
    assert set(warned) == {
        "claude.issue.window_1m",
        "claude.issue.output_128k",
        "claude.issue.subagent_model",
        "claude.issue.auto_compact_min",
    }
    assert all(c.fix for c in warned.values())
    assert warned["claude.issue.auto_compact_min"].finding.startswith("2.1.332+: CLAUDE_CODE_AUTO_COMPACT_WINDOW below")
    # 2.1.197 has none of these problems, whatever the set-up.
    assert issue_checks("2.1.197", hurt) == []


def _fake_claude(folder: Path, version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    claude = fake_claude.install(folder, version=f"{version} (Claude Code)")
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    assert subprocess.run([str(claude), "--version"], capture_output=True, text=True, check=True).stdout.startswith(
        version
    )


def test_doctor_reports_the_version_and_its_problems(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    onboard(isolated_home)
    _fake_claude(tmp_path / "bin", "2.1.332", monkeypatch)
    user_settings(
        isolated_home,
        {"env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8765", "CLAUDE_CODE_AUTO_COMPACT_WINDOW": "65536"}},
    )
    checks = by_id(doctor_json())
    assert checks["claude.version"]["status"] == "ok"
    assert "2.1.332, inside the range ccb is tested with (2.1.197 to 2.1.332)" in checks["claude.version"]["finding"]
    compact = checks["claude.issue.auto_compact_min"]
    assert compact["status"] == "warn" and "CLAUDE_CODE_MAX_CONTEXT_TOKENS" in compact["fix"]
    assert checks["claude.issue.window_1m"]["status"] == "warn"
    assert checks["claude.issue.trust_default_no"]["status"] == "ok"
    assert "Yes, I trust this folder" in checks["claude.issue.trust_default_no"]["finding"]


def test_doctor_on_a_release_newer_than_tested(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    onboard(isolated_home)
    _fake_claude(tmp_path / "bin", "2.1.400", monkeypatch)
    check = by_id(doctor_json())["claude.version"]
    assert check["status"] == "warn" and "newer than the releases ccb is tested with" in check["finding"]
