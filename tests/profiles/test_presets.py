"""Every shipped preset loads and validates; malformed preset files fail with errors naming file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccb.profiles import (
    ENGINE_KINDS,
    PresetError,
    get_preset,
    load_preset_file,
    load_presets,
    load_presets_from,
    redact_url,
    url_problem,
)
from ccb.proxy.config import AUTH_STYLES, DIALECTS, QUIRKS

REQUIRED = {
    "ollama", "vllm", "sglang", "llamacpp", "lmstudio",
    "kimi", "kimi-for-coding", "glm", "zai", "minimax", "deepseek", "dashscope", "openrouter", "siliconflow",
    "groq", "together", "gemini", "azure-openai", "mistral", "xai", "nvidia", "cerebras",
    "custom",
}  # fmt: skip

ALL = sorted(load_presets())


def test_required_presets_are_shipped() -> None:
    assert REQUIRED <= set(load_presets())


def test_load_presets_is_cached() -> None:
    assert load_presets() is load_presets()


@pytest.mark.parametrize("name", ALL)
def test_shipped_preset_is_consistent(name: str) -> None:
    p = get_preset(name)
    assert p.name == name and p.display_name and p.note
    assert p.auth in AUTH_STYLES
    assert set(p.quirks) <= set(QUIRKS)
    json.dumps(p.to_dict())  # the --json shape must serialise
    if p.needs_base_url:
        assert p.url_hint and p.base_url() is None
    else:
        assert p.base_url() is not None
        for region in p.regions:
            assert region.url(p.protocol), f"{name}/{region.name} lacks its {p.protocol} URL"
            if region.anthropic_url:
                assert url_problem(region.anthropic_url, anthropic_root=True) is None
            if region.openai_url:
                assert url_problem(region.openai_url) is None
    if p.category == "local":
        assert p.engine in ENGINE_KINDS and p.engine in DIALECTS
        assert p.base_url() == f"http://127.0.0.1:{p.port}/v1"
        assert p.suggested_models().as_dict() == {}, "local models are discovered at run time"
        assert p.api_key_env is None
    else:
        assert p.engine is None and p.port is None
    if p.category == "anthropic-cloud":
        assert p.protocol == "anthropic" and p.api_key_env
    if p.category == "openai-cloud":
        assert p.protocol == "openai" and p.api_key_env


@pytest.mark.parametrize(
    ("name", "port"),
    [("ollama", 11434), ("vllm", 8000), ("sglang", 30000), ("llamacpp", 8080), ("lmstudio", 1234)],
)
def test_local_engine_ports(name: str, port: int) -> None:
    p = get_preset(name)
    assert p.port == port and p.engine == name
    assert p.base_url(protocol="anthropic") == f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("name", "quirks"),
    [
        ("groq", {"strict_fields"}),
        ("gemini", {"sanitize_schema", "strict_fields"}),
        ("deepseek", {"echo_reasoning_content"}),
        ("kimi", {"echo_reasoning_content", "normalize_tool_ids"}),
        ("openrouter", {"normalize_tool_ids"}),
        ("azure-openai", {"max_completion_tokens"}),
        ("openai", {"max_completion_tokens"}),
        ("ollama", {"no_tool_choice"}),
    ],
)
def test_provider_quirks(name: str, quirks: set[str]) -> None:
    assert quirks <= set(get_preset(name).quirks)


@pytest.mark.parametrize(
    ("name", "env_var"),
    [
        ("kimi", "MOONSHOT_API_KEY"), ("deepseek", "DEEPSEEK_API_KEY"), ("groq", "GROQ_API_KEY"),
        ("gemini", "GEMINI_API_KEY"), ("openrouter", "OPENROUTER_API_KEY"), ("dashscope", "DASHSCOPE_API_KEY"),
    ],
)  # fmt: skip
def test_key_env_vars(name: str, env_var: str) -> None:
    assert get_preset(name).api_key_env == env_var


def test_provider_specific_facts() -> None:
    assert get_preset("azure-openai").auth == "api-key"
    assert get_preset("minimax").env["API_TIMEOUT_MS"] == "3000000"
    kfc = get_preset("kimi-for-coding")
    assert kfc.context_length == 262144
    assert kfc.env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "262144"
    for name in ("kimi", "minimax", "dashscope", "siliconflow"):
        assert {"cn", "intl"} <= set(get_preset(name).region_names)


def test_region_and_protocol_lookup() -> None:
    kimi = get_preset("kimi")
    assert kimi.base_url() == "https://api.moonshot.ai/anthropic"  # default region intl
    assert kimi.base_url("cn") == "https://api.moonshot.cn/anthropic"
    assert kimi.base_url("cn", "openai") == "https://api.moonshot.cn/v1"
    assert get_preset("groq").base_url(protocol="anthropic") is None
    with pytest.raises(PresetError, match="no region 'eu'; known regions: cn, intl"):
        kimi.base_url("eu")


def test_region_models_override_preset_models() -> None:
    sf = get_preset("siliconflow")
    assert sf.suggested_models("cn").sonnet != sf.suggested_models("intl").sonnet


def test_unknown_preset_lists_known_names() -> None:
    with pytest.raises(PresetError, match="unknown preset 'nope'; known presets: .*kimi"):
        get_preset("nope")


@pytest.mark.parametrize(
    ("url", "root", "problem"),
    [
        ("https://api.example.com", False, None),
        ("http://127.0.0.1:8000/v1", False, None),
        ("http://[::1]:8000/v1", False, None),
        ("ftp://example.com", False, "http:// or https://"),
        ("example.com/v1", False, "http:// or https://"),
        ("https://", False, "no valid host"),
        ("https://<resource>.example.com", False, "no valid host"),
        ("https://exa mple.com", False, "without spaces"),
        ("http://h:99999/v1", False, "invalid port"),
        ("http://[::1/v1", False, "not a valid URL"),
        ("https://user:pw@example.com", False, "credentials"),
        ("https://example.com/v1?key=x", False, "query"),
        ("https://example.com/anthropic/v1", True, "without /v1"),
        ("https://example.com/anthropic/v1/", True, "without /v1"),
        ("https://example.com/anthropic/v1", False, None),
    ],
)
def test_url_problem(url: str, root: bool, problem: str | None) -> None:
    found = url_problem(url, anthropic_root=root)
    assert found is None if problem is None else problem in (found or "")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:SECRET@h.example/v1", "https://***@h.example/v1"),
        ("https://h.example/v1?key=SECRET", "https://h.example/v1?***"),
        ("http://[::1", "<unparseable URL>"),
        ("https://h.example/v1", "https://h.example/v1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# Presets are TOML: a key appended after a [table] header belongs to that table, so top-level additions
# in the cases below are prepended (`'key = ...' + GOOD`).
GOOD = """
display_name = "Example"
category = "anthropic-cloud"
protocol = "anthropic"
note = "An example."
api_key_env = "EXAMPLE_KEY"

