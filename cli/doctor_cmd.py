"""`ccb doctor` (placeholder until the checks land)."""

from __future__ import annotations


def doctor() -> None:
    """Find and explain every reason Claude Code won't work with a backend."""
