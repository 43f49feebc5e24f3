"""Doctor checks on the profile and its backend: key, model, route, reachability, key acceptance, listing.

`profile_checks` and `route_check` are pure. `fetch_listing` does network I/O: one or a few GETs of the
backend's model list with the profile's auth (≈3 s each), which tells a rejected key (401/403) apart from a
wrong URL (404). `backend_checks` turns its result into verdicts, purely.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from ccb.cli.doctor.context import Check, Context, error_message
from ccb.cli.engines.catalog import model_list_urls
from ccb.cli.engines.http import ModelList, auth_headers, client_for, fetch_model_list, is_refusal
from ccb.cli.errors import CcbError
from ccb.cli.plan import choose_route, is_local
from ccb.cli.profile_store import Profile
from ccb.cli.redact import mask_key
from ccb.profiles import redact_url

if TYPE_CHECKING:
    from ccb.cli.engines.status import EngineStatus

NETWORK_TIMEOUT_S = 3.0
_SHOW_MODELS = 8  # how many listed ids a "model not found" finding names


def profile_selected_check(ctx: Context) -> Check:
    if ctx.profile_error is not None:
        return Check(
            "profile.selected",
            "profile",
            "fail",
            ctx.profile_error,
            "list your profiles with `ccb profile list`; add one with `ccb profile add NAME --preset PRESET`",
        )
    if ctx.profile is None:
        return Check(
            "profile.selected",
            "profile",
            "warn",
            "no profile given and none is active: only Claude Code, settings and base-URL checks ran",
            "add one: `ccb profile add NAME --preset PRESET --activate` (see `ccb profile presets`), "
            "or pass --profile NAME",
        )
    p = ctx.profile
    return Check(
        "profile.selected",
        "profile",
        "ok",
        f"profile '{p.name}' ({ctx.profile_origin}): preset {p.preset}, {p.protocol} API at {redact_url(p.base_url)}",
    )


def key_check(profile: Profile) -> Check:
    key = profile.resolve_key()
    if profile.api_key:
        return Check("profile.key", "profile", "ok", f"key stored in the profile ({mask_key(profile.api_key)})")
    if profile.api_key_env and key:
        return Check("profile.key", "profile", "ok", f"key from ${profile.api_key_env} ({mask_key(key)})")
    if profile.api_key_env:
        return Check(
            "profile.key",
            "profile",
            "fail",
            f"the profile takes its key from ${profile.api_key_env}, which is not set in this shell",
            f"export {profile.api_key_env}=YOUR_KEY (e.g. in your shell profile), then run doctor again",
        )
    if profile.auth == "none" or is_local(profile):
        return Check("profile.key", "profile", "ok", "no key configured (the backend is not expected to need one)")
    return Check(
        "profile.key",
        "profile",
        "warn",
        "the profile has no key, and hosted providers need one",
        f"recreate it with --api-key-env VAR: `ccb profile remove {profile.name}` then "
        f"`ccb profile add {profile.name} --preset {profile.preset} --api-key-env VAR`",
    )


def model_check(profile: Profile) -> Check:
    slots = profile.slots()
    if "model" in slots:
        others = ", ".join(f"{slot} {m}" for slot, m in slots.items() if slot != "model" and m != slots["model"])
        return Check(
            "profile.model",
            "profile",
            "ok",
            f"main model {slots['model']}" + (f" ({others})" if others else ""),
        )
    if is_local(profile):
        return Check("profile.model", "profile", "ok", "no model named: ccb uses the engine's loaded model")
    return Check(
        "profile.model",
        "profile",
        "warn",
        "the profile names no model: Claude Code would ask the provider for claude-opus-4-8",
        f"pass one per run (`ccb launch {profile.name} --model MODEL`) or recreate the profile with --model; "
        f"`ccb models {profile.name}` lists what the provider serves",
    )


def route_check(profile: Profile, status: EngineStatus | None, probed: bool) -> Check:
    route = choose_route(profile, status)
    how = "directly" if route.kind == "direct" else "through the embedded bridge"
    caveat = (
        ""
        if probed or profile.protocol != "openai" or not is_local(profile)
        else " (decided without probing the engine: --offline)"
    )
    return Check("launch.route", "profile", "ok", f"`ccb launch {profile.name}` connects {how}: {route.reason}{caveat}")


@dataclass(frozen=True)
class Attempt:
    url: str
    status: int  # 0 when no HTTP answer came back
    failure: str | None = None  # "refused" | "timeout" | "error"
    reason: str = ""
    models: tuple[str, ...] | None = None  # ids when this URL held a model list
    message: str = ""  # error text from the body, for 4xx/5xx


@dataclass(frozen=True)
class Listing:
    base: str
    sent_key: bool
    attempts: tuple[Attempt, ...]
    latency_ms: float | None  # of the first HTTP answer

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]

    @property
    def models(self) -> tuple[str, ...] | None:
        return next((a.models for a in self.attempts if a.models is not None), None)


def listing_base(profile: Profile) -> str:
    # The same base `ccb models PROFILE` asks: the OpenAI base when there is one (model lists live there).
    return profile.openai_base_url or profile.base_url


async def fetch_listing(profile: Profile, timeout: float = NETWORK_TIMEOUT_S) -> Listing:
    """Ask the backend for its model list with the profile's auth; stop at the first list or auth refusal."""
    base = listing_base(profile)
    key = profile.resolve_key()
    try:
        urls = model_list_urls(base)
        headers = auth_headers(key, profile.auth, anthropic=len(urls) > 1)
    except CcbError as exc:
        return Listing(base, bool(key), (Attempt(base, 0, "error", exc.message),), None)
    attempts: list[Attempt] = []
    latency: float | None = None
    async with client_for(base, timeout=timeout) as client:
        for url in urls:
            started = time.perf_counter()
            try:
                answer = await fetch_model_list(client, url, headers)
            except httpx.ConnectError as exc:
                refused = is_refusal(exc)
                attempts.append(
                    Attempt(
                        url,
                        0,
                        "refused" if refused else "error",
                        "connection refused" if refused else f"could not connect: {exc}",
                    )
                )
                break
            except httpx.TimeoutException:
                attempts.append(Attempt(url, 0, "timeout", f"no answer within {timeout:g} s"))
                break
            except httpx.HTTPError as exc:
                attempts.append(Attempt(url, 0, "error", f"{type(exc).__name__}: {exc}"))
                break
            if latency is None:
                latency = (time.perf_counter() - started) * 1000
            attempts.append(_attempt_from(url, answer))
            if attempts[-1].models is not None or answer.status in (401, 403):
                break
    return Listing(base, bool(key) and profile.auth != "none", tuple(attempts), latency)


