"""Address helpers shared by the bridge and the CLI. Pure, no I/O."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(url: str) -> bool:
    """The URL points at this machine (localhost, 127.0.0.0/8, ::1). The one loopback test ccb uses."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # a malformed URL (e.g. a bad IPv6 literal) is no loopback address
        return False
    return is_loopback_host(host)


def root_url(url: str) -> str:
    """An engine's root from its OpenAI base: `http://h:p/v1/` -> `http://h:p`. The one place ccb cuts the /v1.

    Claude Code appends /v1/messages to its base URL itself, and an engine's /props, /tokenize and count_tokens
    routes live at the root.
    """
    return url.rstrip("/").removesuffix("/v1")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def health_proof(token: str, challenge: str) -> str:
    """What a bridge holding `token` answers to `GET /health?challenge=...`: proof it is the user's own
    bridge, without the token ever being sent to whatever listens on the port."""
    import hashlib
    import hmac

    return hmac.new(token.encode(), b"ccb-health:" + challenge.encode(), hashlib.sha256).hexdigest()


_CONTROL = None


def printable(text: str) -> str:
    """`text` with control characters (C0, DEL, C1: terminal escapes, newlines that forge log lines)
    shown as \\xNN escapes: for anything a peer chose that ends up in a log line or on a terminal."""
    global _CONTROL
    if _CONTROL is None:
        import re

        _CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def host_is_loopback_name(host_header: str) -> bool:
    """A Host header naming this machine's loopback address (a DNS-rebinding page sends its own name)."""
    host = host_header.strip()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return is_loopback_host(host.lower().rstrip("."))
