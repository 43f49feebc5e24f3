"""Doctor checks on the web search backend the bridge uses for Claude Code's WebSearch. Does network I/O.

The backend is the profile's `web_search` setting, else $CCB_WEB_SEARCH (as for `ccb launch`). Online, one
test query goes to it: it must be reachable, answer JSON of its documented shape and return results. The
query and its results are not shown, only counts; a key is never part of a finding.
"""

from __future__ import annotations

import os

from ccb.cli.doctor.context import Check, Context
from ccb.proxy.websearch.spec import Backend, SpecError, parse_spec, resolve_key

AREA = "websearch"
TEST_QUERY = "claude code"
TIMEOUT_S = 8.0
HOW = (
    "ccb profile add NAME --preset ... --web-search http://127.0.0.1:8888 (a SearXNG instance), "
    "or --web-search brave / tavily with the key in BRAVE_API_KEY / TAVILY_API_KEY"
)


def _skip(finding: str) -> list[Check]:
    return [Check("websearch.backend", AREA, "skip", finding)]


async def web_search_checks(ctx: Context) -> list[Check]:
    profile = ctx.profile
    if profile is None:
        return []
    spec = profile.web_search or os.environ.get("CCB_WEB_SEARCH")
    source = f"profile '{profile.name}'" if profile.web_search else "$CCB_WEB_SEARCH"
    if profile.protocol == "anthropic":
        if spec:
            return [
                Check(
                    "websearch.backend",
                    AREA,
                    "warn",
                    f"a web search backend is set ({source}) but profile '{profile.name}' goes straight to "
                    "the provider, without the bridge: WebSearch is the provider's, the backend is unused",
                    "remove the setting, or use the provider's OpenAI endpoint (--protocol openai)",
                )
            ]
        return _skip("not needed: the provider answers Claude Code's web searches itself (direct route)")
    if not spec:
        return _skip(f"not configured: WebSearch answers that web search is not configured. To enable it: {HOW}")
    try:
        backend = parse_spec(spec, profile.web_search_key_env)
    except SpecError as exc:
        return [Check("websearch.backend", AREA, "fail", f"the web search setting of {source} is unusable: {exc}", HOW)]
    key = resolve_key(backend)
    if backend.key_env and key is None:
        return [
            Check(
                "websearch.key",
                AREA,
                "fail",
                f"{backend.label} needs a key in ${backend.key_env}, which is not set in this shell",
                f"export {backend.key_env}=... before `ccb launch` or `ccb profile switch`",
            )
        ]
    where = f"{backend.label} at {_public(backend.search_url)} ({source})"
    if ctx.offline:
        return _skip(f"{where}: not queried (--offline)")
    return [await _query(backend, key, where)]


def _public(url: str) -> str:
    from ccb.profiles import redact_url

    return redact_url(url)


async def _query(backend: Backend, key: str | None, where: str) -> Check:
    from ccb.proxy.translate.websearch import ServerTool
    from ccb.proxy.websearch.backends import search

    outcome = await search(backend, key, TEST_QUERY, ServerTool(), timeout=TIMEOUT_S)
    if outcome.error == "too_many_requests":
        return Check(
            "websearch.backend",
            AREA,
            "warn",
            f"{where} is rate limiting: {outcome.message}",
            "searches fail until the limit resets; a self-hosted SearXNG has none",
        )
    if outcome.error:
        return Check("websearch.backend", AREA, "fail", f"{where}: {outcome.message}", _fix(backend))
    if not outcome.results:
        return Check(
            "websearch.backend",
            AREA,
            "warn",
            f"{where} answers JSON but found nothing for a test query",
            "check that the instance has search engines enabled and can reach them",
        )
    return Check(
        "websearch.backend", AREA, "ok", f"{where} answers JSON with results ({len(outcome.results)} for a test query)"
    )


def _fix(backend: Backend) -> str:
    if backend.kind == "searxng":
        return (
            "start the instance (e.g. `docker run -p 8888:8080 searxng/searxng`) and enable its JSON API: "
            "`search: formats: [html, json]` in settings.yml"
        )
    return f"check the key in ${backend.key_env} and that {backend.url} is reachable from here"
