"""Finding and identifying `claude` with fake executables; npm install errors without npm. No network."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ccb.cli import claude_bin
from ccb.cli.errors import CcbError
from tests.fakes import fake_claude


def _fake_claude(path: Path, version_line: str = "2.1.197 (Claude Code)", code: int = 0) -> Path:
    return fake_claude.install(path.parent, name=path.name, version=version_line, version_exit=code)


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_lookup_order(tmp_path: Path, isolated_home: Path, empty_path: Path) -> None:
    legacy = _fake_claude(isolated_home / ".claude" / "local" / "claude")
    assert claude_bin.find_claude() == legacy

    native = _fake_claude(isolated_home / ".local" / "bin" / "claude")
    assert claude_bin.find_claude() == native

    on_path = _fake_claude(empty_path / "claude")
    assert claude_bin.find_claude() == on_path

    explicit = _fake_claude(tmp_path / "elsewhere" / "my-claude")
    assert claude_bin.find_claude(str(explicit)) == explicit


def test_explicit_choice_is_final(tmp_path: Path, empty_path: Path) -> None:
    _fake_claude(empty_path / "claude")
    assert claude_bin.find_claude(str(tmp_path / "missing" / "claude")) is None
    assert claude_bin.find_claude("not-on-path") is None
    named = _fake_claude(empty_path / "claude-beta")
    assert claude_bin.find_claude("claude-beta") == named


def test_non_executable_files_are_skipped(isolated_home: Path, empty_path: Path) -> None:
    (empty_path / "claude").write_text("not executable", encoding="utf-8")
    native = isolated_home / ".local" / "bin" / "claude"
    native.parent.mkdir(parents=True)
    native.write_text("#!/bin/sh\n", encoding="utf-8")
    native.chmod(0o644)
    assert claude_bin.find_claude() is None
    legacy = _fake_claude(isolated_home / ".claude" / "local" / "claude")
    assert claude_bin.find_claude() == legacy


def test_claude_version(tmp_path: Path) -> None:
    assert claude_bin.claude_version(_fake_claude(tmp_path / "a")) == "2.1.197"
    assert claude_bin.claude_version(_fake_claude(tmp_path / "b", "weird build")) == "weird build"
    assert claude_bin.claude_version(_fake_claude(tmp_path / "c", code=1)) is None
    assert claude_bin.claude_version(tmp_path / "missing") is None


def test_install_hint_names_both_installers() -> None:
    hint = claude_bin.install_hint()
    assert "npm install -g @anthropic-ai/claude-code" in hint
    assert "curl -fsSL https://claude.ai/install.sh | bash" in hint


def test_install_with_npm_without_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(CcbError, match="npm was not found"):
        claude_bin.install_with_npm(tmp_path / "tools")


def test_install_with_npm_reports_npm_failure(tmp_path: Path, empty_path: Path) -> None:
    npm = empty_path / "npm"
    npm.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stderr.write('npm ERR! code E404\\n')\nsys.exit(1)\n",
        encoding="utf-8",
    )
    npm.chmod(0o755)
    with pytest.raises(CcbError, match="E404"):
        claude_bin.install_with_npm(tmp_path / "tools", version="0.0.0-nope")
