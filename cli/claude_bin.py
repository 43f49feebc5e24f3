"""Finding, identifying and installing the Claude Code CLI (`claude`). Does I/O (filesystem, subprocesses).

Lookup order: an explicit path or name, then `PATH`, then the native installer's `~/.local/bin/claude`,
then the legacy `~/.claude/local/claude`, then the copy `ccb launch --yes` installed under ccb's data folder
(`npm install --prefix`, so neither root nor npm's global bin on `PATH` is needed). Every subprocess is started from an argument list, never a shell.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from ccb.cli import paths
from ccb.cli.errors import CcbError

NPM_PACKAGE = "@anthropic-ai/claude-code"
# The Claude Code releases ccb is tested with: the oldest it supports and the newest (tests/run.sh installs both).
OLDEST_TESTED = "2.1.197"
NEWEST_TESTED = "2.1.332"
NPM_INSTALL_COMMAND = f"npm install -g {NPM_PACKAGE}"
NATIVE_INSTALL_COMMAND = "curl -fsSL https://claude.ai/install.sh | bash"
VERSION_TIMEOUT_S = 15.0
# A cold npm install downloads a ~235 MB platform binary; give slow links time before calling it hung.
NPM_TIMEOUT_S = 900.0
_VERSION_RE = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.\-]+)?")


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _fallback_locations() -> list[Path]:
    # Both live under the real home, not CLAUDE_CONFIG_DIR: that variable moves settings, not installs.
    home = Path.home()
    return [home / ".local" / "bin" / "claude", home / ".claude" / "local" / "claude", managed_claude()]


def managed_claude() -> Path:
    """The `claude` that ccb's own pinned install puts under its data folder."""
    return paths.claude_install_dir() / "node_modules" / ".bin" / "claude"


def managed_install_argv(npm: str = "npm") -> list[str]:
    """The npm command ccb runs to install Claude Code: the newest tested release, under ccb's data folder."""
    return [
        npm,
        "install",
        "--prefix",
        str(paths.claude_install_dir()),
        "--no-fund",
        "--no-audit",
        "--no-update-notifier",
        f"{NPM_PACKAGE}@{NEWEST_TESTED}",
    ]


def find_claude(explicit: str | None = None) -> Path | None:
    """The `claude` executable to run, or None.

    An explicit value (a `--claude` option or config) is final: a path is used only if it is executable, a
    bare name is looked up on `PATH`, and a miss returns None instead of silently running another copy.
    """
    if explicit:
        candidate = Path(explicit).expanduser()
        if os.sep in explicit or (os.altsep and os.altsep in explicit):
            return candidate.absolute() if _is_executable(candidate) else None
        found = shutil.which(explicit)
        return Path(found).absolute() if found else None
    found = shutil.which("claude")
    if found:
        return Path(found).absolute()
    for candidate in _fallback_locations():
        if _is_executable(candidate):
            return candidate
    return None


def claude_version(path: Path) -> str | None:
    """The version `claude --version` reports (e.g. "2.1.197"), or None if it does not answer sanely."""
    try:
        proc = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    first_line = next((line.strip() for line in proc.stdout.splitlines() if line.strip()), "")
    match = _VERSION_RE.search(first_line)
    if match:
        return match.group(0)
    return first_line or None


def install_hint() -> str:
    """How a user gets Claude Code: one line, then the commands (npm first)."""
    return (
        "Claude Code (`claude`) is not installed. Rerun with --yes to let ccb install Claude Code "
        f"{NEWEST_TESTED} into {paths.claude_install_dir()}, or install it yourself with one of:\n"
        f"  {NPM_INSTALL_COMMAND}@{NEWEST_TESTED}\n"
        f"  {NATIVE_INSTALL_COMMAND}\n"
        "then open a new shell, or give its path with `ccb launch --claude PATH`."
    )


def install_managed() -> Path:
    """Install the newest tested Claude Code under ccb's data folder; the path of its `claude`."""
    return install_with_npm(paths.claude_install_dir(), version=NEWEST_TESTED)


def _tail(text: str, lines: int = 8) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept)


def _run_npm(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CcbError(f"`{' '.join(argv[1:])}` did not finish within {NPM_TIMEOUT_S:.0f} s") from exc
    except OSError as exc:
        raise CcbError(f"could not run npm ({argv[0]}): {exc.strerror or exc}") from exc


def install_with_npm(prefix: Path | None = None, *, version: str | None = None) -> Path:
    """Install Claude Code with npm and return the path of the installed `claude`.

    With `prefix` the package goes into `prefix/node_modules` (no root needed, used by tests); without it
    into npm's global prefix. `version` pins a release (e.g. "2.1.197").
    """
    npm = shutil.which("npm")
    if npm is None:
        raise CcbError(
            "npm was not found on PATH, so ccb cannot install Claude Code with it; install Node.js "
            f"(which ships npm), or use the native installer: {NATIVE_INSTALL_COMMAND}"
        )
    spec = f"{NPM_PACKAGE}@{version}" if version else NPM_PACKAGE
    if prefix is not None:
        prefix.mkdir(parents=True, exist_ok=True)
        argv = [npm, "install", "--prefix", str(prefix), "--no-fund", "--no-audit", "--no-update-notifier", spec]
    else:
        argv = [npm, "install", "-g", spec]
    proc = _run_npm(argv)
    if proc.returncode != 0:
        detail = _tail(proc.stderr) or _tail(proc.stdout) or f"exit code {proc.returncode}"
        raise CcbError(f"`npm {' '.join(argv[1:])}` failed:\n{detail}")

    if prefix is not None:
        installed = prefix / "node_modules" / ".bin" / "claude"
    else:
        where = _run_npm([npm, "prefix", "-g"])
        global_prefix = where.stdout.strip() if where.returncode == 0 else ""
        if not global_prefix:
            raise CcbError("npm installed Claude Code but did not say where (`npm prefix -g` failed)")
        installed = Path(global_prefix) / ("claude.cmd" if os.name == "nt" else "bin/claude")
    if not _is_executable(installed):
        raise CcbError(f"npm reported success, but {installed} is missing or not executable")
    return installed
