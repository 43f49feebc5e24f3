"""Regenerate the shell completion scripts in this folder: `python completions/generate.py`.

`--check` exits 1 (naming the stale files) instead of writing; the test suite runs it. The scripts call
back into `ccb` at completion time, so profile and preset names complete from the user's own files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from ccb.cli.app import app

HERE = Path(__file__).resolve().parent
SHELLS = {"bash": "ccb.bash", "zsh": "ccb.zsh", "fish": "ccb.fish", "powershell": "ccb.ps1"}


def render(shell: str) -> str:
    # The same instruction the shell scripts themselves use, asking for the script instead of completions.
    result = CliRunner().invoke(app, [], prog_name="ccb", env={"_CCB_COMPLETE": f"source_{shell}"})
    if result.exit_code != 0:
        raise SystemExit(f"could not render the {shell} completion: {result.output}")
    return result.stdout.rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for shell, name in SHELLS.items():
        text = render(shell)
        path = HERE / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale completion scripts: {', '.join(stale)}; run: python completions/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
