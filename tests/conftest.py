"""Shared test set-up: every test runs with HOME and CCB_HOME in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CCB_HOME", str(home / ".ccb"))
    for var in ("CLAUDE_CONFIG_DIR", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # `systemctl --user` (ccb's login service) must never reach the real user manager from a test: with the
    # bus and runtime folder in the temporary home it finds none, as on a machine without systemd --user.
    runtime = home / ".run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    for var in ("DBUS_SESSION_BUS_ADDRESS", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    yield home


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `claude` run once per Claude Code version under test (tests/support/claude.py)."""
    if metafunc.definition.get_closest_marker("claude") is None:
        return
    from tests.support.claude import claude_versions

    if "claude_version" not in metafunc.fixturenames:
        metafunc.fixturenames.append("claude_version")
    metafunc.parametrize("claude_version", claude_versions(), indirect=True)


@pytest.fixture
def claude_version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Claude Code version this test drives; `claude_path()` follows it."""
    version: str = getattr(request, "param", None) or ""
    if version:
        monkeypatch.setenv("CCB_TEST_CLAUDE_VERSION", version)
    return version
