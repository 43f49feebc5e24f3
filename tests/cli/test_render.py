"""Terminal output: data on stdout (JSON in a stable key order), chatter on stderr, markup never injected."""

from __future__ import annotations

import pytest

from ccb.cli import render


def test_print_json_keeps_key_order_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    render.print_json({"name": "kimi", "model": "kimi-k2.7-code", "note": "é ✓"})
    out, err = capsys.readouterr()
    assert out == '{\n  "name": "kimi",\n  "model": "kimi-k2.7-code",\n  "note": "é ✓"\n}\n' and err == ""


def test_messages_go_to_stderr_with_user_text_taken_literally(capsys: pytest.CaptureFixture[str]) -> None:
    render.error("no profile named '[bold]x[/bold]'")
    render.warn("engine at [::1] is slow")
    render.info("plain [not markup]")
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "error: no profile named '[bold]x[/bold]'",
        "warning: engine at [::1] is slow",
        "plain [not markup]",
    ]
