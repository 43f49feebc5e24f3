"""How ccb starts Python processes of its own: only ccb and its dependencies are imported. No I/O.

`python -m` puts the current directory first on `sys.path`, so a `json.py` or a `ccb/` folder in a
cloned repository would run inside the bridge, with the engine key and the bridge token in reach.
`-P` keeps the current directory (and the script's) off `sys.path`; the child also starts in ccb's own
private state folder, so relative entries in `PYTHONPATH` cannot point into the user's project either.
"""

from __future__ import annotations

import sys
from pathlib import Path


def python_module_argv(module: str, *args: str) -> list[str]:
    """argv for `python -P -m module args...` with this interpreter."""
    return [sys.executable, "-P", "-m", module, *args]


def safe_cwd() -> Path:
    """A folder only the user can write, to run ccb's children in (created 0700 when missing)."""
    from ccb.cli.paths import private_dir, state_dir

    return private_dir(state_dir())
