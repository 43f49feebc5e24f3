"""`ccb doctor`: parse options, run the checks (ccb.cli.doctor.run), print a grouped report or JSON.

The checks do the I/O; this module only prints. The report goes to stdout (it is the command's data);
exit code 1 when any check fails.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from ccb.cli import render
from ccb.cli.complete import profile_names
from ccb.cli.doctor.context import AREAS, Check

_MARKS = {
    "ok": "[green]✓[/]",
    "warn": "[yellow]![/]",
    "fail": "[bold red]✗[/]",
    "skip": "[dim]-[/]",
}


def _print_report(checks: list[Check]) -> None:
    out = render.out
    area: str | None = None
    for check in checks:
        if check.area != area:
            if area is not None:
                out.print()
            area = check.area
            out.print(f"[bold]{escape(AREAS.get(area, area))}[/]")
        text = escape(check.finding)
        out.print(f"  {_MARKS.get(check.status, '?')} {'[dim]' + text + '[/]' if check.status == 'skip' else text}")
        if check.fix and check.status in ("warn", "fail"):
            out.print(f"      [cyan]fix:[/] {escape(check.fix)}")
    from ccb.cli.doctor.run import summary

    counts = summary(checks)
    out.print()
    out.print(
        f"[bold]{counts['ok']} ok, {counts['warn']} warning{'s' if counts['warn'] != 1 else ''}, "
        f"{counts['fail']} failed, {counts['skip']} skipped[/]"
    )


def doctor(
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", "-p", help="Profile to check (default: the active one).", autocompletion=profile_names
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print {checks: [...], summary: {...}} as JSON (docs/doctor.md).")
    ] = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="No requests to the backend or engine: skip those checks and the smoke test."),
    ] = False,
) -> None:
    """Find and explain every reason Claude Code won't work with a backend.

    Checks the Claude Code install and its settings files (where each ANTHROPIC_* value comes from and
    what overrides what), auth conflicts, base-URL pitfalls, the profile's backend (reachable, key, model),
    a local engine's context window and tool calling, a live request through the route `ccb launch` would
    use, and the detached bridge. Exit code 1 when any check fails.

    Examples:

        ccb doctor

        ccb doctor --profile local-qwen --offline

        ccb doctor --json
    """
    from ccb.cli.doctor.run import report, run_doctor  # the checks load only when doctor runs

    checks = run_doctor(profile, offline=offline)
    if json_output:
        render.print_json(report(checks))
    else:
        _print_report(checks)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)
