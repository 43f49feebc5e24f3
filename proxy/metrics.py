"""Prometheus metrics for the bridge: counters and histograms in a flat array of doubles. Does file I/O
only when workers share their figures.

One bridge process keeps its figures in memory. With `ccb serve --workers N` each worker writes its own
array into a memory-mapped file of a private folder (one writer per file, 8-byte aligned doubles), and
whichever worker answers `GET /metrics` sums every worker's file: a scrape always sees the whole bridge,
exactly, whichever worker the kernel hands it to. A restarted worker maps its old file and counts on.
"""

from __future__ import annotations

import mmap
import os
import time
from bisect import bisect_left
from pathlib import Path

ROUTES = ("messages", "count_tokens", "models", "metrics", "other")
_ROUTE_OF = {
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "count_tokens",
    "/v1/models": "models",
    "/metrics": "metrics",
}
# Anthropic's error types (what the client sees in `error.type`).
ERROR_TYPES = (
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
    "timeout_error",
)
_STATUS_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
# Seconds. Requests run from milliseconds (a cached short answer) to minutes (a long generation).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _Layout:
    """Where each figure lives in the array."""

    def __init__(self) -> None:
        n = 0

        def take(count: int) -> int:
            nonlocal n
            start, n = n, n + count
            return start

        self.requests = take(len(ROUTES))
        self.errors = take(len(ERROR_TYPES))
        self.in_flight = take(1)
        # histogram: one slot per bucket (not cumulative), one for +Inf, then sum and count
        self.latency = take(len(LATENCY_BUCKETS) + 3)
        self.ttft = take(len(TTFT_BUCKETS) + 3)
        self.input_tokens = take(1)
        self.output_tokens = take(1)
        self.cached_tokens = take(1)
        self.engine_ok_at = take(1)  # wall-clock time of the last engine answer, 0 when none yet
        self.engine_failed_at = take(1)  # ... of the last failure to reach it
        self.engine_failures = take(1)
        self.size = n


LAYOUT = _Layout()
SIZE_BYTES = LAYOUT.size * 8


