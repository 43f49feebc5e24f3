"""Time the bridge's pure steps in-process, without sockets: where a request's CPU goes. No network I/O.

    python bench/micro.py [--json-lib orjson]

Each line is the median of several batches, in microseconds per request (or per stream). The steps
are the ones `ccb.proxy.server` and `ccb.proxy.relay` run: parse the client's body, validate,
translate, serialise the upstream body; per stream, decode the engine's SSE, parse each chunk, run
the stream machine, encode the Anthropic events. `--json-lib orjson` swaps the JSON calls the
bridge's I/O modules make, to show what that library would buy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import payloads

from ccb.proxy.config import dialect_for
from ccb.proxy.translate import sse
from ccb.proxy.translate.request import translate, validate
from ccb.proxy.translate.response import accumulate, completion_to_chunk
from ccb.proxy.translate.stream import StreamTranslator


def timed(fn: Callable[[], Any], budget: float = 0.4) -> float:
    """Median seconds per call over batches filling about `budget` seconds."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    per_batch = max(1, int(budget / 7 / once))
    samples = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter() - t0) / per_batch)
    return statistics.median(samples)


def request_steps(
    label: str, raw: bytes, loads: Callable[[Any], Any], dumps_upstream: Callable[[Any], bytes]
) -> list[tuple[str, float]]:
    dialect = dialect_for("vllm")
    body = loads(raw)
    out = translate(body, model="m", dialect=dialect, stream=True).body
    return [
        (f"{label} parse client body", timed(lambda: loads(raw))),
        (f"{label} validate", timed(lambda: validate(body))),
        (f"{label} translate", timed(lambda: translate(body, model="m", dialect=dialect, stream=True))),
        (f"{label} serialise upstream body", timed(lambda: dumps_upstream(out))),
    ]


def stream_steps(label: str, wire: list[bytes], loads: Callable[[Any], Any]) -> list[tuple[str, float]]:
    """One read per chunk, as from an engine generating tokens one by one."""
    texts = [p for piece in wire for p in sse.SSEDecoder().feed(piece) if p != sse.DONE]
    parsed = [loads(t) for t in texts]
    machine = StreamTranslator(model="m", input_estimate=100)
    events = machine.start() + [e for c in parsed for e in machine.feed(c)] + machine.finish()

    def decode_only() -> None:
        decoder = sse.SSEDecoder()
        for piece in wire:
            decoder.feed(piece)

    def parse_only() -> None:
        for text in texts:
            loads(text)

    def machine_only() -> None:
        machine = StreamTranslator(model="m", input_estimate=100)
        machine.start()
        for chunk in parsed:
            machine.feed(chunk)
        machine.finish()

    def encode_only() -> None:
        for name, data in events:
            sse.encode(name, data)

    def whole() -> None:
        decoder = sse.SSEDecoder()
        machine = StreamTranslator(model="m", input_estimate=100)
        b"".join(sse.encode(n, d) for n, d in machine.start())
        for piece in wire:
            for payload in decoder.feed(piece):
                if payload == sse.DONE:
                    break
                b"".join(sse.encode(n, d) for n, d in machine.feed(loads(payload)))
        b"".join(sse.encode(n, d) for n, d in machine.finish())

    return [
        (f"{label}: SSE decode ({len(wire)} reads)", timed(decode_only)),
        (f"{label}: parse chunks (json.loads)", timed(parse_only)),
        (f"{label}: stream machine", timed(machine_only)),
        (f"{label}: SSE encode ({len(events)} events)", timed(encode_only)),
        (f"{label}: all of the above", timed(whole)),
    ]


def metrics_steps() -> list[tuple[str, float]]:
    """What /metrics costs: recording one streamed request, and rendering one scrape (2 workers' files)."""
    import tempfile
    from pathlib import Path

    from ccb.proxy.metrics import Metrics

    notes = {"ttft": 0.004, "usage": {"input_tokens": 900, "output_tokens": 200, "cache_read_input_tokens": 18000}}
    with tempfile.TemporaryDirectory() as folder:
        figures, other = Metrics(Path(folder), 0), Metrics(Path(folder), 1)

        def record() -> None:
            figures.started()
            figures.finished("/v1/messages", 200, 0.012, notes)

        rows = [
            ("metrics: record one request", timed(record)),
            (
                "metrics: render a scrape (2 workers)",
                timed(lambda: figures.render(model="m", engine="vllm", window=131072)),
            ),
        ]
        figures.close()
        other.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-lib", choices=("json", "orjson"), default="json")
    args = parser.parse_args()
    if args.json_lib == "orjson":
        import orjson

        loads: Callable[[Any], Any] = orjson.loads
        dumps_upstream: Callable[[Any], bytes] = orjson.dumps
    else:
        loads = json.loads

        def dumps_upstream(body: Any) -> bytes:
            return json.dumps(body, ensure_ascii=False).encode()  # as ccb.proxy.relay does it

    rows: list[tuple[str, float]] = []
    for label, make in (("76 KB", payloads.claude_code_request), ("630 KB", payloads.long_context_request)):
        rows += request_steps(label, payloads.encode(make()), loads, dumps_upstream)
    completion = payloads.completion()

    def non_stream() -> None:
        machine = StreamTranslator(model="m", input_estimate=100)
        events = machine.start() + machine.feed(completion_to_chunk(loads(completion))) + machine.finish()
        json.dumps(accumulate(events))

    rows.append(("non-streaming answer → Message", timed(non_stream)))
    for label, wire in (
        ("200-chunk text stream", payloads.text_stream()),
        ("170-fragment tool stream", payloads.tool_stream()),
    ):
        rows += stream_steps(label, wire, loads)
    rows += metrics_steps()
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  µs")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds * 1e6:8.1f}")


if __name__ == "__main__":
    main()
