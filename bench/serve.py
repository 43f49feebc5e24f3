"""A small entry that runs the bridge with `start_bridge`, for variants `ccb serve` cannot express. Does I/O.

`python bench/serve.py --upstream URL --token T [--loop uvloop] [--proxy-src DIR]` prints `PORT <n>`.

- `--loop uvloop` runs the same bridge on uvloop, to measure what that loop buys.
- `--proxy-src DIR` imports `ccb.proxy` from DIR instead of the installed tree: a private copy with a
  candidate change, measured side by side with the installed bridge in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType


class _ProxyFrom(importlib.abc.MetaPathFinder):
    """Resolves `ccb.proxy` and its submodules from another directory, ahead of the editable install."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "ccb.proxy":
            return importlib.util.spec_from_file_location(
                fullname, self.root / "__init__.py", submodule_search_locations=[str(self.root)]
            )
        if fullname.startswith("ccb.proxy."):
            return importlib.machinery.PathFinder.find_spec(fullname, path)
        return None


async def serve(args: argparse.Namespace) -> None:
    from ccb.proxy.config import BridgeConfig, ModelMap, dialect_for
    from ccb.proxy.runner import start_bridge

    config = BridgeConfig(
        upstream=args.upstream.rstrip("/"),
        models=ModelMap(default=args.model),
        auth_token=args.token,
        dialect=dialect_for(args.engine),
    )
    bridge = await start_bridge(config, "127.0.0.1", args.port)
    print(f"PORT {bridge.port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await bridge.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--model", default="bench-model")
    parser.add_argument("--engine", default="vllm")
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--proxy-src", type=Path, help="a directory laid out like proxy/")
    args = parser.parse_args()
    if args.proxy_src:
        if not (args.proxy_src / "__init__.py").is_file():
            parser.error(f"--proxy-src {args.proxy_src}: no __init__.py there")
        sys.meta_path.insert(0, _ProxyFrom(args.proxy_src.resolve()))
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args))
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
