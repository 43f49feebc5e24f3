"""`ccb serve`: run the bridge in the foreground (placeholder)."""

from __future__ import annotations


def serve() -> None:
    """Run the Anthropic Messages bridge in front of an OpenAI-compatible engine."""
