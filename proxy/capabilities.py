"""What each model behind the engine can do, learned once per model and cached. Does network I/O.

Today: whether a model takes a thinking switch. Ollama says so in `POST /api/show` (`capabilities`
holds "thinking" since 0.6.4); other engines have no such read-only signal, so their models are
assumed able until the engine refuses a switch once, which `refused` records for the bridge's life.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from ccb.proxy.upstream import Upstream

log = logging.getLogger("ccb.bridge")

MAX_SHOW_BODY = 4 << 20  # /api/show carries the model's template and license text


class Capabilities:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._thinking: dict[str, bool | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def thinking(self, model: str) -> bool | None:
        """True or False when known, None when the engine does not say (then a switch is sent)."""
        if model in self._thinking:
            return self._thinking[model]
        lock = self._locks.setdefault(model, asyncio.Lock())
        async with lock:
            if model not in self._thinking:
                found = await self._learn_thinking(model)
                self._thinking[model] = found
                if found is not None:
                    log.info("model %s %s thinking", model, "supports" if found else "does not support")
        return self._thinking[model]

    def refused(self, model: str) -> None:
        """The engine refused a thinking switch for `model`: send none from now on."""
        if self._thinking.get(model) is not False:
            log.info("model %s refused the thinking switch; sending none from now on", model)
        self._thinking[model] = False

    async def _learn_thinking(self, model: str) -> bool | None:
        if self.upstream.config.dialect.name != "ollama":
            return None
        from ccb.proxy.upstream import read_capped

        url = self.upstream.config.root_url + "/api/show"
        timeout = aiohttp.ClientTimeout(total=10, sock_connect=self.upstream.config.connect_timeout)
        try:
            async with self.upstream.session.post(
                url, json={"model": model}, headers=self.upstream.headers, timeout=timeout, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    return None
                data = json.loads(await read_capped(resp, MAX_SHOW_BODY))
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        caps = data.get("capabilities") if isinstance(data, dict) else None
        if not isinstance(caps, list):
            return None  # an Ollama older than 0.6.4: no way to know
        return "thinking" in caps
