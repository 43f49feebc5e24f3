"""The context-window verdict: measured figures per Claude Code release, refusals, warnings and their fixes."""

from __future__ import annotations

from ccb.cli.engines.status import EngineStatus, ModelInfo
from ccb.cli.window import PROMPT_SIZES, engine_verdict, judge_window, prompt_size


def test_figures_per_release_range() -> None:
    assert prompt_size("2.1.197").measured_on == "2.1.197"
    assert prompt_size("2.1.100").measured_on == "2.1.197"  # older releases use the oldest measurement
    assert prompt_size("2.1.331 (Claude Code)").measured_on == "2.1.197"
    assert prompt_size("2.1.332").measured_on == "2.1.332"
    assert prompt_size("2.2.5").measured_on == "2.1.332"
    assert prompt_size(None).measured_on == PROMPT_SIZES[-1][1].measured_on
    for _, size in PROMPT_SIZES:
        assert 15_000 < size.first_request < size.minimum_window() <= 32_768
        assert size.minimum_window() >= size.refuses_below


def test_an_8k_llamacpp_window_is_refused_with_the_exact_flag() -> None:
    verdict = judge_window(8192, kind="llamacpp", trained=131072, claude_version="2.1.332")
    assert verdict is not None and verdict.level == "refuse"
    assert "8,192" in verdict.problem and "Claude Code 2.1.332" in verdict.problem
    assert "tool definitions 16,706" in verdict.problem and "26,368" in verdict.problem
    assert verdict.fix == "restart llama-server with `-c 65536 -np 1` (the window is per slot: -c divided by -np)"


def test_each_engine_gets_its_own_fix() -> None:
    fixes = {
        kind: judge_window(4096, kind=kind, claude_version="2.1.197").fix  # type: ignore[union-attr]
        for kind in ("ollama", "vllm", "sglang", "lmstudio")
    }
    assert "OLLAMA_CONTEXT_LENGTH=65536" in fixes["ollama"] and "num_ctx 65536" in fixes["ollama"]
    assert "--max-model-len 65536" in fixes["vllm"]
    assert "--context-length 65536" in fixes["sglang"]
    assert "--context-length 65536" in fixes["lmstudio"]
    assert "65536" in judge_window(4096, kind=None).fix  # type: ignore[union-attr]


def test_a_model_trained_for_less_gets_a_better_model_not_a_bigger_window() -> None:
    verdict = judge_window(8192, kind="llamacpp", trained=8192, claude_version="2.1.197")
    assert verdict is not None and verdict.level == "refuse"
    assert "trained for only 8,192 tokens, so a bigger window will not help" in verdict.fix
    assert "-c 65536" not in verdict.fix
    late = judge_window(131072, kind="ollama", trained=8192, claude_version="2.1.197")
    assert late is not None and late.level == "warn" and "trained for only 8,192" in late.problem


def test_tight_but_workable_windows_warn_and_big_ones_pass() -> None:
    tight = judge_window(32768, kind="vllm", claude_version="2.1.332")
    assert tight is not None and tight.level == "warn" and "compact" in tight.problem
    assert judge_window(65536, kind="vllm", claude_version="2.1.332") is None
    assert judge_window(None, kind="vllm") is None


def test_a_window_the_user_set_turns_the_refusal_into_a_warning() -> None:
    verdict = judge_window(8192, kind="llamacpp", claude_version="2.1.332", user_window=65536)
    assert verdict is not None and verdict.level == "warn" and "sets 65,536 itself" in verdict.problem


def test_a_template_without_tools_can_chat_and_claude_is_told_a_window_it_accepts() -> None:
    status = EngineStatus(
        "http://127.0.0.1:8080", "ok", kind="llamacpp", tools=False, models=(ModelInfo("smol", 8192, True, (), 8192),)
    )
    verdict = engine_verdict(status, kind=None, claude_version="2.1.332")
    assert verdict is not None and verdict.level == "warn"
    assert "cannot read files" in verdict.problem
    assert verdict.claude_window == prompt_size("2.1.332").minimum_window()
