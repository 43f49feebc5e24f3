"""A token estimate gathered while translation walks a request (no second pass). Pure, no I/O."""

from __future__ import annotations

# Characters per token for the cheap estimate used for clamping and message_start usage.
CHARS_PER_TOKEN = 3.6
IMAGE_TOKENS = 800


class Estimate:
    """Counts characters as translation walks the request: the estimate costs no second pass."""

    __slots__ = ("_chars", "_extra")

    def __init__(self) -> None:
        self._chars = 0
        self._extra = 0

    def text(self, text: str) -> None:
        self._chars += len(text)

    def chars(self, n: int) -> None:
        self._chars += n

    def tokens_add(self, n: int) -> None:
        self._extra += n

    def tokens(self) -> int:
        return int(self._chars / CHARS_PER_TOKEN) + self._extra + 8
