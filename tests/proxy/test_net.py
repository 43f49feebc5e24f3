"""Address helpers: the one loopback test, the Host check, printable log text, the health proof. Pure."""

from __future__ import annotations

import pytest

from ccb.proxy.net import health_proof, host_is_loopback_name, is_loopback, printable


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://127.9.8.7", True),
        ("http://localhost:11434", True),
        ("http://[::1]:8080/v1", True),
        ("http://192.168.1.20:8000/v1", False),
        ("https://api.moonshot.ai/anthropic", False),
        ("http://localhost.evil.example", False),
        ("http://[::1", False),  # malformed: not loopback, no exception
        ("", False),
    ],
)
def test_is_loopback(url: str, expected: bool) -> None:
    assert is_loopback(url) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1:4000", True),
        ("localhost", True),
        ("LOCALHOST.:4000", True),
        ("[::1]:4000", True),
        ("evil.example:4000", False),
        ("127.0.0.1.evil.example", False),
        ("", False),
    ],
)
def test_host_header_names_loopback(host: str, expected: bool) -> None:
    assert host_is_loopback_name(host) is expected


def test_printable_escapes_control_characters_only() -> None:
    assert printable("plain text, ünïcode") == "plain text, ünïcode"
    assert printable("a\nb\x1b[31mc\x7f\x9b") == "a\\x0ab\\x1b[31mc\\x7f\\x9b"


def test_health_proof_depends_on_token_and_challenge() -> None:
    proof = health_proof("token-a", "c1")
    assert proof == health_proof("token-a", "c1") and len(proof) == 64
    assert proof != health_proof("token-b", "c1") and proof != health_proof("token-a", "c2")
    assert "token-a" not in proof
