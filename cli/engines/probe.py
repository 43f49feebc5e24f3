"""Find local inference engines and tell what they can do. Does network I/O (httpx), never with side effects.

Recipe (docs/probe.md): `GET /v1/models` first; its `owned_by` names vLLM, SGLang, llama.cpp or (probably)
LM Studio, and one confirming GET per kind follows. Otherwise fingerprint routes are tried in turn (Ollama
`/api/version`, LM Studio `/lmstudio-greeting`, llama.cpp `/props`, TGI `/info`, MLX `/health`). Every match
is on the body's shape: LM Studio answers unknown routes with 200, and llama.cpp answers 503 on every
route while loading.

Only GETs and three read-only counting POSTs are ever sent (see `http.READ_ONLY_POSTS`); never generation,
model loading, cache flushing or SGLang's `/health_generate`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import httpx

from ccb.cli.engines import llamacpp, lmstudio, ollama, others, sglang, vllm
from ccb.cli.engines.families import FAMILIES
from ccb.cli.engines.http import Fetcher, client_for, list_models, probe_headers
from ccb.cli.engines.reply import NEEDS_KEY_DETAIL, Listing, Reply
from ccb.cli.engines.status import EngineStatus, ModelInfo
from ccb.proxy.net import root_url

__all__ = [
    "DEFAULT_PORTS",
    "EngineStatus",
    "ModelInfo",
    "list_models",
    "normalise_root",
    "probe_local",
    "probe_url",
]

# Ollama, LM Studio, vLLM, SGLang, llama.cpp (also TGI-in-docker, MLX-LM, LocalAI) default ports.
DEFAULT_PORTS: tuple[int, ...] = tuple(f.port for f in FAMILIES.values() if f.port is not None)
# CCB_PROBE_PORTS="8080,9000" replaces that list (engines on other ports, or none probed with "").
PORTS_ENV = "CCB_PROBE_PORTS"


def local_ports() -> tuple[int, ...]:
    """The ports `probe_local` looks at: $CCB_PROBE_PORTS when set, else the engines' defaults."""
    value = os.environ.get(PORTS_ENV)
    if value is None:
        return DEFAULT_PORTS
    return tuple(int(p) for p in value.replace(",", " ").split() if p.isdigit() and 0 < int(p) < 65536)


# The first request gets the full timeout; the identification and capability checks that follow share what
# remains of this multiple of it. A silent port therefore costs one timeout, and a slow engine at most two.
DEADLINE_FACTOR = 2.0

NOT_ENGINE_DETAIL = "answers HTTP but is not an inference engine (no model list, no known engine route)"


