"""Which search backend a `web_search` setting names, and its key. Pure apart from reading the environment.

    http://127.0.0.1:8888            a SearXNG instance (its JSON API must be on: `search.formats: [json]`)
    searxng:URL                      the same, spelled out
    brave  /  brave:URL              Brave Search API (key from BRAVE_API_KEY unless named otherwise)
    tavily /  tavily:URL             Tavily (key from TAVILY_API_KEY unless named otherwise)

Keys are never part of the setting: they are read from an environment variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit

KINDS = ("searxng", "brave", "tavily")
DEFAULT_URLS = {"brave": "https://api.search.brave.com/res/v1/web/search", "tavily": "https://api.tavily.com/search"}
DEFAULT_KEY_ENVS = {"brave": "BRAVE_API_KEY", "tavily": "TAVILY_API_KEY"}


class SpecError(ValueError):
    """A `web_search` setting ccb cannot use."""


@dataclass(frozen=True, slots=True)
class Backend:
    kind: str
    url: str
    key_env: str | None = None

    @property
    def label(self) -> str:
        return "SearXNG" if self.kind == "searxng" else "Brave Search" if self.kind == "brave" else "Tavily"

    @property
    def search_url(self) -> str:
        if self.kind == "searxng":
            base = self.url.rstrip("/")
            return base if base.endswith("/search") else base + "/search"
        return self.url


def parse_spec(spec: str, key_env: str | None = None) -> Backend:
    """The backend a `web_search` setting names; SpecError with the fix when it names none."""
    text = spec.strip()
    kind, url = "searxng", text
    if not text.lower().startswith(("http://", "https://")):
        head, _, rest = text.partition(":")
        kind = head.strip().lower()
        if kind not in KINDS:
            raise SpecError(
                f"web search backend {spec!r} is unknown: give a SearXNG URL (http://127.0.0.1:8888), "
                f"or one of {', '.join(KINDS)} (e.g. brave, tavily:https://api.tavily.com/search)"
            )
        url = rest.strip() or DEFAULT_URLS.get(kind, "")
        if not url:
            raise SpecError("searxng needs its URL: searxng:http://127.0.0.1:8888 (or just the URL)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError("the web search URL is not an http(s) URL: write it like http://127.0.0.1:8888")
    if kind == "searxng":
        return Backend(kind, url.rstrip("/"), None)
    return Backend(kind, url, key_env or DEFAULT_KEY_ENVS[kind])


def resolve_key(backend: Backend, environ: dict[str, str] | None = None) -> str | None:
    if not backend.key_env:
        return None
    value = (environ if environ is not None else os.environ).get(backend.key_env, "").strip()
    return value or None


class BridgeFields(TypedDict, total=False):
    """BridgeConfig's web search fields, all or none."""

    web_search: str | None
    web_search_key: str | None
    web_search_key_env: str | None


def bridge_fields(spec: str | None, key_env: str | None = None, environ: dict[str, str] | None = None) -> BridgeFields:
    """The BridgeConfig fields for a `web_search` setting (none when it is empty); SpecError when unusable."""
    if not spec or not spec.strip():
        return {}
    backend = parse_spec(spec, key_env)
    return {
        "web_search": spec.strip(),
        "web_search_key_env": backend.key_env,
        "web_search_key": resolve_key(backend, environ),
    }