class Metrics:
    """This process's figures, in memory or in a shared folder (`folder`, `worker`: `ccb serve --workers`)."""

    def __init__(self, folder: Path | None = None, worker: int = 0) -> None:
        self.folder = folder
        self.path: Path | None = None
        self._map: mmap.mmap | None = None
        if folder is None:
            self.values = memoryview(bytearray(SIZE_BYTES)).cast("d")
            return
        path = self.path = folder / f"worker-{worker}.metrics"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != SIZE_BYTES:
                os.ftruncate(fd, SIZE_BYTES)
            self._map = mmap.mmap(fd, SIZE_BYTES)
        finally:
            os.close(fd)
        self.values = memoryview(self._map).cast("d")

    def close(self) -> None:
        if self._map is not None:
            self.values.release()
            self._map.close()
            self._map = None

    # -- recording (the hot path: a few additions per request) --------------------------------------

    def started(self) -> None:
        self.values[LAYOUT.in_flight] += 1

    def finished(self, path: str, status: int, seconds: float, notes: dict[str, object]) -> None:
        v = self.values
        route = _ROUTE_OF.get(path, "other")
        v[LAYOUT.in_flight] -= 1
        v[LAYOUT.requests + ROUTES.index(route)] += 1
        error = notes.get("error")
        if status >= 400:
            error = _STATUS_TYPE.get(status, "api_error" if status >= 500 else "invalid_request_error")
        if isinstance(error, str):
            v[LAYOUT.errors + _error_index(error)] += 1
        if route != "messages":
            return
        _observe(v, LAYOUT.latency, LATENCY_BUCKETS, seconds)
        ttft = notes.get("ttft")
        if isinstance(ttft, float):
            _observe(v, LAYOUT.ttft, TTFT_BUCKETS, ttft)
        usage = notes.get("usage")
        if isinstance(usage, dict):
            v[LAYOUT.input_tokens] += usage.get("input_tokens", 0)
            v[LAYOUT.output_tokens] += usage.get("output_tokens", 0)
            v[LAYOUT.cached_tokens] += usage.get("cache_read_input_tokens", 0)

    def engine(self, ok: bool) -> None:
        """The engine answered (any HTTP status), or could not be reached."""
        if ok:
            self.values[LAYOUT.engine_ok_at] = time.time()
        else:
            self.values[LAYOUT.engine_failed_at] = time.time()
            self.values[LAYOUT.engine_failures] += 1

    # -- exposition ----------------------------------------------------------------------------------

    def totals(self) -> list[float]:
        """Every worker's figures added up (engine times: the latest)."""
        arrays = [self.values.tolist()]
        if self.folder is not None:
            for path in sorted(self.folder.glob("worker-*.metrics")):
                data = None if path == self.path else _read(path)
                if data is not None:
                    arrays.append(memoryview(data).cast("d").tolist())
        total = [sum(column) for column in zip(*arrays)]
        for slot in (LAYOUT.engine_ok_at, LAYOUT.engine_failed_at):
            total[slot] = max(a[slot] for a in arrays)
        return total

    def render(self, *, model: str, engine: str, window: int | None) -> bytes:
        t = self.totals()
        out: list[str] = []

        def family(name: str, kind: str, text: str) -> None:
            out.append(f"# HELP {name} {text}\n# TYPE {name} {kind}\n")

        family("ccb_requests_total", "counter", "Requests the bridge received, by route.")
        for i, route in enumerate(ROUTES):
            out.append(f'ccb_requests_total{{route="{route}"}} {_num(t[LAYOUT.requests + i])}\n')
        family(
            "ccb_errors_total",
            "counter",
            "Errors the bridge answered, by Anthropic error type (JSON errors and stream error events).",
        )
        for i, kind in enumerate(ERROR_TYPES):
            out.append(f'ccb_errors_total{{type="{kind}"}} {_num(t[LAYOUT.errors + i])}\n')
        family("ccb_requests_in_flight", "gauge", "Requests being handled now.")
        out.append(f"ccb_requests_in_flight {_num(t[LAYOUT.in_flight])}\n")
        family(
            "ccb_request_duration_seconds",
            "histogram",
            "Time from a Messages request's arrival to the end of its answer.",
        )
        _histogram(out, "ccb_request_duration_seconds", t, LAYOUT.latency, LATENCY_BUCKETS)
        family(
            "ccb_time_to_first_token_seconds",
            "histogram",
            "Time from a streamed Messages request's arrival to its first content event.",
        )
        _histogram(out, "ccb_time_to_first_token_seconds", t, LAYOUT.ttft, TTFT_BUCKETS)
        for name, slot, text in (
            ("ccb_input_tokens_total", LAYOUT.input_tokens, "Prompt tokens the engine processed (not from cache)."),
            ("ccb_cache_read_tokens_total", LAYOUT.cached_tokens, "Prompt tokens the engine read from its cache."),
            ("ccb_output_tokens_total", LAYOUT.output_tokens, "Tokens the engine generated."),
            ("ccb_engine_failures_total", LAYOUT.engine_failures, "Times the engine could not be reached."),
        ):
            family(name, "counter", text)
            out.append(f"{name} {_num(t[slot])}\n")
        ok_at, failed_at = t[LAYOUT.engine_ok_at], t[LAYOUT.engine_failed_at]
        family(
            "ccb_engine_up",
            "gauge",
            "1 when the engine answered the bridge's last request to it, 0 when it could not be reached "
            "(1 before any request).",
        )
        out.append(f"ccb_engine_up {0 if failed_at > ok_at else 1}\n")
        family("ccb_engine_last_answer_timestamp_seconds", "gauge", "When the engine last answered (Unix time).")
        out.append(f"ccb_engine_last_answer_timestamp_seconds {ok_at:.3f}\n")
        family("ccb_engine_info", "gauge", "The engine's dialect, the model requests map to, its context window.")
        out.append(
            f'ccb_engine_info{{dialect="{_label(engine)}",model="{_label(model)}",context_window="{window or ""}"}} 1\n'
        )
        return "".join(out).encode()


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _error_index(kind: str) -> int:
    try:
        return ERROR_TYPES.index(kind)
    except ValueError:
        return ERROR_TYPES.index("api_error")


def _observe(v: memoryview[float], base: int, buckets: tuple[float, ...], value: float) -> None:
    v[base + bisect_left(buckets, value)] += 1
    v[base + len(buckets) + 1] += value
    v[base + len(buckets) + 2] += 1


def _histogram(out: list[str], name: str, t: list[float], base: int, buckets: tuple[float, ...]) -> None:
    running = 0.0
    for i, bound in enumerate(buckets):
        running += t[base + i]
        out.append(f'{name}_bucket{{le="{bound:g}"}} {_num(running)}\n')
    running += t[base + len(buckets)]
    out.append(f'{name}_bucket{{le="+Inf"}} {_num(running)}\n')
    out.append(f"{name}_sum {t[base + len(buckets) + 1]:.6f}\n")
    out.append(f"{name}_count {_num(t[base + len(buckets) + 2])}\n")


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _read(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if len(data) == SIZE_BYTES else None
