"""Re-reading the bridge's Anthropic event streams in tests, through the product's own decoder. No I/O.

`events(raw)` decodes with `ccb.proxy.translate.sse.EventDecoder` (the one doctor's smoke test reads with) and
also checks the framing the decoder does not keep: every event is exactly an `event:` line naming the data's
`type` and one `data:` line. `message(raw)` folds the events with the order-checking reducer
(`ccb.proxy.translate.response.accumulate`), so a stream out of order fails the test.
"""

from __future__ import annotations

import json
from typing import Any

from ccb.proxy.translate.response import accumulate
from ccb.proxy.translate.sse import EventDecoder


def events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Anthropic SSE bytes -> (event name, data) pairs; asserts each event is `event: <type>` then one `data:`."""
    decoder = EventDecoder()
    decoded = [(event.event, json.loads(event.data)) for event in decoder.feed(raw) + decoder.flush()]
    # Keep-alive comments (`: ping`) carry no event; the decoder drops them too.
    blocks = [block for block in raw.decode("utf-8").split("\n\n") if block.strip() and block[0] != ":"]
    assert len(blocks) == len(decoded), raw[-500:]
    for block, (name, data) in zip(blocks, decoded, strict=True):
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        assert name == data["type"], block
    return decoded


def message(raw: bytes) -> dict[str, Any]:
    """The Message a complete stream folds into (raises on any event-order violation)."""
    return accumulate(events(raw))


def text(raw: bytes) -> str:
    """The text of a complete, well-formed stream."""
    return "".join(block["text"] for block in message(raw)["content"] if block["type"] == "text")
