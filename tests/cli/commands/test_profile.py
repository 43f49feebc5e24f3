"""`ccb profile ...` end to end through the Typer app, under the temporary CCB_HOME."""

from __future__ import annotations

import json
import stat
import sys
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ccb.cli import app as app_module
from ccb.cli import paths
from ccb.cli.app import app
from ccb.cli.errors import CcbError

SECRET = "sk-test-literal-secret-7777"

PROFILE_KEYS = {
    "name", "preset", "provider", "protocol", "base_url", "openai_base_url", "auth", "api_key", "api_key_env",
    "key_source", "key_available", "model", "opus_model", "sonnet_model", "haiku_model", "subagent_model",
    "slots", "context_length", "engine", "region", "quirks", "env", "active", "web_search", "web_search_key_env",
    "shared_engine",
}  # fmt: skip
PRESET_KEYS = {
    "name", "display_name", "category", "protocol", "default_region", "regions", "url_hint", "auth",
    "api_key_env", "models", "context_length", "engine", "port", "quirks", "env", "note",
}  # fmt: skip


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, ["profile", *args], input=input)


def ok(*args: str, input: str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def test_round_trip() -> None:
    assert as_json("list") == {"active": None, "profiles": []}
    ok("add", "kimi", "--preset", "kimi", "--region", "cn")
    ok("add", "local", "--preset", "ollama", "--model", "qwen3-coder:30b", "--activate")
    listed = as_json("list")
    assert listed["active"] == "local"
    assert [p["name"] for p in listed["profiles"]] == ["kimi", "local"]
    assert [p["active"] for p in listed["profiles"]] == [False, True]

    table = ok("list").stdout
    assert "kimi" in table and "Moonshot Kimi" in table and "qwen3-coder:30b" in table

    shown = as_json("show", "kimi")
    assert shown["base_url"] == "https://api.moonshot.cn/anthropic"
    assert shown["api_key_env"] == "MOONSHOT_API_KEY" and shown["key_source"] == "env"
    assert "https://api.moonshot.cn/anthropic" in ok("show", "kimi").stdout

    ok("use", "kimi")
    current = as_json("current")
    assert current["active"] == "kimi" and current["profile"]["name"] == "kimi"
    assert "kimi" in ok("current").stdout

    ok("remove", "kimi")
    nothing = as_json("current")
    assert (nothing["active"], nothing["profile"]) == (None, None)
    assert nothing["claude"]["ANTHROPIC_BASE_URL"] is None  # plain `claude` talks to Anthropic itself
    none = ok("current")
    assert "Anthropic's own API" in none.stdout and "No active profile" in none.stderr
    assert [p["name"] for p in as_json("list")["profiles"]] == ["local"]


def test_json_shapes_are_stable() -> None:
    ok("add", "ds", "--preset", "deepseek", "--activate")
    assert set(as_json("list")) == {"active", "profiles"}
    assert set(as_json("list")["profiles"][0]) == PROFILE_KEYS
    assert set(as_json("show", "ds")) == PROFILE_KEYS
    assert set(as_json("current")) == {"active", "profile", "claude"}
    assert set(as_json("current")["claude"]) == {
        "settings_file",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_MODEL",
        "ANTHROPIC_DEFAULT_SONNET_MODEL",
    }
    assert set(as_json("current")["profile"]) == PROFILE_KEYS
    assert set(as_json("show", "ds")["slots"]) == {"model", "opus", "sonnet", "haiku", "subagent"}


def test_presets_listing() -> None:
    grouped = as_json("presets")
    assert list(grouped) == ["local", "anthropic-cloud", "openai-cloud", "custom"]
    assert {p["name"] for p in grouped["local"]} == {"ollama", "vllm", "sglang", "llamacpp", "lmstudio", "embedded"}
    for items in grouped.values():
        for preset in items:
            assert set(preset) == PRESET_KEYS
    text = ok("presets").stdout
    assert "Local engines" in text and "groq" in text and "$GROQ_API_KEY" in text


def test_literal_key_is_private_and_never_printed() -> None:
    added = ok("add", "lit", "--preset", "deepseek", "--api-key", SECRET, "--activate")
    path = paths.profiles_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SECRET in path.read_text()  # stored, by request
    outputs = [added] + [
        ok(*args)
        for args in (
            ("list",), ("list", "--json"), ("show", "lit"), ("show", "lit", "--json"),
            ("current",), ("current", "--json"), ("presets",),
        )
    ]  # fmt: skip
    for result in outputs:
        assert SECRET not in result.output
    assert "••••7777" in ok("show", "lit").stdout
    assert as_json("show", "lit")["api_key"] == "••••7777"


def test_key_from_stdin() -> None:
    ok("add", "s", "--preset", "custom", "--base-url", "http://h:1/v1", "--api-key", "-", input=SECRET + "\n")
    shown = as_json("show", "s")
    assert shown["key_source"] == "literal" and shown["key_available"] is True
    assert SECRET in paths.profiles_file().read_text()


def test_key_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_DS_KEY", raising=False)
    result = ok("add", "ds", "--preset", "deepseek", "--api-key-env", "MY_DS_KEY")
    assert "MY_DS_KEY is not set" in result.stderr
    monkeypatch.setenv("MY_DS_KEY", SECRET)
    shown = ok("show", "ds")
    assert "from $MY_DS_KEY (set)" in shown.stdout and SECRET not in shown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "x", "--preset", "nope"), "unknown preset 'nope'"),
        (("add", "first", "--preset", "ollama"), "already exists"),
        (("add", "x", "--preset", "custom", "--base-url", "localhost:8000"), "must start with http"),
        (
            ("add", "x", "--preset", "kimi", "--base-url", "https://api.moonshot.ai/anthropic/v1"),
            "without /v1",
        ),
        (("add", "x", "--preset", "kimi", "--api-key", SECRET, "--api-key-env", "K"), "not both"),
        (("add", "x", "--preset", "kimi", "--region", "mars"), "no region 'mars'"),
        (
            ("add", "x", "--preset", "custom", "--base-url", f"https://u:{SECRET}@h/v1"),
            "must not contain credentials",
        ),
        (
            ("add", "x", "--preset", "custom", "--base-url", f"https://h/v1?key={SECRET}"),
            "must not contain a query",
        ),
        (("add", "x", "--preset", "azure-openai"), "needs a base URL"),
        (("add", "bad name", "--preset", "ollama"), "names use letters"),
        (("show", "nope"), "no profile named 'nope'; known profiles: first"),
        (("use", "nope"), "no profile named 'nope'"),
        (("remove", "nope"), "no profile named 'nope'"),
    ],
)
def test_errors_are_one_line_and_write_nothing(args: tuple[str, ...], message: str) -> None:
    ok("add", "first", "--preset", "ollama", "--activate")
    path = paths.profiles_file()
    before = path.read_bytes()
    result = run(*args)
    assert result.exit_code == 1
    assert isinstance(result.exception, CcbError)
    assert message in result.exception.message and "\n" not in result.exception.message
    assert SECRET not in result.exception.message
    assert path.read_bytes() == before


