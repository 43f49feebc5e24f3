"""`ccb restore`: put Claude Code's settings back as they were before ccb. Does file I/O."""

from __future__ import annotations

from typing import Annotated

import typer

from ccb.cli import render
from ccb.cli.claude_settings import restore


def restore_cmd(
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Remove the keys ccb wrote into ~/.claude/settings.json and put back their previous values.

    The login service a switch installed for the background bridge is removed too.

    Example:

        ccb restore
    """
    from ccb.cli import bridge_daemon, login_service
    from ccb.cli.switch import restore_active

    result = restore()
    service = login_service.remove()  # nothing points at the bridge's port any more: no one needs it held
    active = restore_active() if not result.nothing_to_restore else None
    running = bridge_daemon.read_state()
    stopped = None
    if not result.nothing_to_restore and running is not None and bridge_daemon.is_alive(running):
        stopped = bridge_daemon.stop()  # it served the switch just undone: nothing points at it any more
        running = bridge_daemon.read_state()
    if json_output:
        render.print_json(
            {
                "settings_file": str(result.path),
                "restored": list(result.restored),
                "nothing_to_restore": result.nothing_to_restore,
                "kept": list(result.kept),
                "bridge_stopped": stopped is not None,
                "active_profile": active or None,
                "bridge_running": running is not None and bridge_daemon.is_alive(running),
                "login_service_removed": str(service.path) if service is not None else None,
            }
        )
        return
    if result.nothing_to_restore:
        render.info(f"Nothing to restore: ccb has not changed {result.path}.")
    else:
        render.info(
            f"Restored {len(result.restored)} keys in {result.path}; plain `claude` is back to its own settings."
        )
    if active:
        render.info(f"ccb's active profile is '{active}' again, as before the switch.")
    elif active == "":
        render.info("ccb has no active profile again, as before the switch.")
    if stopped is not None:
        render.info(f"Stopped the background bridge the switch had started ({stopped.url}).")
    if service is not None:
        render.info(f"Removed the login service that kept the bridge's port after a reboot ({service.path}).")
    if result.kept:
        render.info(f"Kept your own edits of {', '.join(result.kept)}: you changed them after ccb wrote them.")
    if running is not None and bridge_daemon.is_alive(running):
        render.info(f"A background bridge is still running ({running.url}); stop it with `ccb serve --stop`.")
