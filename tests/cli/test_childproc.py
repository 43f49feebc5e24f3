"""ccb's own Python children: `-P` keeps the current folder off sys.path; they run in a private folder."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from ccb.cli.childproc import python_module_argv, safe_cwd


def test_argv_runs_this_interpreter_with_the_current_folder_off_the_path(tmp_path: Path) -> None:
    argv = python_module_argv("ccb.proxy", "serve", "--port", "0")
    assert argv == [sys.executable, "-P", "-m", "ccb.proxy", "serve", "--port", "0"]
    (tmp_path / "json.py").write_text("raise SystemExit('the current folder ran')\n")
    probe = python_module_argv("json.tool", "--help")
    done = subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "the current folder ran" not in done.stderr


def test_safe_cwd_is_private(isolated_home: Path) -> None:
    folder = safe_cwd()
    assert folder.is_dir() and isolated_home in folder.parents
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
