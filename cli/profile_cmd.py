"""`ccb profile ...` commands (placeholder until profiles land)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage ccb profiles: where a model lives and how to reach it.", no_args_is_help=True)
