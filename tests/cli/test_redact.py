"""One rule for a secret-looking name, one mask, one scrub (`ccb.cli.redact`)."""

from __future__ import annotations

import pytest

from ccb.cli.redact import looks_secret, masked, scrub, scrubbable


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("ANTHROPIC_API_KEY", True),
        ("ANTHROPIC_AUTH_TOKEN", True),
        ("GITHUB_TOKEN_FILE", True),
        ("db_password", True),
        ("CLIENT_SECRET", True),
        ("CLAUDE_CODE_MAX_OUTPUT_TOKENS", False),
        ("CLAUDE_CODE_TOTAL_TOKENS_REMINDER", False),
        ("ANTHROPIC_BASE_URL", False),
        ("API_TIMEOUT_MS", False),
    ],
)
def test_secret_looking_names(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_masked_only_when_the_name_looks_secret() -> None:
    assert masked("MY_API_KEY", "sk-abcdefgh1234") == "••••1234"
    assert masked("MY_API_KEY", "short") == "••••"
    assert masked("ANTHROPIC_MODEL", "glm-5.1") == "glm-5.1"


def test_scrub_masks_the_longest_secret_first_and_skips_numbers() -> None:
    secrets = scrubbable(["sk-abcdefgh", "sk-abcdefgh-long-1234", "300000", "1", ""])
    assert secrets == ("sk-abcdefgh-long-1234", "sk-abcdefgh")
    text = "echoed sk-abcdefgh-long-1234 and sk-abcdefgh after 300000 ms"
    assert scrub(text, secrets) == "echoed ••••1234 and •••• after 300000 ms"
    assert scrub("nothing here", ["", "x" * 12]) == "nothing here"
