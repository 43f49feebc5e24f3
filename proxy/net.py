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
