"""`ccb doctor` on the web search backend: fake SearXNG, Brave Search and Tavily on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.search_backends import BRAVE_KEY, SearchBackends
from tests.support.doctor import add, by_id, clean_env, doctor_json, install_fake_claude, onboard
from tests.support.servers import ServerThread


@pytest.fixture(autouse=True)
def setup(isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clean_env(monkeypatch)
    monkeypatch.delenv("CCB_WEB_SEARCH", raising=False)
    monkeypatch.delenv("BRAVE_API_KEY", raising=False)
    install_fake_claude(tmp_path / "bin", monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    onboard(isolated_home)
    return isolated_home


def web_check(*args: str) -> dict[str, str]:
    checks = by_id(doctor_json(*args))
    found = [c for c in checks.values() if c["area"] == "websearch"]
    assert len(found) == 1, found
    return found[0]


def test_not_configured_says_how() -> None:
    add("box", "vllm", base_url="http://127.0.0.1:9/v1", model="m")
    check = web_check("--offline")
    assert check["status"] == "skip" and "not configured" in check["finding"]
    assert "--web-search http://127.0.0.1:8888" in check["finding"]


def test_direct_route_does_not_use_a_backend() -> None:
    add("kimi", "kimi", api_key_env="MOONSHOT_API_KEY", web_search="http://127.0.0.1:8888")
    check = web_check("--offline")
    assert check["status"] == "warn" and "without the bridge" in check["finding"]


@pytest.mark.parametrize(
    ("mode", "status", "words"),
    [
        ("ok", "ok", "answers JSON with results (3 for a test query)"),
        ("empty", "warn", "found nothing"),
        ("429", "warn", "rate limiting"),
        ("forbidden", "fail", "refused the JSON API"),
        ("garbage", "fail", "not its JSON search result"),
    ],
)
def test_searxng_answers(mode: str, status: str, words: str) -> None:
    backends = SearchBackends()
    if mode == "empty":
        backends.hits = []
    else:
        backends.mode = mode
    with ServerThread(backends.app) as server:
        add("box", "vllm", base_url="http://127.0.0.1:9/v1", model="m", web_search=server.url)
        check = web_check()
    assert check["status"] == status and words in check["finding"], check
    assert "SearXNG at " in check["finding"] and "profile 'box'" in check["finding"]
    if status == "fail":
        assert "formats: [html, json]" in (check["fix"] or "")


def test_searxng_down_fails_with_the_fix() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    add("box", "vllm", base_url="http://127.0.0.1:9/v1", model="m", web_search=f"http://127.0.0.1:{port}")
    check = web_check()
    assert check["status"] == "fail" and "cannot reach SearXNG" in check["finding"]
    assert "docker run" in (check["fix"] or "")


def test_ccb_web_search_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    backends = SearchBackends()
    with ServerThread(backends.app) as server:
        monkeypatch.setenv("CCB_WEB_SEARCH", server.url)
        add("box", "vllm", base_url="http://127.0.0.1:9/v1", model="m")
        check = web_check()
    assert check["status"] == "ok" and "($CCB_WEB_SEARCH)" in check["finding"]


def test_brave_key_missing_then_present(monkeypatch: pytest.MonkeyPatch) -> None:
    backends = SearchBackends()
    with ServerThread(backends.app) as server:
        add(
            "box",
            "vllm",
            base_url="http://127.0.0.1:9/v1",
            model="m",
            web_search=f"brave:{server.url}/res/v1/web/search",
        )
        missing = web_check()
        assert missing["id"] == "websearch.key" and missing["status"] == "fail"
        assert "export BRAVE_API_KEY=" in (missing["fix"] or "")
        monkeypatch.setenv("BRAVE_API_KEY", "wrong-key-000000")
        wrong = web_check()
        assert wrong["status"] == "fail" and "refused the key in $BRAVE_API_KEY" in wrong["finding"]
        monkeypatch.setenv("BRAVE_API_KEY", BRAVE_KEY)
        report = doctor_json()
    check = next(c for c in report["checks"] if c["area"] == "websearch")
    assert check["status"] == "ok" and "Brave Search" in check["finding"]
    assert BRAVE_KEY not in str(report)