def normalise_root(url: str) -> str:
    """`host:port`, `http://h:p/`, `http://h:p/v1` -> `http://h:p`. ValueError for a non-http(s) URL."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    _ = parts.port  # raises ValueError on a malformed port, which is what the caller should see
    return urlunsplit((parts.scheme, parts.netloc, root_url(parts.path), "", ""))


def _unreachable(root: str, reply: Reply) -> EngineStatus:
    if reply.failure == "refused":
        return EngineStatus(root, "refused", detail="connection refused (nothing is listening there)")
    if reply.failure == "timeout":
        return EngineStatus(root, "timeout", detail=reply.reason)
    if reply.failure == "protocol":
        return EngineStatus(root, "not_engine", detail=reply.reason)
    return EngineStatus(root, "error", detail=reply.reason or "request failed")


async def _by_fingerprint(
    fetch: Fetcher, listing: Listing, first: Reply, *, greeting_tried: bool = False
) -> EngineStatus:
    """Identify an engine whose model list did not name it, one fingerprint route at a time."""
    version = ollama.version_from(await fetch.get("/api/version"))
    if version:
        return await ollama.identify(fetch, listing, version=version)
    if not greeting_tried and lmstudio.is_greeting(await fetch.get("/lmstudio-greeting")):
        found = await lmstudio.identify(fetch, listing, greeted=True)
        if found is not None:
            return found
    if listing.needs_key:
        # The model list is locked; vLLM's /version and SGLang's server info may still be public.
        facts = await sglang.fetch_facts(fetch)
        if facts is not None:
            return await sglang.identify(fetch, listing, facts=facts)
        version_reply = await fetch.get("/version")
        if vllm.version_of(version_reply):
            return await vllm.identify(fetch, listing, version_reply=version_reply)
    props_reply = await fetch.get("/props")
    if llamacpp.props_from(props_reply) is not None:
        return await llamacpp.identify(fetch, listing, props_reply=props_reply)
    info = await fetch.get("/info")
    if others.is_tgi_info(info):
        return others.tgi(fetch, listing, info)
    if listing.valid:
        if listing.owner is None and others.looks_like_mlx(listing, await fetch.get("/health")):
            return others.mlx(fetch, listing)
        return await others.generic(fetch, listing)
    if listing.needs_key:
        return EngineStatus(fetch.root, "needs_key", detail=NEEDS_KEY_DETAIL + "; the engine kind is unknown")
    if first.status >= 500:
        return EngineStatus(fetch.root, "error", detail=f"/v1/models answered HTTP {first.status}")
    return EngineStatus(fetch.root, "not_engine", detail=NOT_ENGINE_DETAIL)


async def _identify(fetch: Fetcher) -> EngineStatus:
    first = await fetch.get("/v1/models")
    if first.failure:
        return _unreachable(fetch.root, first)
    if llamacpp.is_loading(first):
        return EngineStatus(fetch.root, "loading", kind="llamacpp", detail=llamacpp.LOADING_DETAIL)
    listing = Listing.from_reply(first)
    owner = listing.owner
    if owner == "vllm":
        return await vllm.identify(fetch, listing)
    if owner == "sglang":
        return await sglang.identify(fetch, listing)
    if owner == "llamacpp":
        return await llamacpp.identify(fetch, listing)
    if owner == "organization_owner":  # LM Studio's marker, but a guess until the greeting confirms it
        found = await lmstudio.identify(fetch, listing)
        if found is not None:
            return found
        return await _by_fingerprint(fetch, listing, first, greeting_tried=True)
    return await _by_fingerprint(fetch, listing, first)


async def probe_url(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = 1.5,
    client: httpx.AsyncClient | None = None,
) -> EngineStatus:
    """Probe one engine. `url` may be a root (`http://h:p`) or an OpenAI base (`http://h:p/v1`).

    Never raises for network trouble: refusals, timeouts and strangers come back as a status with a plain
    `detail`.
    Raises ValueError only for a URL that is not http(s).
    """
    root = normalise_root(url)
    own_client = client is None
    active = client if client is not None else client_for(root)
    try:
        deadline = asyncio.get_running_loop().time() + timeout * DEADLINE_FACTOR
        fetch = Fetcher(active, root, headers=probe_headers(api_key), timeout=timeout, deadline=deadline)
        return await _identify(fetch)
    finally:
        if own_client:
            await active.aclose()


async def probe_urls(urls: Iterable[str], *, api_key: str | None = None, timeout: float = 1.5) -> list[EngineStatus]:
    """Probe several URLs concurrently, each with a client suited to its host; results in input order."""
    return list(await asyncio.gather(*(probe_url(u, api_key=api_key, timeout=timeout) for u in urls)))


async def probe_local(
    *, timeout: float = 1.5, host: str = "127.0.0.1", ports: Iterable[int] = DEFAULT_PORTS
) -> list[EngineStatus]:
    """Probe the usual engine ports on this machine concurrently; results in port order."""
    if ports is DEFAULT_PORTS:
        ports = local_ports()
    netloc = f"[{host}]" if ":" in host else host
    async with client_for(f"http://{netloc}") as client:
        return list(
            await asyncio.gather(
                *(probe_url(f"http://{netloc}:{port}", timeout=timeout, client=client) for port in ports)
            )
        )
