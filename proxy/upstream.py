"""The one HTTP client the bridge uses to reach its engine, plus the engine facts it caches
(context window, token counting). Does network I/O."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from ccb.proxy.affinity import engine_headers
from ccb.proxy.capabilities import Capabilities
from ccb.proxy.config import BridgeConfig
from ccb.proxy.net import is_loopback

log = logging.getLogger("ccb.bridge")

MAX_ERROR_BODY = 1 << 20
LARGE_BODY = 1 << 20
# While the engine cannot be reached, its window is probed again at most this often (seconds): a bridge
# started before its engine learns the window once the engine is up, without a probe per request.
WINDOW_RETRY = 30.0


async def read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body, or its first `cap` bytes (`content.read(cap)` alone stops after one network read)."""
    parts: list[bytes] = []
    size = 0
    while size < cap:
        data = await resp.content.readany()
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)[:cap]


class Upstream:
    """Shared client session and cached engine facts for one bridge."""

    def __init__(self, config: BridgeConfig, on_engine: Callable[[bool], None] | None = None) -> None:
        self.config = config
        self._on_engine = on_engine  # told whether each chat request reached the engine
        self._session: aiohttp.ClientSession | None = None
        self._window: int | None = config.context_length
        self._window_known = config.context_length is not None
        self._window_lock = asyncio.Lock()
        self._window_retry_at = 0.0  # loop time before which an unreachable engine is not probed again
        self._reached = False  # some probe got a definite HTTP answer (not a 5xx)
        self._count_route: str | None = None  # the counting route that worked, or "" when none does
        self.headers = config.upstream_headers()
        self.caps = Capabilities(self)

    async def start(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
        # No sock_read here: aiohttp would apply it to the wait for headers too, so a long prefill would
        # hit the idle timeout. The relay applies first_byte_timeout and idle_timeout itself.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.connect_timeout)
        # Proxy variables are honoured for remote APIs only: a proxy in front of loopback breaks it.
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            trust_env=not is_loopback(self.config.upstream),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("upstream session not started")
        return self._session

    async def post_chat(self, payload: bytes, session_id: str | None = None) -> aiohttp.ClientResponse:
        """Send the chat-completions request; the caller reads and closes the response.

        `session_id` goes out in the affinity headers, so a router keeps the session on one replica."""
        # aiohttp writes raw bytes in one go; past 1 MB a file-like body is streamed in pieces instead.
        data: bytes | io.BytesIO = payload if len(payload) <= LARGE_BODY else io.BytesIO(payload)
        # Never follow a redirect: the key headers and the prompt must reach the configured host only.
        headers = engine_headers(self.headers, self.config.affinity_headers, session_id)
        try:
            resp = await self.session.post(self.config.chat_url, data=data, headers=headers, allow_redirects=False)
        except (aiohttp.ClientError, OSError):
            if self._on_engine:
                self._on_engine(False)
            raise
        if self._on_engine:
            self._on_engine(True)
        return resp

    # -- context window --------------------------------------------------------------------

    def known_window(self) -> int | None:
        """The window if it is known already (no engine request)."""
        return self._window if self._window_known else None

    async def window(self) -> int | None:
        """The engine's context window: configured, else read from /v1/models or /props once the engine
        answers (an engine that is down is asked again after WINDOW_RETRY seconds, not on every request)."""
        if self._window_known:
            return self._window
        loop = asyncio.get_running_loop()
        if loop.time() < self._window_retry_at:
            return None
        async with self._window_lock:
            if not self._window_known and loop.time() >= self._window_retry_at:
                self._reached = False
                self._window = await self._discover_window()
                if self._window or self._reached:
                    self._window_known = True  # found, or the engine answered without telling
                    if self._window:
                        log.info("engine context window: %d tokens", self._window)
                else:
                    self._window_retry_at = loop.time() + WINDOW_RETRY
                    log.info("engine not reachable for its context window; asking again in %g s", WINDOW_RETRY)
        return self._window

    async def _discover_window(self) -> int | None:
        data = await self._get_json(self.config.upstream.rstrip("/") + "/models")
        wanted = self.config.models.default
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            entries = [e for e in data["data"] if isinstance(e, dict)]
            entries.sort(key=lambda e: e.get("id") != wanted)
            for entry in entries:
                ctx = _entry_window(entry)
                if ctx:
                    return ctx
        props = await self._get_json(self.config.root_url + "/props")
        if isinstance(props, dict):
            settings = props.get("default_generation_settings")
            if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
                return int(settings["n_ctx"])
        return None

    async def _get_json(self, url: str) -> Any:
        try:
            timeout = aiohttp.ClientTimeout(total=5, sock_connect=self.config.connect_timeout)
            async with self.session.get(url, headers=self.headers, timeout=timeout, allow_redirects=False) as resp:
                if resp.status != 200:
                    return None
                return json.loads(await read_capped(resp, MAX_ERROR_BODY))
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None

    # -- token counting ----------------------------------------------------------------------

    async def count_tokens(self, body: dict[str, Any], translated: dict[str, Any]) -> int | None:
        """Exact prompt tokens through the engine's own tokenizer, or None when it has none."""
        if self._count_route == "":
            return None
        routes = [self._count_route] if self._count_route else self._count_routes()
        for route in routes:
            count = await self._count_via(route, body, translated)
            if count is not None:
                self._count_route = route
                return count
        if not self._count_route:
            self._count_route = ""
        return None

    def _count_routes(self) -> list[str]:
        name = self.config.dialect.name
        if name in ("llamacpp", "sglang"):
            return ["messages", "tokenize"]
        if name == "vllm":
            return ["tokenize", "messages"]
        return []  # Ollama has no counting route; LM Studio answers 200 with an error body

    async def _count_via(self, route: str, body: dict[str, Any], translated: dict[str, Any]) -> int | None:
        root = self.config.root_url
        if route == "messages":
            url = root + "/v1/messages/count_tokens"
            payload: dict[str, Any] = {k: v for k, v in body.items() if k in ("messages", "system", "tools")}
            payload["model"] = translated["model"]
            key = "input_tokens"
        else:
            url = root + "/tokenize"
            payload = {"model": translated["model"], "messages": translated["messages"]}
            if translated.get("tools"):
                payload["tools"] = translated["tools"]
            key = "count"
        try:
            async with self.session.post(
                url,
                json=payload,
                headers=self.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=30, sock_connect=self.config.connect_timeout),
            ) as resp:
                if resp.status != 200:
                    return None
                data = json.loads(await read_capped(resp, MAX_ERROR_BODY))
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None
        if not isinstance(data, dict) or "error" in data:
            return None
        value = data.get(key)
        if key == "count" and value is None and isinstance(data.get("tokens"), list):
            value = len(data["tokens"])
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _entry_window(entry: dict[str, Any]) -> int | None:
    for key in ("max_model_len", "context_length", "loaded_context_length", "max_context_length"):
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    meta = entry.get("meta")
    if isinstance(meta, dict):
        for key in ("n_ctx", "n_ctx_train"):
            if isinstance(meta.get(key), int) and meta[key] > 0:
                return int(meta[key])
    return None
