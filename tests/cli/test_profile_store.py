"""Profile store: the Profile value, building from presets, the versioned file and its migration."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from ccb.cli import paths
from ccb.cli import profile_store as store
from ccb.cli.errors import CcbError
from ccb.cli.profile_store import Profile, profile_from_preset
from ccb.cli.redact import mask_key


def write_raw(doc: Any) -> Path:
    path = paths.profiles_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_profiles_file_lives_under_ccb_home(isolated_home: Path) -> None:
    assert paths.profiles_file() == isolated_home / ".ccb" / "config" / "profiles.json"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {}),
        ({"model": "m"}, {"model": "m", "opus": "m", "sonnet": "m", "haiku": "m", "subagent": "m"}),
        ({"sonnet_model": "s"}, {"model": "s", "opus": "s", "sonnet": "s", "haiku": "s", "subagent": "s"}),
        ({"opus_model": "o"}, {"model": "o", "opus": "o", "sonnet": "o", "haiku": "o", "subagent": "o"}),
        (
            {"opus_model": "o", "sonnet_model": "s", "haiku_model": "h"},
            {"model": "s", "opus": "o", "sonnet": "s", "haiku": "h", "subagent": "s"},
        ),
        ({"haiku_model": "h"}, {"haiku": "h"}),
        (
            {"model": "m", "subagent_model": "a"},
            {"model": "m", "opus": "m", "sonnet": "m", "haiku": "m", "subagent": "a"},
        ),
    ],
)
def test_slots_fall_back(fields: dict[str, str], expected: dict[str, str]) -> None:
    p = Profile(name="p", preset="custom", protocol="openai", base_url="http://h:1/v1", **fields)
    assert p.slots() == expected


def test_resolve_key_prefers_literal_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"name": "p", "preset": "custom", "protocol": "openai", "base_url": "http://h:1/v1"}
    monkeypatch.setenv("MY_KEY", "from-env")
    assert Profile(**base, api_key="literal", api_key_env="MY_KEY").resolve_key() == "literal"
    assert Profile(**base, api_key_env="MY_KEY").resolve_key() == "from-env"
    monkeypatch.setenv("MY_KEY", "")
    assert Profile(**base, api_key_env="MY_KEY").resolve_key() is None
    monkeypatch.delenv("MY_KEY")
    assert Profile(**base, api_key_env="MY_KEY").resolve_key() is None
    assert Profile(**base).resolve_key() is None


@pytest.mark.parametrize(("key", "masked"), [("sk-abcdefgh12345678", "••••5678"), ("short", "••••"), ("", "••••")])
def test_mask_key(key: str, masked: str) -> None:
    assert mask_key(key) == masked


def test_dict_round_trip() -> None:
    p = profile_from_preset("k", "kimi-for-coding", api_key="sk-secret-value-1234")
    assert Profile.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_public_dict_masks_keys() -> None:
    p = Profile(
        name="p", preset="custom", protocol="openai", base_url="http://h:1/v1",
        api_key="sk-secret-value-1234", env={"X_TOKEN": "tok-secret-9999", "API_TIMEOUT_MS": "1"},
    )  # fmt: skip
    text = json.dumps(p.to_public_dict())
    assert "sk-secret-value-1234" not in text and "tok-secret-9999" not in text
    assert p.to_public_dict()["env"]["API_TIMEOUT_MS"] == "1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "p", "preset": "custom", "protocol": "openai"}, "field 'base_url' is missing"),
        (
            {"name": "p", "preset": "custom", "protocol": "openai", "base_url": 3},
            "field 'base_url' must be a string",
        ),
        (
            {
                "name": "p",
                "preset": "custom",
                "protocol": "openai",
                "base_url": "http://h/v1",
                "context_length": "8k",
            },
            "field 'context_length' must be an integer",
        ),
        (
            {"name": "p", "preset": "custom", "protocol": "grpc", "base_url": "http://h/v1"},
            "protocol must be one of",
        ),
        (
            {"name": "p", "preset": "custom", "protocol": "openai", "base_url": "h/v1"},
            "base URL must start with",
        ),
        (
            {
                "name": "p",
                "preset": "custom",
                "protocol": "openai",
                "base_url": "http://h/v1",
                "quirks": ["zzz"],
            },
            "unknown quirk 'zzz'",
        ),
        (
            {"name": "p", "preset": "custom", "protocol": "anthropic", "base_url": "https://h/anthropic/v1"},
            "without /v1",
        ),
    ],
)
def test_from_dict_rejects_bad_values(data: dict[str, Any], message: str) -> None:
    with pytest.raises(CcbError, match=message):
        Profile.from_dict(data)


def test_from_dict_ignores_unknown_keys() -> None:
    data = {"name": "p", "preset": "custom", "protocol": "openai", "base_url": "http://h/v1", "future": 1}
    assert Profile.from_dict(data).name == "p"


def test_profile_from_preset_fills_defaults() -> None:
    p = profile_from_preset("k", "kimi", region="cn")
    assert (p.protocol, p.base_url, p.openai_base_url) == (
        "anthropic", "https://api.moonshot.cn/anthropic", "https://api.moonshot.cn/v1",
    )  # fmt: skip
    assert p.api_key_env == "MOONSHOT_API_KEY" and p.api_key is None and p.region == "cn"
    assert p.slots()["sonnet"] == "kimi-k2.7-code"
    assert "echo_reasoning_content" in p.quirks


def test_main_model_replaces_preset_suggestions() -> None:
    p = profile_from_preset("d", "deepseek", model="deepseek-v4-flash", opus_model="deepseek-v4-pro")
    assert p.slots() == {
        "model": "deepseek-v4-flash", "opus": "deepseek-v4-pro", "sonnet": "deepseek-v4-flash",
        "haiku": "deepseek-v4-flash", "subagent": "deepseek-v4-flash",
    }  # fmt: skip


def test_openai_side_of_a_native_provider() -> None:
    p = profile_from_preset("o", "openrouter", protocol="openai", model="qwen/qwen3-coder")
    assert p.base_url == p.openai_base_url == "https://openrouter.ai/api/v1"
    assert "normalize_tool_ids" in p.quirks


def test_local_preset_and_key_switches_auth_to_bearer() -> None:
    p = profile_from_preset("v", "vllm", base_url="http://gpu:8000/v1")
    assert (p.engine, p.auth, p.base_url, p.openai_base_url) == (
        "vllm",
        "none",
        "http://gpu:8000/v1",
        "http://gpu:8000/v1",
    )
    assert profile_from_preset("v", "vllm", api_key_env="VLLM_KEY").auth == "bearer"


def test_literal_key_drops_the_preset_env_var() -> None:
    p = profile_from_preset("d", "deepseek", api_key="  sk-literal-key-0000\n")
    assert p.api_key == "sk-literal-key-0000" and p.api_key_env is None


def test_context_override_updates_preset_context_env() -> None:
    p = profile_from_preset("k", "kimi-for-coding", context_length=131072)
    assert p.context_length == 131072
    assert p.env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == p.env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "131072"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset_name": "nope"}, "unknown preset 'nope'"),
        ({"preset_name": "kimi", "region": "eu"}, "no region 'eu'"),
        ({"preset_name": "azure-openai"}, "needs a base URL"),
        ({"preset_name": "groq", "protocol": "anthropic"}, "no anthropic endpoint"),
        ({"preset_name": "kimi", "protocol": "grpc"}, "protocol must be one of"),
        ({"preset_name": "custom", "base_url": "localhost:8000"}, "must start with http"),
        ({"preset_name": "kimi", "api_key": "k", "api_key_env": "K"}, "not both"),
        ({"preset_name": "kimi", "api_key": "   "}, "key is empty"),
        ({"preset_name": "kimi", "api_key_env": "1BAD"}, "not an environment variable name"),
        ({"preset_name": "kimi", "name": "../evil"}, "names use letters"),
    ],
)
def test_profile_from_preset_errors(kwargs: dict[str, Any], message: str) -> None:
    kwargs = {"name": "p", **kwargs}
    with pytest.raises(CcbError, match=message):
        profile_from_preset(kwargs.pop("name"), kwargs.pop("preset_name"), **kwargs)


def test_store_round_trip_and_mode() -> None:
    assert store.load_profiles() == store.ProfileSet()
    store.add_profile(profile_from_preset("a", "ollama", model="m"))
    store.add_profile(profile_from_preset("b", "deepseek", api_key="sk-literal-key-0000"))
    assert stat.S_IMODE(paths.profiles_file().stat().st_mode) == 0o600
    store.set_active("b")
    assert store.active_profile() == store.get_profile("b")
    store.remove_profile("b")
    assert store.load_profiles().active is None and list(store.load_profiles().profiles) == ["a"]
    with pytest.raises(CcbError, match="already exists"):
        store.add_profile(profile_from_preset("a", "ollama"))
    with pytest.raises(CcbError, match="no profile named 'zz'; known profiles: a"):
        store.set_active("zz")
    store.set_active("a")
    store.set_active(None)
    assert store.active_profile() is None


def test_dangling_active_name_reads_as_no_profile() -> None:
    write_raw({"version": 1, "active": "gone", "profiles": {}})
    assert store.load_profiles().active == "gone"
    assert store.active_profile() is None


def test_unknown_fields_survive_a_rewrite() -> None:
    write_raw({
        "version": 1, "active": None, "note": "keep me",
        "profiles": {"x": {"preset": "custom", "protocol": "openai", "base_url": "http://h/v1", "future": 1}},
    })  # fmt: skip
    store.add_profile(profile_from_preset("y", "ollama"))
    doc = json.loads(paths.profiles_file().read_text())
    assert doc["note"] == "keep me" and doc["profiles"]["x"]["future"] == 1


V0_WRAPPED = {"active": "old", "profiles": {"old": {"base_url": "http://127.0.0.1:8080/v1", "model": "m"}}}
V0_BARE = {"old": {"base_url": "http://127.0.0.1:8080/v1", "model": "m"}}


@pytest.mark.parametrize(("doc", "active"), [(V0_WRAPPED, "old"), (V0_BARE, None)])
def test_unversioned_file_is_migrated(doc: dict[str, Any], active: str | None) -> None:
    path = write_raw(doc)
    before = path.read_text()
    found = store.load_profiles()
    assert found.active == active
    old = found.profiles["old"]
    assert (old.preset, old.protocol, old.base_url, old.model) == (
        "custom",
        "openai",
        "http://127.0.0.1:8080/v1",
        "m",
    )
    assert path.read_text() == before, "reading never rewrites"
    store.add_profile(profile_from_preset("new", "ollama"))
    doc_after = json.loads(path.read_text())
    assert doc_after["version"] == 1 and set(doc_after["profiles"]) == {"old", "new"}


def test_migrate_is_pure_and_idempotent() -> None:
    once = store.migrate(V0_WRAPPED)
    assert once["version"] == store.SCHEMA_VERSION
    assert store.migrate(once) == once
    assert "version" not in V0_WRAPPED


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"version": 99, "profiles": {}}, "newer than this ccb understands"),
        ({"version": "1", "profiles": {}}, "'version' must be a non-negative integer"),
        ([1, 2], "expected a JSON object"),
        ({"version": 1, "profiles": []}, "'profiles' must be an object"),
        ({"version": 1, "active": 3, "profiles": {}}, "'active' must be a profile name"),
    ],
)
def test_unreadable_documents(doc: Any, message: str) -> None:
    write_raw(doc)
    with pytest.raises(CcbError, match=message):
        store.load_profiles()


def test_broken_profile_names_the_file_and_profile() -> None:
    path = write_raw({"version": 1, "profiles": {"bad": {"preset": "custom", "protocol": "openai"}}})
    with pytest.raises(CcbError) as info:
        store.load_profiles()
    assert str(path) in info.value.message and "profile 'bad'" in info.value.message
