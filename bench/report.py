"""Turn the benchmark's raw rounds into Markdown tables, and py-spy stacks into a summary. No network I/O.

Every figure is a median over rounds, and every comparison is made inside one round before the
median is taken: added latency is (target − direct) in the same round, a CPU ratio is bridge ÷ relay
in the same run. Peak RSS is the maximum over rounds.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import re
import statistics
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

MB = 1024 * 1024
# Targets (issue 17), all same-run comparisons with the relay except the memory ceilings.
RATIO_REQUEST = 2.0  # bridge CPU ÷ relay CPU, non-streaming 76 KB and 630 KB
RATIO_STREAM = 1.25  # ... per 200-chunk stream and per fragmented tool call
TTFT_OVER_RELAY = 1e-3  # bridge's added time to first token − relay's
PEAK_C1 = 70 * MB
PEAK_C32 = 80 * MB
WORKERS_GAIN = 1.5  # req/s of `ccb serve --workers 2` ÷ one process, 76 KB at c=32


def _med(values: list[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


class Figures:
    def __init__(self, results: dict[str, list[dict[str, Any]]]) -> None:
        self.results = results

    def rounds(self, key: str, c: int, target: str) -> list[dict[str, Any]]:
        return self.results.get(f"{key}|{c}|{target}", [])

    def cpu(self, key: str, c: int, target: str) -> float | None:
        proc = "engine" if target == "direct" else target
        return _med([r["cpu_per_req"].get(proc) for r in self.rounds(key, c, target)])

    def best(self, key: str, c: int, target: str) -> float | None:
        """The lowest round: noise on a shared machine only ever adds CPU time."""
        proc = "engine" if target == "direct" else target
        values = [r["cpu_per_req"].get(proc) for r in self.rounds(key, c, target)]
        return min((v for v in values if v is not None), default=None)

    def value(self, key: str, c: int, target: str, field: str) -> float | None:
        return _med([r[field] for r in self.rounds(key, c, target)])

    def added(self, key: str, c: int, target: str, field: str) -> float | None:
        base = {r["round"]: r[field] for r in self.rounds(key, c, "direct")}
        diffs = [
            r[field] - base[r["round"]]
            for r in self.rounds(key, c, target)
            if r[field] is not None and base.get(r["round"]) is not None
        ]
        return _med(list(diffs))

    def gap(self, key: str, c: int, target: str) -> float | None:
        """From the response headers (sent once the engine has answered) to the first token, per round."""
        return _med(
            [
                r["ttft_p50"] - r["headers_p50"]
                for r in self.rounds(key, c, target)
                if r.get("ttft_p50") is not None and r.get("headers_p50") is not None
            ]
        )

    def peak(self, key: str, c: int, target: str) -> int:
        return max((r["peak_rss"].get(target, 0) for r in self.rounds(key, c, target)), default=0)

    def ratio(self, key: str, c: int, a: str, b: str) -> float | None:
        pairs = {}
        for r in self.rounds(key, c, b):
            pairs[r["round"]] = r["cpu_per_req"].get(b)
        values = [
            r["cpu_per_req"].get(a) / pairs[r["round"]]
            for r in self.rounds(key, c, a)
            if pairs.get(r["round"])
        ]
        return _med(values)


def _ms(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v * 1000:.{digits}f}"


def _signed(v: float | None) -> str:
    return "—" if v is None else f"{v * 1000:+.2f}"


def _x(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}×"


def _pair(f: Figures, key: str, c: int, target: str, field: str) -> str:
    p50, p99 = f.added(key, c, target, field + "_p50"), f.added(key, c, target, field + "_p99")
    return f"{_signed(p50)} / {_signed(p99)}"


def render(
    results: dict[str, list[dict[str, Any]]],
    workloads: dict[str, Any],
    keys: list[str],
    concurrency: list[int],
    names: list[str],
    idle: dict[str, int],
    fresh: dict[str, int],
    meta: dict[str, Any],
) -> str:
    f = Figures(results)
    lines = [
        (
            f"Run: {meta['date']}, {meta['rounds']} round(s) × {meta['duration']} s per target and cell, "
            f"{meta['elapsed']:.0f} s in all. Machine: {meta['cpu']} ({meta['cores']} cores), "
            f"Python {meta['python']}, aiohttp {meta['aiohttp']}; load average {meta['load']}. "
            f"Machine speed (json round trip of the 76 KB body, before / after the run): "
            f"{meta['calibration'][0] * 1e6:.0f} / {meta['calibration'][1] * 1e6:.0f} µs."
        ),
        "",
    ]
    lines += [
        "### CPU per request (ms, medians of rounds)",
        "",
        "| workload | c | bridge | relay | bridge ÷ relay | bridge − relay | engine alone |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        for c in concurrency:
            b, r = f.cpu(key, c, "bridge"), f.cpu(key, c, "relay")
            ratio = _x(f.ratio(key, c, "bridge", "relay"))
            lines.append(
                f"| {workloads[key].name} | {c} | **{_ms(b)}** | {_ms(r)} | {ratio} "
                f"| {_ms(None if b is None or r is None else b - r)} | {_ms(f.cpu(key, c, 'direct'))} |"
            )
    lines += [
        "",
        "### Latency added over calling the engine directly (ms, p50 / p99), and throughput",
        "",
        (
            "| workload | c | direct p50 | bridge added | relay added | bridge added TTFT | relay added TTFT "
            "| bridge: engine answer → first token p50 | req/s direct / relay / bridge |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        stream = workloads[key].stream
        for c in concurrency:
            rps = " / ".join(f"{f.value(key, c, t, 'rps') or 0:.0f}" for t in ("direct", "relay", "bridge"))
            lines.append(
                f"| {workloads[key].name} | {c} | {_ms(f.value(key, c, 'direct', 'lat_p50'))} "
                f"| {_pair(f, key, c, 'bridge', 'lat')} | {_pair(f, key, c, 'relay', 'lat')} "
                f"| {_pair(f, key, c, 'bridge', 'ttft') if stream else '—'} "
                f"| {_pair(f, key, c, 'relay', 'ttft') if stream else '—'} "
                f"| {_ms(f.gap(key, c, 'bridge')) if stream else '—'} | {rps} |"
            )
    lines += [
        "",
        "### Memory (MB)",
        "",
        (
            "| process | idle RSS | peak, 76 KB workloads at c=32 (fresh process) "
            "| peak, any workload at c=1 | peak, any workload at c=32 |"
        ),
        "|---|---|---|---|---|",
    ]
    for name in names:
        if name == "direct":
            continue
        peaks = {c: max((f.peak(k, c, name) for k in keys), default=0) for c in concurrency}
        lines.append(
            f"| {name} | {idle.get(name, 0) / MB:.1f} | {fresh.get(name, 0) / MB:.1f} "
            f"| {peaks.get(1, 0) / MB:.1f} | {peaks.get(32, 0) / MB:.1f} |"
        )
    lines += _variants(f, workloads, keys, concurrency, names)
    failed = [
        f"{k.replace('|', ' c=', 1).replace('|', ' ')}: {sum(r['errors'] for r in v)}"
        for k, v in results.items()
        if any(r["errors"] for r in v)
    ]
    if failed:
        lines += ["", "**Failed requests** (figures of these cells are suspect): " + "; ".join(failed)]
    lines += ["", "### Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += _targets(f, keys, concurrency, fresh)
    return "\n".join(lines) + "\n"


def _variants(
    f: Figures, workloads: dict[str, Any], keys: list[str], concurrency: list[int], names: list[str]
) -> list[str]:
    """Extra servers, each against its own baseline measured in the same rounds: a relay variant against
    the relay, a bridge variant against the bridge started the same way (bench/serve.py) when measured."""
    others = [n for n in names if n not in ("direct", "relay", "bridge")]
    if not others:
        return []
    base = "bridge-entry" if "bridge-entry" in names else "bridge"

    def baseline(name: str) -> str | None:
        if name.startswith("relay"):
            return "relay"
        return None if name == base else base

    lines = [
        "",
        "### Variants: CPU per request in ms (ratio to its baseline in the same rounds)",
        "",
        "Baselines: `relay` for relay variants, `" + base + "` for bridge variants.",
        "",
        "| workload | c | bridge | " + " | ".join(others) + " |",
        "|---|---|---|" + "---|" * len(others),
    ]
    for key in keys:
        for c in concurrency:
            cells = []
            for n in others:
                b = baseline(n)
                cells.append(_ms(f.cpu(key, c, n)) + (f" ({_x(f.ratio(key, c, n, b))})" if b else ""))
            lines.append(
                f"| {workloads[key].name} | {c} | {_ms(f.cpu(key, c, 'bridge'))} | {' | '.join(cells)} |"
            )
    if 1 in concurrency:
        lines += [
            "",
            "Added latency p50 at c=1 (ms over the direct call; time to first token for streams):",
            "",
            "| workload | bridge | " + " | ".join(others) + " |",
            "|---|---|" + "---|" * len(others),
        ]
        for key in keys:
            field = "ttft_p50" if workloads[key].stream else "lat_p50"
            cells = [_signed(f.added(key, 1, n, field)) for n in ["bridge", *others]]
            lines.append(f"| {workloads[key].name} | {' | '.join(cells)} |")
    return lines


def _targets(f: Figures, keys: list[str], concurrency: list[int], fresh: dict[str, int]) -> list[str]:
    rows = []

    def row(label: str, value: float | None, limit: float, shown: str) -> None:
        met = "—" if value is None else ("yes" if value <= limit else "**no**")
        rows.append(f"| {label} | {shown} | {met} |")

    def cpu(key: str) -> tuple[float | None, str]:
        v = f.cpu(key, 1, "bridge")
        return v, f"{_ms(v)} ms (best round {_ms(f.best(key, 1, 'bridge'))})"

    if 1 in concurrency:
        for key, limit in (("76k", RATIO_REQUEST), ("630k", RATIO_REQUEST), ("76k-stream", RATIO_STREAM),
                           ("76k-tool", RATIO_STREAM)):
            if key in keys:
                b, r = f.cpu(key, 1, "bridge"), f.cpu(key, 1, "relay")
                v = b / r if b and r else None
                row(f"bridge CPU ≤ {limit:g}× the relay's: {key} (c=1)", v, limit, f"{_x(v)} ({_ms(b)} / {_ms(r)} ms)")
        if "76k-stream" in keys:
            b = f.added("76k-stream", 1, "bridge", "ttft_p50")
            r = f.added("76k-stream", 1, "relay", "ttft_p50")
            v = b - r if b is not None and r is not None else None
            row("added time to first token ≤ the relay's + 1 ms (76k-stream, c=1, p50)", v, TTFT_OVER_RELAY,
                f"{_signed(b)} vs {_signed(r)} ms")
        v = max((f.peak(k, 1, "bridge") for k in keys), default=0)
        row("peak bridge RSS ≤ 70 MB through every c=1 workload", v or None, PEAK_C1, f"{v / MB:.1f} MB")
    if 32 in concurrency:
        v = max((f.peak(k, 32, "bridge") for k in keys), default=0)
        row("peak bridge RSS ≤ 80 MB at c=32 (every workload)", v or None, PEAK_C32, f"{v / MB:.1f} MB")
        one, two = f.value("76k", 32, "bridge", "rps"), f.value("76k", 32, "bridge-2w", "rps")
        if one and two:
            row("`--workers 2` ≥ 1.5× the req/s of one process (76k, c=32)", -(two / one), -WORKERS_GAIN,
                f"{two / one:.2f}× ({two:.0f} / {one:.0f} req/s); cores busy: {_cores(f, 'bridge')} with one, "
                f"{_cores(f, 'bridge-2w')} with two")
    return rows


def _cores(f: Figures, target: str) -> str:
    """Where the machine's cores went in the 76 KB c=32 cell: the bridge, the engine, the load client, and
    everything else on the machine (other work), as medians over the rounds."""
    rounds = f.rounds("76k", 32, target)
    if not rounds or "busy_cores" not in rounds[0]:
        return "?"

    def med(values: list[float]) -> float:
        return statistics.median(values)

    bridge = med([r["cpu"][target] / r["wall"] for r in rounds])
    engine = med([r["cpu"]["engine"] / r["wall"] for r in rounds])
    client = med([r["client_cores"] for r in rounds])
    busy = med([r["busy_cores"] for r in rounds])
    other = max(busy - bridge - engine - client, 0.0)
    return f"{busy:.2f} (bridge {bridge:.2f}, engine {engine:.2f}, client {client:.2f}, other work {other:.2f})"


def _limit(measured: tuple[float | None, str], limit: float) -> tuple[float | None, float, str]:
    return measured[0], limit, measured[1]


def calibrate() -> float:
    """Seconds to parse and re-serialise the 76 KB request in this process: how fast the machine is right now.

    On a shared machine the same code runs up to twice as slow when neighbours are busy; this figure,
    taken before and after the run, says which kind of run the tables come from.
    """
    import json
    import timeit

    import payloads

    raw = payloads.encode(payloads.claude_code_request())
    return (
        min(timeit.repeat(lambda: json.dumps(json.loads(raw), ensure_ascii=False), number=20, repeat=7)) / 20
    )


def machine(args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"model name\s*:\s*(.+)", fh.read())
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    try:
        aiohttp_version = version("aiohttp")
    except PackageNotFoundError:
        aiohttp_version = "?"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "aiohttp": aiohttp_version,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "rounds": args.rounds,
        "duration": args.duration,
        "elapsed": elapsed,
    }


# -- py-spy summary ---------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
AREAS = (
    ("proxy/translate/request.py", "translate: request"),
    ("proxy/translate/tools.py", "translate: request"),
    ("proxy/translate/validate.py", "translate: request"),
    ("proxy/translate/estimate.py", "translate: request"),
    ("proxy/translate/stream.py", "translate: stream machine"),
    ("proxy/translate/sse.py", "translate: SSE decode/encode"),
    ("proxy/translate/response.py", "translate: response"),
    ("proxy/translate/", "translate: other"),
    ("proxy/relay.py", "bridge relay glue"),
    ("proxy/server.py", "bridge server glue"),
    ("proxy/upstream.py", "bridge upstream glue"),
    ("proxy/jsonio.py", "json (orjson or fallback)"),
    ("orjson", "json (orjson or fallback)"),
    ("json/encoder.py", "json encode"),
    ("json/decoder.py", "json decode"),
    ("json/__init__.py", "json other"),
    ("aiohttp/", "aiohttp"),
    ("yarl/", "yarl/multidict"),
    ("multidict/", "yarl/multidict"),
    ("asyncio/", "asyncio loop"),
    ("selectors.py", "asyncio loop"),
)


def _area(path: str) -> str:
    for needle, name in AREAS:
        if needle in path:
            return name
    return "other: " + Path(path).name


def profile_summary(raw: Path, top: int = 15) -> str:
    """Self time by area and by function, plus inclusive time of the bridge's own functions."""
    areas: collections.Counter[str] = collections.Counter()
    selfs: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [m.groupdict() for m in (_FRAME.match(fr) for fr in stack.split(";")) if m]
        if not frames:
            continue
        total += n
        leaf = frames[-1]
        areas[_area(leaf["file"])] += n
        selfs[f"{leaf['func']} ({Path(leaf['file']).name})"] += n
        seen = set()
        for fr in frames:
            if "proxy/" in fr["file"] or "json/" in fr["file"]:
                label = f"{fr['func']} ({Path(fr['file']).name})"
                if label not in seen:
                    seen.add(label)
                    inclusive[label] += n
    if not total:
        return "(no samples)\n"
    out = [f"{total} samples", "self time by area:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in areas.most_common() if n / total >= 0.001]
    out.append("self time by function:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in selfs.most_common(top)]
    out.append("inclusive time, bridge and json functions:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out) + "\n"
