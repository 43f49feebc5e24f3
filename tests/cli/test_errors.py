"""The one user-facing error and the exit codes (STYLE rule 6: 0 ok, 1 error, 2 usage, 130 Ctrl-C)."""

from __future__ import annotations

from ccb.cli.errors import CcbError, ExitCode


def test_exit_codes_are_the_documented_numbers() -> None:
    assert [(code.name, int(code)) for code in ExitCode] == [
        ("OK", 0),
        ("ERROR", 1),
        ("USAGE", 2),
        ("INTERRUPTED", 130),
    ]


def test_a_ccb_error_carries_its_message_and_exits_1_unless_told() -> None:
    error = CcbError("no profile named 'x': run ccb profile list")
    assert (error.message, str(error), error.exit_code) == (
        "no profile named 'x': run ccb profile list",
        "no profile named 'x': run ccb profile list",
        ExitCode.ERROR,
    )
    assert CcbError("bad flag", ExitCode.USAGE).exit_code == 2
