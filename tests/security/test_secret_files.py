"""Files that hold secrets are never readable by others, not even for a moment, and leave nothing behind
(audit S4, S10-S16, S18; T2, T4, T7, T9, T10)."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccb.cli import claude_settings as cs
from ccb.cli import fileio, paths
from ccb.cli.errors import CcbError
from ccb.cli.logfile import setup_bridge_log
from ccb.cli.supervisor import _write_settings_file, launch_settings_dir
from ccb.proxy import logsetup
from tests.support.cli import ccb

KEY = "sk-secret-files-0123456789"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def settings(home: Path, data: object, file_mode: int = 0o644) -> Path:
    path = home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    path.chmod(file_mode)
    return path


def test_the_key_is_never_in_a_file_others_can_read(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = settings(isolated_home, {"env": {"MINE": "1"}})
    seen: list[tuple[str, int]] = []
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        seen.append((str(dst), mode(Path(src))))
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", replace)
    cs.apply_env({"ANTHROPIC_AUTH_TOKEN": KEY})
    assert (str(path), 0o600) in seen, seen  # the temporary file was private before the key went in
    assert all(m & 0o077 == 0 for _, m in seen), seen
    assert mode(path) == 0o600


def test_a_killed_write_leaves_no_copy_of_the_key_behind(isolated_home: Path) -> None:
    path = settings(isolated_home, {"env": {}})
    left = [
        path.parent / f".settings.json.{dead_pid()}.k3y9zq1x.tmp",  # this ccb's naming
        path.parent / ".settings.json.sl9c3w8u.tmp",  # an older ccb's: no pid, judged by age
        path.parent / f".settings.json.ccb-backup.{dead_pid()}.tmp",
    ]
    for leftover in left:
        leftover.write_text(json.dumps({"env": {"ANTHROPIC_AUTH_TOKEN": KEY}}))
    os.utime(left[1], (1, 1))
    alive = path.parent / f".settings.json.{os.getpid()}.abcdefgh.tmp"  # a write in progress is left alone
    alive.write_text("{}")
    cs.apply_env({"ANTHROPIC_AUTH_TOKEN": "tok-0123456789"})
    assert not any(p.exists() for p in left)
    assert alive.exists()


def test_ccb_folders_and_files_are_private_whatever_the_umask(isolated_home: Path, loose_umask: None) -> None:
    cs.apply_env({"ANTHROPIC_AUTH_TOKEN": KEY})
    logsetup.setup(paths.log_dir() / "bridge.log")
    logging.getLogger("ccb.bridge").info("one line")
    for folder in (isolated_home / ".ccb", paths.state_dir(), paths.log_dir(), isolated_home / ".claude"):
        assert mode(folder) == 0o700, folder
    for file in (
        isolated_home / ".claude" / "settings.json",
        paths.settings_record_file(),
        paths.log_dir() / "bridge.log",
    ):
        assert mode(file) == 0o600, file


def test_open_ccb_folders_are_closed_again(isolated_home: Path) -> None:
    for folder in paths.own_dirs():
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o777)
    cs.apply_env({"ANTHROPIC_AUTH_TOKEN": KEY})
    setup_bridge_log()
    ccb("profile", "add", "kimi", "--preset", "kimi", "--api-key", KEY)
    for folder in paths.own_dirs():
        assert mode(folder) == 0o700, folder


def test_launch_settings_file_is_private_and_a_killed_launch_leaves_none(isolated_home: Path) -> None:
    folder = launch_settings_dir()
    stale = folder / f"ccb-settings-{dead_pid()}-x1y2z3.json"
    stale.write_text(json.dumps({"env": {"ANTHROPIC_AUTH_TOKEN": KEY}}))
    written = _write_settings_file({"env": {"ANTHROPIC_AUTH_TOKEN": KEY}})
    try:
        assert written.parent == folder and mode(folder) == 0o700 and mode(written) == 0o600
        assert not stale.exists()
    finally:
        written.unlink()


def test_every_rotated_bridge_log_is_private(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
) -> None:
    monkeypatch.setattr(logsetup, "MAX_BYTES", 2000)
    log = paths.log_dir() / "bridge.log"
    logsetup.setup(log, log_bodies=True)
    logger = logging.getLogger("ccb.bridge")
    for n in range(200):
        logger.debug("upstream request: %s", "private code " * 10 + str(n))
    files = sorted(log.parent.glob("bridge.log*"))
    assert len(files) == 1 + logsetup.BACKUPS
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_a_symlink_in_place_of_a_log_is_not_followed(isolated_home: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    log_dir = fileio.ensure_dir(paths.log_dir())
    (log_dir / "bridge.log").symlink_to(victim)
    (log_dir / "ccb-error.log").symlink_to(victim)
    logsetup.setup(log_dir / "bridge.log")
    logging.getLogger("ccb.bridge").info("a line")
    from ccb.cli.app import _save_traceback

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        saved = _save_traceback()
    assert victim.read_text() == "precious\n" and mode(victim) == 0o644
    assert saved == str(log_dir / "ccb-error.log") and "boom" in Path(saved).read_text()
    assert not (log_dir / "bridge.log").is_symlink() and "a line" in (log_dir / "bridge.log").read_text()


def test_numbers_a_double_cannot_hold_survive_a_switch_and_restore(isolated_home: Path) -> None:
    text = '{"someToolSetting": 1e999, "tiny": -2E-400, "x": [1.5, 10], "env": {"A": "\\ud800b"}}'
    path = settings(isolated_home, {})
    path.write_text(text)
    cs.apply_env({"ANTHROPIC_AUTH_TOKEN": KEY})
    written = path.read_text()
    assert "Infinity" not in written and "1e999" in written and "-2E-400" in written
    assert "\\ud800b" in written  # a lone surrogate (JSON.parse takes it) stays an escape
    cs.restore()
    assert json.loads(path.read_text()) == json.loads(text) and "1e999" in path.read_text()


def test_infinity_and_nan_literals_are_refused(isolated_home: Path) -> None:
    path = settings(isolated_home, {})
    path.write_text('{"a": Infinity}')
    with pytest.raises(CcbError, match="not valid JSON"):
        cs.apply_env({"ANTHROPIC_AUTH_TOKEN": KEY})
    assert path.read_text() == '{"a": Infinity}'


def test_duplicate_keys_are_refused_not_silently_dropped(isolated_home: Path) -> None:
    path = settings(isolated_home, {})
    path.write_text('{"env": {"A": "first"}, "env": {"B": "second"}}')
    with pytest.raises(CcbError, match="'env' twice"):
        cs.apply_env({"ANTHROPIC_AUTH_TOKEN": KEY})
    assert "first" in path.read_text()


def test_a_read_only_settings_file_is_left_alone(isolated_home: Path) -> None:
    path = settings(isolated_home, {"env": {}}, file_mode=0o444)
    with pytest.raises(CcbError, match="read-only"):
        cs.apply_env({"ANTHROPIC_AUTH_TOKEN": KEY})
    assert json.loads(path.read_text()) == {"env": {}} and mode(path) == 0o444
    assert cs.owned_keys() == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_another_users_settings_file_is_left_alone(isolated_home: Path) -> None:
    path = settings(isolated_home, {"env": {}})
    os.chown(path, 65534, 65534)
    with pytest.raises(CcbError, match="another user"):
        cs.apply_env({"ANTHROPIC_AUTH_TOKEN": KEY})
    assert path.stat().st_uid == 65534 and KEY not in path.read_text()


def test_a_dangling_symlink_creates_no_folders(isolated_home: Path, tmp_path: Path) -> None:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    path.symlink_to(tmp_path / "elsewhere" / "new" / "settings.json")
    with pytest.raises(CcbError, match="symlink"):
        cs.apply_env({"ANTHROPIC_AUTH_TOKEN": KEY})
    assert not (tmp_path / "elsewhere").exists()


def test_the_background_bridge_log_is_bounded(isolated_home: Path) -> None:
    from ccb.cli import bridge_daemon

    log = paths.bridge_daemon_log_file()
    fileio.ensure_dir(log.parent)
    log.write_bytes(b"x" * (bridge_daemon.DAEMON_LOG_MAX + 1))
    bridge_daemon._rotate(log)
    assert not log.exists() and log.with_name(log.name + ".1").stat().st_size == bridge_daemon.DAEMON_LOG_MAX + 1


def test_a_flood_of_asyncio_errors_is_rate_limited_in_the_log(isolated_home: Path) -> None:
    log = paths.log_dir() / "bridge.log"
    logsetup.setup(log, echo=False)  # as in a background bridge, whose stderr is a plain file
    try:
        for _ in range(500):
            logging.getLogger("asyncio").error("socket.accept() out of system resource")
        lines = [ln for ln in log.read_text().splitlines() if "socket.accept()" in ln]
        assert 1 <= len(lines) <= 10, len(lines)
    finally:
        aio = logging.getLogger("asyncio")
        for handler in list(aio.handlers):
            aio.removeHandler(handler)
            handler.close()
        aio.propagate = True
