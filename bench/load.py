"""The load client: its own process, driven by JSON lines on stdin, one JSON result per command. Does I/O.

A command names a target URL, a payload, the concurrency and a duration. The client sends warm-up
requests (untimed), then snapshots the CPU time of the processes it is told to watch, runs the timed
part, and snapshots again: the CPU delta divided by the requests completed is the figure the harness
reports. CPU time is read per thread from /proc/PID/task/*/schedstat (nanoseconds); user + system
from /proc/PID/stat (10 ms ticks, via psutil) is kept beside it as a cross-check. While the timed part
runs it samples the watched processes' RSS every 20 ms, and resets and reads the kernel's own peak
(VmHWM).

Time to first token is the time until the first content delta arrives: `content_block_delta` in an
Anthropic stream, a content or tool-argument chunk in an OpenAI one.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import payloads
import psutil

HEADERS = {"Content-Type": "application/json", "x-api-key": "bench-token", "anthropic-version": "2023-06-01"}
# The first content the client would show, in each wire format (the fake engine renders these exactly).
FIRST = {
    "anthropic": (b"event: content_block_delta",),
    "openai": (b'"delta":{"content":', b'[{"index":0,"function":{"arguments"'),
}
END = {"anthropic": b"event: message_stop", "openai": b"data: [DONE]"}

_bodies: dict[tuple[str, bool, bool, bool, str], bytes] = {}


def body_for(payload: str, stream: bool, tool: bool, paced: bool, kind: str) -> bytes:
    """The request bytes: the Anthropic body, or (`openai`) exactly what the bridge would send upstream."""
    key = (payload, stream, tool, paced, kind)
    if key not in _bodies:
        make = payloads.claude_code_request if payload == "cc76" else payloads.long_context_request
        body = make(stream=stream, tool=tool, paced=paced)
        if kind == "openai":
            from ccb.proxy.config import dialect_for
            from ccb.proxy.translate.request import translate

            translated = translate(
                body, model=payloads.ENGINE_MODEL, dialect=dialect_for("vllm"), stream=stream
            )
            _bodies[key] = json.dumps(translated.body, ensure_ascii=False).encode()
        else:
            _bodies[key] = payloads.encode(body)
    return _bodies[key]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    headers: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    received: int = 0


async def one(
    session: aiohttp.ClientSession, url: str, data: bytes, stream: bool, fmt: str, tally: Tally
) -> None:
    t0 = time.perf_counter()
    ttft = None
    try:
        async with session.post(url, data=data, headers=HEADERS) as resp:
            t_headers = time.perf_counter() - t0
            if not stream:
                raw = await resp.read()
                ok = resp.status == 200 and raw[:1] == b"{"
                tail = raw[-200:]
            else:
                markers = FIRST[fmt]
                tail = b""
                n = 0
                async for piece in resp.content.iter_any():
                    n += len(piece)
                    if ttft is None:
                        window = tail[-64:] + piece
                        if any(m in window for m in markers):
                            ttft = time.perf_counter() - t0
                    tail = (tail + piece)[-200:]
                raw = b""
                ok = resp.status == 200 and END[fmt] in tail
                tally.received += n
            latency = time.perf_counter() - t0
        tally.received += len(raw)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        ok, tail, latency = False, repr(exc).encode(), 0.0
    if not ok:
        tally.errors += 1
        tally.first_error = tally.first_error or tail.decode("utf-8", "replace")
        return
    tally.latencies.append(latency)
    tally.headers.append(t_headers)
    if ttft is not None:
        tally.ttfts.append(ttft)


Pids = dict[str, "int | list[int]"]  # a name's process, or its processes (`ccb serve --workers`: added up)


def _each(pid: int | list[int]) -> list[int]:
    return pid if isinstance(pid, list) else [pid]


def _schedstat(pids: Pids) -> dict[str, float]:
    """Seconds on a CPU: the sum of every thread's run time from /proc/PID/task/*/schedstat (nanoseconds)."""
    out = {}
    for name, group in pids.items():
        total = 0
        for pid in _each(group):
            for task in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                        total += int(f.read().split()[0])
                except (OSError, ValueError):
                    pass  # a thread that ended in between
        out[name] = total / 1e9
    return out


def _ticks(pids: Pids) -> dict[str, float]:
    """User + system time as psutil reads it from /proc/PID/stat (10 ms ticks): the cross-check."""
    out = {}
    for name, group in pids.items():
        times = [psutil.Process(pid).cpu_times() for pid in _each(group)]
        out[name] = sum(t.user + t.system for t in times)
    return out


