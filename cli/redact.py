"""Which values are secrets and how ccb shows them: one rule for a secret-looking name, one mask, one scrub. No I/O.

Every place the CLI prints or stores something that may hold a key (profiles, doctor's report, launch's override
warnings, the wizard, setup's test) goes through here. The bridge keeps its own two (`BridgeConfig.redact`
writes "[redacted]" into engine errors it relays, and `ccb.profiles.redact_url` hides a password in a URL),
because `ccb.proxy` never imports `ccb.cli`.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "••••"
_TAIL_FROM = 12  # a key shows its last 4 characters only when it is at least this long
_SCRUB_FROM = 8  # shorter values ("1", "300000") are no credential, and scrubbing them garbles ordinary text


def looks_secret(name: str) -> bool:
    """A variable or field name that probably holds a credential: *KEY*, *SECRET*, *PASSWORD*, and *TOKEN* except
    the *TOKENS counters (CLAUDE_CODE_MAX_OUTPUT_TOKENS is a number worth showing)."""
    upper = name.upper()
    return any(w in upper for w in ("KEY", "SECRET", "PASSWORD")) or ("TOKEN" in upper and "TOKENS" not in upper)


def key_tail(key: str) -> str:
    """The part of a key that may be shown: its last 4 characters, and none at all for keys too short to spare them."""
    return key[-4:] if len(key) >= _TAIL_FROM else ""


def mask_key(key: str) -> str:
    """`••••abcd` (see `key_tail`)."""
    return MASK + key_tail(key)


def masked(name: str, value: str) -> str:
    """The value as it may be shown: masked when the name looks secret."""
    return mask_key(value) if looks_secret(name) else value


def scrubbable(values: Iterable[str]) -> tuple[str, ...]:
    """The values worth scrubbing from text, longest first so that no secret is half-masked."""
    return tuple(sorted({v for v in values if len(v) >= _SCRUB_FROM and not v.isdigit()}, key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every one of `secrets` that slipped in (an echoed error body, say) replaced by its mask."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask_key(secret))
    return text
