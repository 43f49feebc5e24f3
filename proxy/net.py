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