def test_failed_add_creates_no_file() -> None:
    result = run("add", "x", "--preset", "nope")
    assert result.exit_code == 1
    assert not paths.profiles_file().exists()


def test_usage_errors_exit_2() -> None:
    assert run("add", "x").exit_code == 2  # --preset is required
    assert run("add", "x", "--preset", "vllm", "--context-length", "0").exit_code == 2


def test_main_prints_one_line_and_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["ccb", "profile", "add", "x", "--preset", "nope"])
    with pytest.raises(SystemExit) as info:
        app_module.main()
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: unknown preset 'nope'") and captured.err.count("\n") == 1


def test_remove_active_clears_it() -> None:
    ok("add", "a", "--preset", "vllm", "--activate")
    result = ok("remove", "a")
    assert "no profile is active now" in result.stderr
    assert as_json("list") == {"active": None, "profiles": []}


def test_dangling_active_is_reported() -> None:
    paths.profiles_file().parent.mkdir(parents=True)
    paths.profiles_file().write_text(json.dumps({"version": 1, "active": "gone", "profiles": {}}))
    result = ok("current", "--json")
    data = json.loads(result.stdout)
    assert (data["active"], data["profile"]) == ("gone", None)
    assert "no longer exists" in result.stderr


def test_help_has_examples() -> None:
    for command in ("list", "show", "add", "remove", "use", "current", "presets", "switch"):
        help_text = ok(command, "--help").stdout
        assert "Example" in help_text and f"ccb profile {command}" in help_text


