"""Claude Code settings files: owned-key merge, exact restore, bad files refused, layers, precedence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccb.cli import claude_settings as cs
from ccb.cli import paths
from ccb.cli.errors import CcbError
from ccb.cli.paths import claude_settings_file

FOREIGN: dict[str, Any] = {
    "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo $X"}]}]},
    "enabledPlugins": {"a@b": True},
    "statusLine": {"type": "command", "command": "~/bin/status"},
    "permissions": {"allow": ["Bash(git *)"], "deny": []},
    "model": "opus",
    "unknownFutureKey": [1, 2.5, None, {"x": "y"}],
}


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------- merge_env


def test_merge_env_touches_only_owned_keys() -> None:
    existing = {**FOREIGN, "env": {"KEEP": "me", "ANTHROPIC_MODEL": "user-model"}}
    new, record = cs.merge_env(existing, {"ANTHROPIC_MODEL": "m", "ANTHROPIC_BASE_URL": "u"}, {})
    assert new == {**FOREIGN, "env": {"KEEP": "me", "ANTHROPIC_MODEL": "m", "ANTHROPIC_BASE_URL": "u"}}
    assert record == {"ANTHROPIC_MODEL": "user-model", "ANTHROPIC_BASE_URL": None}
    assert existing["env"] == {"KEEP": "me", "ANTHROPIC_MODEL": "user-model"}  # input untouched


def test_merge_env_releases_keys_no_longer_set_and_keeps_original_previous() -> None:
    first, record1 = cs.merge_env({"env": {"A": "orig"}}, {"A": "1", "B": "1"}, {})
    second, record2 = cs.merge_env(first, {"A": "2"}, record1)
    assert second == {"env": {"A": "2"}}
    assert record2 == {"A": "orig"}


def test_merge_env_refuses_env_that_is_not_an_object() -> None:
    with pytest.raises(CcbError, match="not an object"):
        cs.merge_env({"env": ["A=1"]}, {"A": "1"}, {})


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
env_keys = st.sampled_from(["ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL", "ANTHROPIC_AUTH_TOKEN", "HTTP_PROXY"]) | st.text(
    st.characters(codec="utf-8"), min_size=1, max_size=6
)
# Claude Code reads env values as strings; a user's non-string values must survive all the same (null
# excepted: the ownership record uses it for "absent").
user_env = st.dictionaries(env_keys, json_values.filter(lambda v: v is not None), max_size=5)
foreign = st.dictionaries(st.text(max_size=8).filter(lambda k: k != "env"), json_values, max_size=6)
original_settings = st.builds(
    lambda other, env, has_env: {**other, "env": env} if has_env else other, foreign, user_env, st.booleans()
)
ours_blocks = st.lists(st.dictionaries(env_keys, st.text(max_size=8), max_size=4), min_size=1, max_size=3)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(original=original_settings, blocks=ours_blocks)
def test_apply_then_restore_is_exact_for_any_settings(original: dict[str, Any], blocks: list[dict[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "settings.json"
        _write(path, original)
        for ours in blocks:
            cs.apply_env(ours, settings_path=path)
            after = _read(path)
            assert {k: v for k, v in after.items() if k != "env"} == {k: v for k, v in original.items() if k != "env"}
            env_after, env_before = after.get("env", {}), original.get("env", {})
            assert {k: v for k, v in env_after.items() if k not in ours} == {
                k: v for k, v in env_before.items() if k not in ours
            }
            assert {k: env_after[k] for k in ours} == ours
        cs.restore(settings_path=path)
        assert _read(path) == original
        assert cs.owned_keys(settings_path=path) == {}


# ---------------------------------------------------------------------------------- apply / restore


def test_switch_twice_then_restore_gives_the_original(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    original = {**FOREIGN, "env": {"ANTHROPIC_MODEL": "mine", "OTHER": "x"}}
    _write(path, original)
    cs.apply_env({"ANTHROPIC_MODEL": "a", "ANTHROPIC_BASE_URL": "http://a"}, settings_path=path)
    cs.apply_env({"ANTHROPIC_MODEL": "b", "ANTHROPIC_AUTH_TOKEN": "t"}, settings_path=path)
    assert _read(path)["env"] == {"ANTHROPIC_MODEL": "b", "OTHER": "x", "ANTHROPIC_AUTH_TOKEN": "t"}
    assert cs.owned_keys(settings_path=path) == {"ANTHROPIC_MODEL": "mine", "ANTHROPIC_AUTH_TOKEN": None}
    result = cs.restore(settings_path=path)
    assert not result.nothing_to_restore
    assert set(result.restored) == {"ANTHROPIC_MODEL", "ANTHROPIC_AUTH_TOKEN"}
    assert _read(path) == original
    assert not paths.settings_record_file().exists()


def test_restore_with_nothing_recorded(tmp_path: Path) -> None:
    result = cs.restore(settings_path=tmp_path / "settings.json")
    assert result.nothing_to_restore
    assert result.restored == ()


def test_env_created_by_ccb_goes_away_but_users_empty_env_stays(tmp_path: Path) -> None:
    created = tmp_path / "a.json"
    _write(created, {"model": "x"})
    cs.apply_env({"A": "1"}, settings_path=created)
    cs.restore(settings_path=created)
    assert _read(created) == {"model": "x"}

    kept = tmp_path / "b.json"
    _write(kept, {"env": {}})
    cs.apply_env({"A": "1"}, settings_path=kept)
    cs.restore(settings_path=kept)
    assert _read(kept) == {"env": {}}


@pytest.mark.parametrize("content", [b'{"env": {"A": "1"', b"{'single': 1}", b"\xff\xfe{}", b"{} {}"])
def test_invalid_json_is_refused_and_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    with pytest.raises(CcbError):
        cs.apply_env({"A": "1"}, settings_path=path)
    assert path.read_bytes() == content
    assert not (tmp_path / "settings.json.ccb-backup").exists()
    assert cs.owned_keys(settings_path=path) == {}


@pytest.mark.parametrize("data", [[1, 2], "text", 3, True, None, {"env": "A=1"}, {"env": [1]}, {"env": None}])
def test_non_object_json_is_refused(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "settings.json"
    _write(path, data)
    before = path.read_bytes()
    with pytest.raises(CcbError):
        cs.apply_env({"A": "1"}, settings_path=path)
    assert path.read_bytes() == before
    assert cs.owned_keys(settings_path=path) == {}


def test_backup_is_made_once_before_the_first_change(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    _write(path, {"env": {"A": "user"}})
    original = path.read_bytes()
    first = cs.apply_env({"A": "1"}, settings_path=path)
    backup = tmp_path / "settings.json.ccb-backup"
    assert first.backup == backup
    assert backup.read_bytes() == original
    second = cs.apply_env({"A": "2"}, settings_path=path)
    assert second.backup is None
    assert backup.read_bytes() == original


def test_no_change_means_no_write_and_no_backup(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    _write(path, {"env": {"A": "1"}})
    before = path.read_bytes()
    result = cs.apply_env({"A": "1"}, settings_path=path)
    assert result.changed == ()
    assert result.backup is None
    assert path.read_bytes() == before
    cs.restore(settings_path=path)
    assert _read(path) == {"env": {"A": "1"}}


def test_missing_settings_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "settings.json"
    result = cs.apply_env({"ANTHROPIC_AUTH_TOKEN": "t"}, settings_path=path)
    assert result.backup is None
    assert result.changed == ("ANTHROPIC_AUTH_TOKEN",)
    assert path.stat().st_mode & 0o777 == 0o600
    assert paths.settings_record_file().stat().st_mode & 0o777 == 0o600


def test_file_mode_loses_group_and_other_bits_and_restore_keeps_it_private(tmp_path: Path) -> None:
    # ccb's block holds a key or token: the file (and the backup of what may hold the user's own key) is
    # readable by its owner only from the first byte; owner bits the user chose (read-only 0400) stay.
    path = tmp_path / "settings.json"
    _write(path, {"model": "x"})
    path.chmod(0o640)
    result = cs.apply_env({"A": "1"}, settings_path=path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert result.backup is not None and result.backup.stat().st_mode & 0o777 == 0o600
    cs.restore(settings_path=path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_symlinked_settings_stay_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "settings.json"
    _write(real, {"model": "x"})
    link = tmp_path / "claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(real)
    cs.apply_env({"A": "1"}, settings_path=link)
    assert link.is_symlink()
    assert _read(real) == {"model": "x", "env": {"A": "1"}}


def test_claude_config_dir_is_honoured(tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "profile-a"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    result = cs.apply_env({"ANTHROPIC_MODEL": "m"})
    assert result.path == config / "settings.json" == claude_settings_file()
    assert _read(config / "settings.json") == {"env": {"ANTHROPIC_MODEL": "m"}}
    assert not (isolated_home / ".claude").exists()
    record = _read(paths.settings_record_file())
    (entry,) = record["files"].values()
    assert entry["settings_path"] == str(config / "settings.json")
    assert cs.owned_keys() == {"ANTHROPIC_MODEL": None}

    assert cs.ensure_onboarding()
    assert _read(config / ".claude.json") == {"hasCompletedOnboarding": True}
    assert not (isolated_home / ".claude.json").exists()


def test_default_path_is_the_users_settings(isolated_home: Path) -> None:
    result = cs.apply_env({"A": "1"})
    assert result.path == isolated_home / ".claude" / "settings.json"
    assert cs.restore().restored == ("A",)
    assert _read(result.path) == {}


_CONCURRENT = """
import sys
from pathlib import Path
from ccb.cli.claude_settings import apply_env

