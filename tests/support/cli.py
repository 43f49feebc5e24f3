"""ccb in-process in tests, for set-up steps: `ccb(*args)` and the native-Anthropic profile many tests add.

Runs the Typer app through CliRunner (whatever I/O the command does, in the test's own process).
"""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from ccb.cli.app import app


def ccb(*args: str) -> Any:
    """Run a ccb command in-process (for set-up steps); fails the test on a non-zero exit."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.stderr if hasattr(result, "stderr") else "")
    return result


def add_anthropic_profile(
    name: str,
    url: str,
    *,
    model: str,
    preset: str = "custom",
    api_key: str | None = None,
    api_key_env: str | None = None,
    haiku_model: str | None = None,
    context_length: int | None = None,
) -> None:
    """`ccb profile add NAME --preset custom --protocol anthropic --base-url URL --model MODEL ...`: a provider's
    native Anthropic endpoint, with the key given (`api_key`) or named (`api_key_env`)."""
    args = ["profile", "add", name, "--preset", preset, "--protocol", "anthropic", "--base-url", url]
    if api_key is not None:
        args += ["--api-key", api_key]
    if api_key_env is not None:
        args += ["--api-key-env", api_key_env]
    args += ["--model", model]
    if haiku_model is not None:
        args += ["--haiku-model", haiku_model]
    if context_length is not None:
        args += ["--context-length", str(context_length)]
    ccb(*args)
