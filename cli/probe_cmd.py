"""`ccb probe` and `ccb models` (placeholder until discovery lands)."""

from __future__ import annotations


def probe() -> None:
    """Find local inference engines and report what they can do."""


def models() -> None:
    """List the models a profile's provider or engine serves."""