def _has_schedstat() -> bool:
    try:
        with open(f"/proc/{os.getpid()}/schedstat") as f:
            return int(f.read().split()[0]) > 0
    except (OSError, ValueError, IndexError):
        return False


# Nanosecond run times where the kernel keeps them, else user + system in 10 ms ticks.
CPU_SOURCE = "schedstat" if _has_schedstat() else "ticks"
_cpu = _schedstat if CPU_SOURCE == "schedstat" else _ticks


def _machine_busy() -> float:
    """Seconds of CPU the whole machine has spent busy (every core, every process: /proc/stat, all but idle)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _reset_peak(pid: int) -> None:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (Linux ≥ 4.0)
    except OSError:
        pass


def _hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


async def run(cmd: dict[str, Any]) -> dict[str, Any]:
    url, stream, fmt, c = cmd["url"], cmd["stream"], cmd["format"], cmd["concurrency"]
    data = body_for(cmd["payload"], stream, cmd.get("tool", False), cmd.get("paced", False), cmd["body"])
    pids: Pids = cmd.get("pids", {})
    connector = aiohttp.TCPConnector(limit=c, force_close=False)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        warm = Tally()
        remaining = [cmd.get("warmup", 2 * c)]

        async def warm_worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await one(session, url, data, stream, fmt, warm)

        await asyncio.gather(*(warm_worker() for _ in range(c)))
        tally = Tally()
        peaks = {name: 0 for name in pids}
        for group in pids.values():
            for pid in _each(group):
                _reset_peak(pid)
        procs = {name: [psutil.Process(pid) for pid in _each(group)] for name, group in pids.items()}
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                for name, group in procs.items():
                    peaks[name] = max(peaks[name], sum(proc.memory_info().rss for proc in group))
                try:
                    await asyncio.wait_for(stop.wait(), 0.02)
                except TimeoutError:
                    pass

        sampler = asyncio.create_task(sample())
        cpu0, ticks0 = _cpu(pids), _ticks(pids)
        own0, busy0 = time.process_time(), _machine_busy()
        t0 = time.perf_counter()
        deadline = t0 + cmd["duration"]
        cap = t0 + cmd["duration"] * 3
        min_n = cmd.get("min_requests", 0)

        async def worker() -> None:
            while True:
                now = time.perf_counter()
                done = len(tally.latencies) + tally.errors
                if now >= cap or (now >= deadline and done >= min_n):
                    return
                await one(session, url, data, stream, fmt, tally)

        await asyncio.gather(*(worker() for _ in range(c)))
        wall = time.perf_counter() - t0
        cpu1, ticks1 = _cpu(pids), _ticks(pids)
        own1, busy1 = time.process_time(), _machine_busy()
        stop.set()
        await sampler
    n = len(tally.latencies)
    return {
        "n": n,
        "errors": tally.errors + warm.errors,
        "first_error": (tally.first_error or warm.first_error)[:300],
        "wall": wall,
        "rps": n / wall if wall else 0.0,
        "request_bytes": len(data),
        "response_bytes": tally.received / max(n, 1),
        "lat_p50": pct(tally.latencies, 0.5),
        "lat_p99": pct(tally.latencies, 0.99),
        "lat_mean": statistics.fmean(tally.latencies) if tally.latencies else None,
        "ttft_p50": pct(tally.ttfts, 0.5),
        "ttft_p99": pct(tally.ttfts, 0.99),
        "headers_p50": pct(tally.headers, 0.5),
        "headers_p99": pct(tally.headers, 0.99),
        "cpu": {name: cpu1[name] - cpu0[name] for name in pids},
        "cpu_per_req": {name: (cpu1[name] - cpu0[name]) / max(n + tally.errors, 1) for name in pids},
        "cpu_source": CPU_SOURCE,
        # Where the machine's cores went while the cell ran: this load client, and every process together.
        "client_cores": (own1 - own0) / wall if wall else 0.0,
        "busy_cores": (busy1 - busy0) / wall if wall else 0.0,
        "ticks_per_req": {name: (ticks1[name] - ticks0[name]) / max(n + tally.errors, 1) for name in pids},
        # Several processes: their sampled sum (each one's own peak comes at a different moment).
        "peak_rss": {name: max(peaks[name], _hwm(group)) if isinstance(group, int) else peaks[name]
                     for name, group in pids.items()},
    }


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd.get("cmd") == "quit":
            break
        if cmd.get("cmd") == "prepare":  # build (and translate) every body before any timing starts
            for spec in cmd["bodies"]:
                body_for(*spec)
            print(json.dumps({"prepared": True}), flush=True)
            continue
        print(json.dumps(await run(cmd)), flush=True)


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
