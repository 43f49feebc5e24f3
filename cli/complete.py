"""Dynamic shell completion: profile and preset names. Reads files; never raises (a shell is waiting)."""

from __future__ import annotations


def profile_names(incomplete: str) -> list[str]:
    try:
        from ccb.cli.profile_store import load_profiles

        return sorted(n for n in load_profiles().profiles if n.startswith(incomplete))
    except Exception:  # noqa: BLE001 (a broken profiles file must not break the user's shell)
        return []


def preset_names(incomplete: str) -> list[str]:
    try:
        from ccb.profiles import load_presets

        return sorted(n for n in load_presets() if n.startswith(incomplete))
    except Exception:  # noqa: BLE001 (nor a broken preset file)
        return []
