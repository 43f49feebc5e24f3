"""HTTP plumbing shared by the engine probes: bounded GETs and read-only POSTs.

Does network I/O. Every request is bounded twice: by the per-request timeout and by the candidate's overall
deadline, so one slow or silent server cannot stretch a probe. Failures are returned as values
(`Reply.failure`) rather than raised, because a follow-up check that fails only means "we learned nothing
more".
"""

from __future__ import annotations

import asyncio
import errno
import json
from typing import Any

import httpx

from ccb.cli.engines.reply import Reply

# Bodies larger than this are not an engine's JSON metadata; stop reading rather than buffer a file download.
MAX_BODY = 4 * 1024 * 1024

# The only POST routes a probe may call. All three count or describe; none generates, loads or changes state.
READ_ONLY_POSTS = frozenset({"/api/show", "/v1/messages/count_tokens", "/tokenize"})


def _is_refusal(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        if isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED:
            return True
        seen = seen.__cause__ or seen.__context__
    return "refused" in str(exc).lower()


class Fetcher:
    """Requests against one engine root, sharing a client, the auth headers and a deadline."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        root: str,
        *,
        headers: dict[str, str],
        timeout: float,
        deadline: float,
    ) -> None:
        self.client = client
        self.root = root
        self.headers = headers
        self.timeout = timeout
        self.deadline = deadline  # in asyncio loop time

    def _budget(self) -> float:
        return min(self.timeout, self.deadline - asyncio.get_running_loop().time())

    async def get(self, path: str) -> Reply:
        return await self._send("GET", path, None)

    async def post(self, path: str, payload: dict[str, Any]) -> Reply:
        if path not in READ_ONLY_POSTS:  # a probe must never trigger generation or change engine state
            raise ValueError(f"refusing to POST {path}: not a read-only probe route")
        return await self._send("POST", path, payload)

    async def _send(self, method: str, path: str, payload: dict[str, Any] | None) -> Reply:
        budget = self._budget()
        if budget <= 0:
            return Reply(0, failure="timeout", reason="probe deadline reached")
        headers = dict(self.headers)
        content: bytes | None = None
        if payload is not None:
            headers["content-type"] = "application/json"
            content = json.dumps(payload).encode()
        try:
            # httpx timeouts apply per network operation; asyncio.timeout caps the whole exchange, so a server
            # trickling bytes cannot hold the probe open.
            async with asyncio.timeout(budget):
                async with self.client.stream(
                    method, self.root + path, headers=headers, content=content, timeout=budget
                ) as response:
                    raw = bytearray()
                    async for chunk in response.aiter_bytes():
                        raw += chunk
                        if len(raw) > MAX_BODY:
                            break
                    status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            return Reply(0, failure="timeout", reason=f"timed out after {round(min(budget, self.timeout), 2):g} s")
        except httpx.ConnectError as exc:
            if _is_refusal(exc):
                return Reply(0, failure="refused", reason="connection refused")
            return Reply(0, failure="error", reason=f"could not connect: {exc}")
        except (httpx.RemoteProtocolError, httpx.LocalProtocolError):
            return Reply(0, failure="protocol", reason="the port is open but does not speak HTTP")
        except httpx.HTTPError as exc:
            return Reply(0, failure="error", reason=f"{type(exc).__name__}: {exc}")
        try:
            body: Any = json.loads(raw) if raw and len(raw) <= MAX_BODY else None
        except ValueError:  # HTML, plain text, binary: not an engine's JSON
            body = None
        return Reply(status, body)


def auth_headers(api_key: str | None) -> dict[str, str]:
    """The key both ways: OpenAI-style servers read Bearer, Anthropic-style ones read x-api-key."""
    if not api_key:
        return {}
    return {"authorization": f"Bearer {api_key}", "x-api-key": api_key}
