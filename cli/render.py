"""Terminal output: owns the rich consoles. stdout carries data, stderr carries chatter."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


# NO_COLOR: no escape sequences at all (rich's own no_color still emits bold and underline).
_SYSTEM: Literal["auto"] | None = None if _no_color() else "auto"
out = Console(no_color=_no_color(), color_system=_SYSTEM, highlight=False, soft_wrap=True)
err = Console(stderr=True, no_color=_no_color(), color_system=_SYSTEM, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, stable key order, no colour."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)


def info(message: str) -> None:
    err.print(message, markup=False, highlight=False)