[regions.global]
anthropic_url = "https://api.example.com/anthropic"
openai_url = "https://api.example.com/v1"
"""

LOCAL = """
display_name = "Engine"
category = "local"
protocol = "openai"
engine = "vllm"
port = 8000
auth = "none"
note = "Local."

[regions.local]
openai_url = "http://127.0.0.1:8000/v1"
"""


def test_good_example_loads(tmp_path: Path) -> None:
    (tmp_path / "example.toml").write_text(GOOD)
    (tmp_path / "engine.toml").write_text(LOCAL)
    presets = load_presets_from(tmp_path)
    assert presets["example"].base_url() == "https://api.example.com/anthropic"
    assert presets["engine"].default_region == "local"


INVALID = [
    ("unknown top-level field", 'colour = "red"\n' + GOOD, "unknown field 'colour'"),
    ("wrong type", GOOD.replace('note = "An example."', "note = 3"), "field 'note' must be a string, not int"),
    ("bool as int", "context_length = true\n" + GOOD, "field 'context_length' must be an integer"),
    ("unknown quirk", 'quirks = ["fast_mode"]\n' + GOOD, "field 'quirks' has unknown quirk 'fast_mode'"),
    ("quirks not a list", 'quirks = "strict_fields"\n' + GOOD, "field 'quirks' must be a list of strings"),
    ("bad URL", GOOD.replace("https://api.example.com/v1", "ftp://api.example.com/v1"),
     "field 'regions.global.openai_url' must start with http://"),
    ("anthropic root with /v1", GOOD.replace("example.com/anthropic", "example.com/anthropic/v1"),
     "field 'regions.global.anthropic_url' must be the Anthropic root URL without /v1"),
    ("anthropic protocol without anthropic URL",
     GOOD.replace('anthropic_url = "https://api.example.com/anthropic"\n', ""),
     "field 'regions.global.anthropic_url' is required: the preset's protocol is anthropic"),
    ("missing display name", GOOD.replace('display_name = "Example"', ""), "field 'display_name' is required"),
    ("unknown category", GOOD.replace('"anthropic-cloud"', '"cloud"'), "field 'category' is 'cloud'; expected one of"),
    ("unknown protocol", GOOD.replace('protocol = "anthropic"', 'protocol = "grpc"'), "field 'protocol' is 'grpc'"),
    ("unknown auth", 'auth = "basic"\n' + GOOD, "field 'auth' is 'basic'"),
    ("bad key env name", GOOD.replace('"EXAMPLE_KEY"', '"MY-KEY"'), "field 'api_key_env' is not an environment"),
    ("unknown default region", 'default_region = "mars"\n' + GOOD, "field 'default_region' names no region"),
    ("several regions, no default", GOOD + '[regions.cn]\nanthropic_url = "https://api.example.cn/anthropic"\n',
     "field 'default_region' is required when a preset has several regions"),
    ("unknown region field", GOOD + 'x = 1\n',
     "unknown field 'regions.global.x'"),
    ("unknown model slot", GOOD + '[models]\nfable = "m"\n', "unknown field 'models.fable'"),
    ("no URL and no hint", GOOD.split("[regions")[0], "field 'regions' is required unless 'url_hint'"),
    ("forbidden env", GOOD + '[env]\nANTHROPIC_BASE_URL = "https://x"\n', "field 'env.ANTHROPIC_BASE_URL' may not"),
    ("privacy switch env", GOOD + '[env]\nDISABLE_TELEMETRY = "1"\n', "field 'env.DISABLE_TELEMETRY' may not"),
    ("env not a string", GOOD + "[env]\nAPI_TIMEOUT_MS = 3000000\n", "field 'env.API_TIMEOUT_MS' must be a string"),
    ("credentials in URL", GOOD.replace("https://api.example.com/v1", "https://u:p@api.example.com/v1"),
     "must not contain credentials"),
    ("engine on a hosted preset", 'engine = "vllm"\n' + GOOD, "field 'engine' and 'port' are required for"),
    ("local without engine", LOCAL.replace('engine = "vllm"\n', ""), "field 'engine' and 'port' are required"),
    ("unknown engine", LOCAL.replace('"vllm"', '"tgi"'), "field 'engine' is 'tgi'"),
    ("port as string", LOCAL.replace("port = 8000", 'port = "8000"'), "field 'port' must be an integer"),
    ("local URL off its port", LOCAL.replace("127.0.0.1:8000", "127.0.0.1:9000"),
     "field 'regions.local.openai_url' must be on http://127.0.0.1:8000"),
    ("auth none with key env", 'api_key_env = "X"\n' + LOCAL, "field 'api_key_env' makes no sense"),
    ("not TOML", "display_name = \n", "not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "text", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_presets_fail_clearly(tmp_path: Path, case: str, text: str, message: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(PresetError) as info:
        load_preset_file(path)
    assert str(path) in str(info.value), "the error names the file"
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_file_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "Bad_Name.toml"
    path.write_text(GOOD)
    with pytest.raises(PresetError, match="lowercase"):
        load_preset_file(path)
