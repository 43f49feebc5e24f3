"""The `ccb` command: the Typer app, its global options, and the only place errors become exit codes."""

from __future__ import annotations

import errno
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer

from ccb.cli import render
from ccb.cli.commands import doctor, launch, logs, probe, profile, restore, serve
from ccb.cli.errors import CcbError, ExitCode

app = typer.Typer(
    name="ccb",
    help="Run Claude Code on the model of your choice.",
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def ccb_version() -> str:
    try:
        return version("ccb")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0+unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ccb {ccb_version()}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    show_version: Annotated[
        bool | None,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    _state["debug"] = debug
    if ctx.invoked_subcommand is None:
        from ccb.cli.commands import setup as setup_command

        if setup_command.should_onboard():  # a terminal and no profile yet: walk the user through set-up
            setup_command.setup()
            raise typer.Exit(0)
        typer.echo(ctx.get_help())
        raise typer.Exit(ExitCode.USAGE)


@app.command("setup")
def setup() -> None:
    """Set up ccb step by step: pick a local engine or a provider, test it, and save a profile.

    Finds running engines, asks for the key (hidden) or its environment variable, and the model.

    Sends one tiny test request the way `ccb launch` would, showing the time to the first token.

    Then: launch Claude Code on it, make it the default for plain `claude`, or just save it.

    Ctrl-C at any point saves nothing. Needs a terminal; without one, use `ccb profile add`.

    Example:

        ccb setup
    """
    from ccb.cli.commands import setup as setup_command  # the prompt toolkit loads only for the wizard

    setup_command.setup()


app.command("launch")(launch.launch)
app.command("serve")(serve.serve)
app.add_typer(profile.app, name="profile")
app.command("probe")(probe.probe)
app.command("models")(probe.models)
app.command("doctor")(doctor.doctor)
app.command("restore")(restore.restore_cmd)
app.command("logs")(logs.logs)


def _command() -> str:
    return " ".join(a for a in sys.argv[1:2] if not a.startswith("-")) or "..."


def _plain_help_types() -> None:
    """Help shows `--model MODEL` and `--yes`, not Typer's `<str>` and `<bool>` (and arguments without a type)."""
    from typer import core

    def option_type(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        return self.metavar or (self.name or "value").upper()

    def argument_type(self: Any, ctx: Any) -> str | None:
        return None

    for cls, shown in (
        (getattr(core, "TyperOption", None), option_type),
        (getattr(core, "TyperArgument", None), argument_type),
    ):
        if cls is not None and hasattr(cls, "display_type_rich"):
            cls.display_type_rich = shown


def _help_keeps_layout() -> None:
    """Help below the first line keeps its layout: example lines stay indented under "Examples:", and prose
    lines wrapped in a docstring flow into one paragraph at the terminal's width.

    Typer joins the paragraphs after the first line and runs `inspect.cleandoc` on them, which strips the
    indentation common to every line but the first: with "Examples:" first and only indented lines after
    it, the examples lost theirs. A leading newline makes the heading count. Rich mode also keeps a
    docstring's single line breaks, so wrapped prose came out ragged on any other width."""
    from typer import rich_utils

    joined = getattr(rich_utils, "_fix_linebreaks", None)
    if joined is None or getattr(joined, "ccb_layout", False):
        return

    def keep_layout(paragraphs: list[str], markup_mode: Any) -> str:
        flowed = [
            " ".join(p.split("\n")) if not any(line[:1].isspace() for line in p.split("\n")) else p for p in paragraphs
        ]
        return "\n" + str(joined(flowed, markup_mode))

    keep_layout.ccb_layout = True  # type: ignore[attr-defined]
    rich_utils._fix_linebreaks = keep_layout


def main() -> None:
    _plain_help_types()
    _help_keeps_layout()
    if os.environ.get("NO_COLOR"):  # Typer's own help and usage errors: no escape sequences at all either
        import typer.rich_utils

        typer.rich_utils.COLOR_SYSTEM = None
    args, launch.PASSTHROUGH[:] = launch.split_passthrough(sys.argv[1:])
    if "--debug" in args[1:]:  # `ccb launch --debug`: the global option, wherever it was typed
        args = ["--debug", *(a for a in args if a != "--debug")]
    if hint := launch.misplaced_claude_option(args):
        render.error(hint)
        sys.exit(ExitCode.USAGE)
    try:
        app(args=args, prog_name="ccb")
    except CcbError as exc:
        if _state["debug"]:
            raise
        render.error(exc.message)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except OSError as exc:
        message = file_error(exc)
        if message is None or _state["debug"]:
            raise
        render.error(message)
        sys.exit(ExitCode.ERROR)
    except Exception as exc:  # a bug: one line for the user, the traceback in a file
        if _state["debug"]:
            raise
        where = _save_traceback()
        render.error(
            f"unexpected {type(exc).__name__}: {exc} (details: {where}; rerun as `ccb --debug {_command()}` to see them here)"
        )
        sys.exit(ExitCode.ERROR)


_FILE_FIXES = {
    errno.EACCES: "check who owns it and its mode (ls -l), or run ccb as the user who owns it",
    errno.EPERM: "check who owns it and its mode (ls -l), or run ccb as the user who owns it",
    errno.ENOSPC: "free some disk space, then run the command again (nothing was half-written)",
    errno.EDQUOT: "your disk quota is full: free some space, then run the command again",
    errno.EFBIG: "a file-size limit stopped the write (ulimit -f): raise it, then run the command again",
    errno.EROFS: "that file system is read-only: make it writable, or point ccb elsewhere (CCB_HOME)",
}


def file_error(exc: OSError) -> str | None:
    """One line for an ordinary file-system failure (what, where, how to fix it); None for anything else."""
    fix = _FILE_FIXES.get(exc.errno or 0)
    if fix is None:
        return None
    where = f" on {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or type(exc).__name__}{where}: {fix}"


def _save_traceback() -> str:
    import traceback

    from ccb.cli import paths

    try:
        from ccb.cli.fileio import ensure_dir
        from ccb.proxy.privatefiles import open_private

        path = paths.error_log_file()
        ensure_dir(path.parent)
        with open(open_private(path, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as fh:
            fh.write(traceback.format_exc())
        return str(path)
    except OSError:
        return "not saved"