def _attempt_from(url: str, answer: ModelList) -> Attempt:
    if answer.models is not None:
        return Attempt(url, answer.status, models=tuple(m.id for m in answer.models))
    return Attempt(url, answer.status, message=error_message(answer.body, answer.text))


def _same_model(wanted: str, listed: str) -> bool:
    # Ollama lists "qwen3:latest" for a model people call "qwen3".
    return wanted == listed or f"{wanted}:latest" == listed or wanted == f"{listed}:latest"


def backend_checks(profile: Profile, listing: Listing, status: EngineStatus | None) -> list[Check]:
    final = listing.final
    shown_url = redact_url(final.url)
    if final.failure is not None:
        start = (
            "start the engine (see `ccb probe`)"
            if is_local(profile)
            else "check the URL, your network and any proxy settings"
        )
        return [
            Check(
                "backend.reachable",
                "backend",
                "fail",
                f"{shown_url}: {final.reason}",
                f"{start}; the profile's URL is {redact_url(listing.base)}",
            ),
            Check("backend.auth", "backend", "skip", "key not checked: the backend did not answer"),
            Check("backend.model", "backend", "skip", "model not checked: the backend did not answer"),
        ]
    checks = [
        Check(
            "backend.reachable",
            "backend",
            "ok",
            f"{redact_url(listing.base)} answered in {listing.latency_ms or 0:.0f} ms",
        )
    ]
    models = listing.models
    if final.status in (401, 403):
        if listing.sent_key:
            finding = f"the key was rejected: {shown_url} answered HTTP {final.status} ({final.message})"
            fix = (
                "check the key is current and meant for this provider/region (keys are often region-bound); "
                f"update it, e.g. `export {profile.api_key_env or 'VAR'}=NEW_KEY`"
            )
        else:
            finding = f"the backend wants a key: {shown_url} answered HTTP {final.status} with none sent"
            fix = (
                f"give the profile a key: `ccb profile remove {profile.name}` then `ccb profile add "
                f"{profile.name} --preset {profile.preset} --api-key-env VAR`"
            )
        checks.append(Check("backend.auth", "backend", "fail", finding, fix))
        checks.append(Check("backend.model", "backend", "skip", "model not checked: the model list needs a valid key"))
        return checks
    if models is None:
        tried = ", ".join(f"{redact_url(a.url)} → HTTP {a.status}" for a in listing.attempts)
        if all(a.status == 404 for a in listing.attempts):
            checks.append(
                Check(
                    "backend.auth",
                    "backend",
                    "warn",
                    f"no model list found ({tried}), so the key could not be verified",
                    "check the base URL: a 404 usually means a wrong path (not a wrong key); "
                    "compare it with the provider's docs or `ccb profile presets`",
                )
            )
        else:
            checks.append(
                Check(
                    "backend.auth",
                    "backend",
                    "warn",
                    f"the model list did not answer normally ({tried}: {final.message})",
                    "retry later; if it persists, check the provider's status page",
                )
            )
        checks.append(Check("backend.model", "backend", "skip", "model not checked: the backend has no model list"))
        return checks
    what = "key accepted" if listing.sent_key else "no key needed"
    checks.append(
        Check(
            "backend.auth",
            "backend",
            "ok",
            f"{what}: the model list answered with {len(models)} model{'' if len(models) == 1 else 's'}",
        )
    )
    checks.append(_model_listed(profile, models, status))
    return checks


def _model_listed(profile: Profile, models: tuple[str, ...], status: EngineStatus | None) -> Check:
    from ccb.cli.plan import with_engine_model

    wanted = list(dict.fromkeys(with_engine_model(profile, status).slots().values()))
    if not wanted:
        return Check("backend.model", "backend", "skip", "the profile names no model to look for")
    missing = [m for m in wanted if not any(_same_model(m, listed) for listed in models)]
    if not missing:
        return Check("backend.model", "backend", "ok", f"{', '.join(wanted)} listed by the backend")
    sample = ", ".join(models[:_SHOW_MODELS]) + (" …" if len(models) > _SHOW_MODELS else "")
    return Check(
        "backend.model",
        "backend",
        "warn",
        f"{', '.join(missing)} not among the {len(models)} models the backend lists",
        f"check the spelling or pick a listed one ({sample or 'none listed'}); "
        f"`ccb models {profile.name}` shows them all",
    )


def skipped_backend(reason: str) -> list[Check]:
    subjects = {"backend.reachable": "reachability", "backend.auth": "key", "backend.model": "model listing"}
    return [Check(cid, "backend", "skip", f"{what}: {reason}") for cid, what in subjects.items()]