def test_add_with_a_web_search_backend_is_stored_and_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    from ccb.cli import profile_store as store

    runner = CliRunner()
    monkeypatch.delenv("BRAVE_API_KEY", raising=False)
    done = runner.invoke(
        app, ["profile", "add", "s1", "--preset", "vllm", "--model", "m", "--web-search", "http://127.0.0.1:8888"]
    )
    assert done.exit_code == 0, done.output
    assert store.get_profile("s1").web_search == "http://127.0.0.1:8888"
    done = runner.invoke(app, ["profile", "add", "s2", "--preset", "vllm", "--model", "m", "--web-search", "brave"])
    assert done.exit_code == 0, done.output
    shown = runner.invoke(app, ["profile", "show", "s2"])
    assert (
        "Brave Search at https://api.search.brave.com/res/v1/web/search, key from $BRAVE_API_KEY (not set"
        in shown.output
    )
    secret = runner.invoke(
        app,
        [
            "profile",
            "add",
            "s3",
            "--preset",
            "vllm",
            "--model",
            "m",
            "--web-search",
            "https://user:hunter2pass@searx.example.org",
        ],
    )
    assert secret.exit_code == 0
    listed = runner.invoke(app, ["profile", "list", "--json"])
    assert "hunter2pass" not in listed.output and "searx.example.org" in listed.output
    bad = runner.invoke(app, ["profile", "add", "s4", "--preset", "vllm", "--model", "m", "--web-search", "bing"])
    assert bad.exit_code == 1 and "'bing' is unknown" in str(bad.exception)
    bad_env = runner.invoke(
        app,
        [
            "profile",
            "add",
            "s5",
            "--preset",
            "vllm",
            "--model",
            "m",
            "--web-search",
            "tavily",
            "--web-search-key-env",
            "not a name",
        ],
    )
    assert bad_env.exit_code == 1 and "not an environment variable name" in str(bad_env.exception)


def test_bridge_config_takes_the_profile_backend_else_ccb_web_search(monkeypatch: pytest.MonkeyPatch) -> None:
    from ccb.cli.plan import bridge_config
    from ccb.cli.profile_store import profile_from_preset

    monkeypatch.setenv("MY_TAVILY", "tvly-abcdef123456")
    monkeypatch.setenv("CCB_WEB_SEARCH", "http://127.0.0.1:9999")
    with_backend = profile_from_preset("p", "vllm", model="m", web_search="tavily", web_search_key_env="MY_TAVILY")
    config = bridge_config(with_backend, token="t")
    assert (config.web_search, config.web_search_key, config.web_search_key_env) == (
        "tavily",
        "tvly-abcdef123456",
        "MY_TAVILY",
    )
    assert "tvly-abcdef123456" in config.secrets
    plain = bridge_config(profile_from_preset("q", "vllm", model="m"), token="t")
    assert plain.web_search == "http://127.0.0.1:9999" and plain.web_search_key is None
    monkeypatch.delenv("CCB_WEB_SEARCH")
    assert bridge_config(profile_from_preset("q", "vllm", model="m"), token="t").web_search is None
