"""Benchmark the bridge against a fast fake engine and a do-little relay, in one run. Does I/O.

    python bench/run.py            # full run, ≈4 minutes on 2 cores
    python bench/run.py --quick    # one short round, ≈1 minute

Starts its processes on loopback: the fake engine (bench/engine.py), the do-little relay
(bench/relay.py), the bridge as users start it (`ccb serve`), the same bridge without the CLI
(bench/serve.py) and the load client (bench/load.py). For each workload and concurrency it runs every
target, in an order that rotates from cell to cell, and reports medians over the rounds: each server
process's CPU time per request (from /proc), latency and time to first token added over the direct
call, requests per second and peak RSS. docs/benchmarks.md has the method and the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
import report

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"


@dataclass(frozen=True)
class Workload:
    name: str
    payload: str  # cc76 | long
    stream: bool
    tool: bool = False
    paced: bool = False


WORKLOADS = {
    "76k": Workload("76 KB, non-streaming", "cc76", False),
    "76k-stream": Workload("76 KB, 200-chunk stream", "cc76", True),
    "76k-paced": Workload("76 KB, 200-chunk stream, paced", "cc76", True, paced=True),
    "76k-tool": Workload("76 KB, tool call in 170 fragments", "cc76", True, True),
    "76k-tool-paced": Workload("76 KB, tool call in 170 fragments, paced", "cc76", True, True, True),
    "630k": Workload("630 KB, non-streaming", "long", False),
    "630k-stream": Workload("630 KB, 200-chunk stream", "long", True),
}

DEFAULT_WORKLOADS = [k for k in WORKLOADS if k != "76k-tool-paced"]  # keeps a full run near 4 minutes


@dataclass
class Target:
    name: str
    url: str
    fmt: str  # the wire format it answers in: anthropic | openai
    proc: subprocess.Popen[str] | None  # None: the engine itself
    watch: dict[str, int | list[int]] = field(default_factory=dict)
    body: str = "anthropic"  # what it is sent: Claude Code's body, or (direct) the bridge's upstream body


class Procs:
    """Child processes, stopped in reverse order on exit. Their output goes to files in a scratch folder.

    Never to pipes: `ccb serve` logs a line per request to stderr, and an undrained pipe would stall it.
    """

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []
        self.scratch = Path(tempfile.mkdtemp(prefix="ccb-bench-"))
        # The bridge's own files (config, rotating log) go here, not under the user's home.
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "CCB_HOME": str(self.scratch / "ccb-home")}

    def spawn(self, argv: list[str], pattern: str, what: str) -> tuple[subprocess.Popen[str], int]:
        stem = self.scratch / re.sub(r"\W+", "-", what)
        out, err = stem.with_suffix(".out"), stem.with_suffix(".err")
        with out.open("w") as fout, err.open("w") as ferr:
            proc = subprocess.Popen(
                argv, stdout=fout, stderr=ferr, stdin=subprocess.DEVNULL, text=True, cwd=HERE, env=self.env
            )
        self.started.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            m = re.search(pattern, out.read_text())
            if m:
                return proc, int(m.group(1))
            time.sleep(0.05)
        raise SystemExit(f"{what} did not start: {' '.join(argv)}\n{err.read_text()}")

    def stop(self) -> None:
        for proc in reversed(self.started):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)


class Client:
    """The load client process, one JSON command and one JSON answer at a time."""

    def __init__(self, procs: Procs) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "load.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=HERE,
            env=procs.env,
        )
        procs.started.append(self.proc)
        self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the load client died")
        return json.loads(line)  # type: ignore[no-any-return]

    def ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        stdin.write(json.dumps(cmd) + "\n")
        stdin.flush()
        return self._read()


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _pids(group: int | list[int]) -> list[int]:
    return group if isinstance(group, list) else [group]


def start_targets(args: argparse.Namespace, procs: Procs) -> list[Target]:
    py = sys.executable
    engine_argv = [py, "engine.py"] + (["--burst"] if args.burst else [])
    engine, engine_port = procs.spawn(engine_argv, r"PORT (\d+)", "the fake engine")
    upstream = f"http://127.0.0.1:{engine_port}/v1"
    eng = {"engine": engine.pid}
    targets = [Target("direct", f"{upstream}/chat/completions", "openai", None, dict(eng), body="openai")]
    relay, port = procs.spawn([py, "relay.py", "--upstream", upstream], r"PORT (\d+)", "the relay")
    targets.append(
        Target("relay", f"http://127.0.0.1:{port}/v1/messages", "openai", relay, {"relay": relay.pid, **eng})
    )
    argv = [
        py,
        "-m",
        "ccb.cli",
        "serve",
        "--upstream",
        upstream,
        "--model",
        "bench-model",
        "--engine",
        "vllm",
        "--port",
        "0",
        "--auth-token",
        TOKEN,
    ]
    bridge, port = procs.spawn(argv, r"ANTHROPIC_BASE_URL=http://127\.0\.0\.1:(\d+)", "the bridge")
    targets.append(
        Target(
            "bridge",
            f"http://127.0.0.1:{port}/v1/messages",
            "anthropic",
            bridge,
            {"bridge": bridge.pid, **eng},
        )
    )
    if args.entry:
        proc, port = procs.spawn(
            [py, "serve.py", "--upstream", upstream, "--token", TOKEN], r"PORT (\d+)", "bridge-entry"
        )
        targets.append(
            Target(
                "bridge-entry",
                f"http://127.0.0.1:{port}/v1/messages",
                "anthropic",
                proc,
                {"bridge-entry": proc.pid, **eng},
            )
        )
    if args.uvloop:
        for name, script in (("relay+uvloop", "relay.py"), ("bridge+uvloop", "serve.py")):
            extra = ["--token", TOKEN] if script == "serve.py" else []
            proc, port = procs.spawn(
                [py, script, "--upstream", upstream, "--loop", "uvloop", *extra], r"PORT (\d+)", name
            )
            fmt = "openai" if script == "relay.py" else "anthropic"  # the relay passes the engine's stream on
            targets.append(
                Target(name, f"http://127.0.0.1:{port}/v1/messages", fmt, proc, {name: proc.pid, **eng})
            )
    for count in args.workers:
        proc, port = procs.spawn([*argv, "--workers", str(count)],
                                 r"ANTHROPIC_BASE_URL=http://127\.0\.0\.1:(\d+)", f"bridge {count} workers")
        name = f"bridge-{count}w"
        group = [proc.pid] + [child.pid for child in psutil.Process(proc.pid).children()]
        targets.append(Target(name, f"http://127.0.0.1:{port}/v1/messages", "anthropic", proc,
                              {name: group, **eng}))
    for spec in args.candidate:
        name, _, src = spec.partition("=")
        proc, port = procs.spawn(
            [py, "serve.py", "--upstream", upstream, "--token", TOKEN, "--proxy-src", src],
            r"PORT (\d+)",
            f"candidate {name}",
        )
        targets.append(
            Target(name, f"http://127.0.0.1:{port}/v1/messages", "anthropic", proc, {name: proc.pid, **eng})
        )
    return targets


def command(target: Target, work: Workload, c: int, duration: float, min_requests: int) -> dict[str, Any]:
    return {
        "cmd": "run",
        "url": target.url,
        "payload": work.payload,
        "stream": work.stream,
        "tool": work.tool,
        "paced": work.paced,
        "format": target.fmt,
        "body": target.body,
        "concurrency": c,
        "duration": duration,
        "warmup": (c if work.paced else max(4, 2 * c)),
        "min_requests": min_requests,
        "pids": target.watch,
    }


def memory(args: argparse.Namespace, client: Client, targets: list[Target]) -> dict[str, int]:
    """Peak RSS of each fresh server under the 76 KB workloads at c=32, before any 630 KB body arrives.

    Python keeps memory it once needed: after a burst of 630 KB requests the process stays larger,
    so the Claude-Code-sized peak is taken first, from fresh processes.
    """
    peaks: dict[str, int] = {}
    keys = [k for k in args.workloads if WORKLOADS[k].payload == "cc76"]
    for key in keys:
        for target in targets:
            if target.proc is None:
                continue
            out = client.ask(command(target, WORKLOADS[key], 32, args.duration, 64))
            peaks[target.name] = max(peaks.get(target.name, 0), out["peak_rss"][target.name])
    print(
        "peak RSS under 76 KB c=32: " + ", ".join(f"{k} {v / 2**20:.1f} MB" for k, v in peaks.items()),
        file=sys.stderr,
    )
    return peaks


def measure(args: argparse.Namespace, client: Client, targets: list[Target]) -> dict[str, Any]:
    cells = [(key, c) for key in args.workloads for c in args.concurrency]
    results: dict[str, list[dict[str, Any]]] = {}
    print("warm-up round", file=sys.stderr)
    for key, c in cells:
        for target in targets:
            out = client.ask(command(target, WORKLOADS[key], c, 0.1 if args.quick else 0.2, 1))
            if out["errors"]:
                raise SystemExit(f"{target.name} {key} c={c}: {out['errors']} errors: {out['first_error']}")
    for r in range(args.rounds):
        for i, (key, c) in enumerate(cells):
            order = targets[(r + i) % len(targets) :] + targets[: (r + i) % len(targets)]
            for target in order:
                work = WORKLOADS[key]
                least = (4 if work.paced else 20) if c == 1 else 2 * c
                out = client.ask(command(target, work, c, args.duration, least))
                if out["errors"]:
                    print(
                        f"  {target.name} {key} c={c}: {out['errors']} errors: {out['first_error']}",
                        file=sys.stderr,
                    )
                out["round"] = r
                results.setdefault(f"{key}|{c}|{target.name}", []).append(out)
            line = "  ".join(f"{t.name} {1000 * _running_median(results, key, c, t):.2f}" for t in targets)
            print(f"round {r + 1}/{args.rounds} {key:<12} c={c:<3} CPU ms/req: {line}", file=sys.stderr)
    return results


def _running_median(results: dict[str, list[dict[str, Any]]], key: str, c: int, target: Target) -> float:
    proc = target.name if target.proc else "engine"
    return float(statistics.median(r["cpu_per_req"][proc] for r in results[f"{key}|{c}|{target.name}"]))


def profile(args: argparse.Namespace, client: Client, targets: list[Target]) -> None:
    """py-spy on the bridge while the load client drives it: collapsed stacks plus a summary per workload."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    bridge = next(t for t in targets if t.name == "bridge")
    assert bridge.proc is not None
    for key in args.workloads:
        for c in args.concurrency:
            raw = out_dir / f"{key}-c{c}.txt"
            seconds = max(3, int(args.duration * 3))
            spy_proc = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(bridge.proc.pid),
                    "--rate",
                    "2000",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--duration",
                    str(seconds),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            client.ask(command(bridge, WORKLOADS[key], c, seconds - 1.0, 1))
            spy_proc.wait()
            summary = report.profile_summary(raw)
            (out_dir / f"{key}-c{c}.summary.txt").write_text(summary)
            print(f"\n== profile {key} c={c} ({raw})\n{summary}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the ccb bridge (see docs/benchmarks.md).")
    parser.add_argument("--quick", action="store_true", help="one short round after a shorter warm-up")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=1.2, help="seconds per target per cell per round")
    parser.add_argument("--concurrency", default="1,32", help="comma-separated, e.g. 1,32")
    parser.add_argument(
        "--workloads",
        default=",".join(DEFAULT_WORKLOADS),
        help=f"comma-separated from {', '.join(WORKLOADS)} (default: all but 76k-tool-paced)",
    )
    parser.add_argument(
        "--entry",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the bridge started by bench/serve.py: start_bridge alone, without the "
        "CLI's imports and request log (default: on)",
    )
    parser.add_argument(
        "--uvloop", action="store_true", help="also measure the relay and the bridge on uvloop"
    )
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also measure a bridge importing ccb.proxy from DIR (a private copy with a change)",
    )
    parser.add_argument(
        "--workers",
        default="",
        help="also measure `ccb serve --workers N` for each N given, e.g. 2 (comma-separated)",
    )
    parser.add_argument("--burst", action="store_true", help="the fake engine sends each stream in one write")
    parser.add_argument(
        "--profile", metavar="DIR", help="after measuring, profile the bridge with py-spy into DIR"
    )
    parser.add_argument("--json", metavar="FILE", help="write every round's raw figures here")
    parser.add_argument("--markdown", metavar="FILE", help="write the result tables here as Markdown")
    parser.add_argument(
        "--from-json", metavar="FILE", help="run nothing: render the tables of an earlier --json"
    )
    args = parser.parse_args()
    if args.from_json:
        raw = json.loads(Path(args.from_json).read_text())
        keys = list(dict.fromkeys(k.split("|")[0] for k in raw["results"]))
        conc = sorted({int(k.split("|")[1]) for k in raw["results"]})
        names = list(dict.fromkeys(k.split("|")[2] for k in raw["results"]))
        names = ["direct", "relay", "bridge"] + [n for n in names if n not in ("direct", "relay", "bridge")]
        print(
            report.render(
                raw["results"],
                WORKLOADS,
                keys,
                conc,
                names,
                raw["idle_rss"],
                raw.get("fresh_peak_rss", {}),
                raw["meta"],
            )
        )
        return
    if args.quick:
        args.rounds, args.duration = 1, 0.5
    args.concurrency = [int(x) for x in args.concurrency.split(",")]
    args.workers = [int(x) for x in args.workers.split(",") if x]
    args.workloads = args.workloads.split(",")
    for key in args.workloads:
        if key not in WORKLOADS:
            parser.error(f"unknown workload {key!r}")

    speed_before = report.calibrate()
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the children are stopped on the way out
    started = time.monotonic()
    try:
        targets = start_targets(args, procs)
        client = Client(procs)
        specs = {
            (WORKLOADS[k].payload, WORKLOADS[k].stream, WORKLOADS[k].tool, WORKLOADS[k].paced, t.body)
            for k in args.workloads
            for t in targets
        }
        client.ask({"cmd": "prepare", "bodies": sorted(specs)})
        idle = {t.name: sum(rss(pid) for pid in _pids(t.watch[t.name])) for t in targets if t.proc}
        fresh = memory(args, client, targets) if 32 in args.concurrency else {}
        results = measure(args, client, targets)
        if args.profile:
            profile(args, client, targets)
    finally:
        procs.stop()
    meta = report.machine(args, time.monotonic() - started)
    meta["calibration"] = (speed_before, report.calibrate())
    names = [t.name for t in targets]
    text = report.render(results, WORKLOADS, args.workloads, args.concurrency, names, idle, fresh, meta)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        raw = {"meta": meta, "idle_rss": idle, "fresh_peak_rss": fresh, "results": results}
        Path(args.json).write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