path, tag = Path(sys.argv[1]), sys.argv[2]
for i in range(int(sys.argv[3])):
    apply_env({"ANTHROPIC_MODEL": tag, tag + "_ONLY": str(i)}, settings_path=path)
"""


def test_concurrent_applies_from_two_processes(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    original = {**FOREIGN, "env": {"ANTHROPIC_MODEL": "mine", "KEEP": "x"}}
    _write(path, original)
    rounds = "40"
    procs = [
        subprocess.Popen([sys.executable, "-c", _CONCURRENT, str(path), tag, rounds], env=dict(os.environ))
        for tag in ("A", "B")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]

    final = _read(path)
    winner = final["env"]["ANTHROPIC_MODEL"]
    assert winner in {"A", "B"}
    # The last run's block, complete, and nothing left of the other run's.
    assert final == {**FOREIGN, "env": {"ANTHROPIC_MODEL": winner, "KEEP": "x", f"{winner}_ONLY": "39"}}
    assert cs.owned_keys(settings_path=path) == {"ANTHROPIC_MODEL": "mine", f"{winner}_ONLY": None}
    cs.restore(settings_path=path)
    assert _read(path) == original


# ----------------------------------------------------------------------------------- ~/.claude.json


def test_ensure_onboarding_keeps_every_other_key(isolated_home: Path) -> None:
    path = isolated_home / ".claude.json"
    data = {"oauthAccount": {"emailAddress": "a@b"}, "projects": {"/x": {"hasTrustDialogAccepted": True}}}
    _write(path, data)
    path.chmod(0o600)
    assert cs.ensure_onboarding() is True
    assert _read(path) == {**data, "hasCompletedOnboarding": True}
    assert cs.ensure_onboarding() is False


def test_ensure_onboarding_new_file_is_0600_existing_mode_kept(tmp_path: Path) -> None:
    new = tmp_path / "new.json"
    assert cs.ensure_onboarding(path=new)
    assert new.stat().st_mode & 0o777 == 0o600
    existing = tmp_path / "existing.json"
    _write(existing, {"hasCompletedOnboarding": False})
    existing.chmod(0o640)
    assert cs.ensure_onboarding(path=existing)
    assert existing.stat().st_mode & 0o777 == 0o640
    assert _read(existing) == {"hasCompletedOnboarding": True}


@pytest.mark.parametrize("content", [b"{broken", b"[]"])
def test_ensure_onboarding_refuses_bad_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / ".claude.json"
    path.write_bytes(content)
    with pytest.raises(CcbError):
        cs.ensure_onboarding(path=path)
    assert path.read_bytes() == content


# ------------------------------------------------------------------------------ layers and precedence


def test_settings_layers_order_and_errors(tmp_path: Path, isolated_home: Path) -> None:
    project = tmp_path / "project"
    _write(isolated_home / ".claude" / "settings.json", {"env": {"A": "user"}})
    (project / ".claude").mkdir(parents=True)
    (project / ".claude" / "settings.json").write_text("{not json", encoding="utf-8")
    managed = tmp_path / "managed-settings.json"
    _write(managed, {"env": {"A": "managed"}})

    layers = cs.settings_layers(project, managed=managed)

    assert [layer.source for layer in layers] == ["user", "project", "local", "managed"]
    user, proj, local, policy = layers
    assert user.exists and user.data == {"env": {"A": "user"}} and user.error is None
    assert proj.exists and proj.data is None and proj.error and "not valid JSON" in proj.error
    assert not local.exists and local.data is None and local.error is None
    assert local.path == project / ".claude" / "settings.local.json"
    assert policy.data == {"env": {"A": "managed"}}


def test_default_managed_path_is_per_os(tmp_path: Path) -> None:
    (managed,) = [layer for layer in cs.settings_layers(tmp_path) if layer.source == "managed"]
    expected = {
        "linux": Path("/etc/claude-code/managed-settings.json"),
        "darwin": Path("/Library/Application Support/ClaudeCode/managed-settings.json"),
    }.get(sys.platform)
    if expected is not None:
        assert managed.path == expected


def _layer(source: str, env: dict[str, Any] | None) -> cs.SettingsLayer:
    data = None if env is None else {"env": env}
    return cs.SettingsLayer(source=source, path=Path(source), exists=env is not None, data=data, error=None)


def test_effective_env_precedence() -> None:
    layers = [
        _layer("user", {"M": "user", "U": "u", "N": 1}),
        _layer("project", {"M": "project", "P": "p"}),
        _layer("local", None),
        _layer("managed", {"M": "managed"}),
    ]
    result = cs.effective_env(layers, {"M": "process", "U": "process-u", "ONLY": "proc"})

    assert result["M"] == cs.EnvValue(
        value="managed",
        source="managed",
        overridden=[("process", "process"), ("user", "user"), ("project", "project")],
    )
    assert result["U"] == cs.EnvValue("u", "user", [("process", "process-u")])
    assert result["P"] == cs.EnvValue("p", "project", [])
    assert result["ONLY"] == cs.EnvValue("proc", "process", [])
    assert result["N"].value == "1"


def test_effective_env_local_beats_project_beats_user() -> None:
    layers = [_layer("user", {"K": "1"}), _layer("project", {"K": "2"}), _layer("local", {"K": "3"})]
    value = cs.effective_env(layers, {})["K"]
    assert (value.value, value.source) == ("3", "local")
    assert value.overridden == [("user", "1"), ("project", "2")]
