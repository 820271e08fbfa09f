"""Client-header checks, for services that send them: ETag, Cache-Control, 304s, private ``/me``."""

from __future__ import annotations

import httpx
from werkzeug.http import unquote_etag

from cachebench.run.verify.check_framework import (
    DEFAULT_SEED,
    FAIL,
    PASS,
    CheckFunction,
    CheckResult,
    Service,
    check,
    exchange,
    verdict,
)
from cachebench.run.verify.http_headers import cache_control
from cachebench.serve.origin import user_token


def _conditional(t: Service, path: str) -> tuple[httpx.Response, str | None]:
    response = t.client.get(path)
    return response, response.headers.get("etag")


@check("ETag and Cache-Control")
def check_etag_and_cache_control(t: Service, name: str) -> CheckResult:
    response, tag = _conditional(t, f"/items/{t.fresh_id()}")
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{exchange(response)}, expected 200")
    problems = []
    if not tag:
        problems.append("no ETag")
    elif tag.startswith("W/") or not (len(tag) > 2 and tag[0] == tag[-1] == '"'):
        problems.append(f"ETag {tag!r} is not a quoted strong validator")
    control = cache_control(response.headers.get("cache-control"))
    if control.max_age is None:
        problems.append(f"Cache-Control {response.headers.get('cache-control')!r} has no max-age")
    if control.public:
        # An item is fetched without Authorization, so shared caches may store it anyway.
        problems.append("Cache-Control says public, which adds nothing (REDbot STORE_PUBLIC_UNNECESSARY)")
    return verdict(name, problems, f"ETag {tag}, Cache-Control {response.headers.get('cache-control')!r}")


@check("If-None-Match 304")
def check_if_none_match(t: Service, name: str) -> CheckResult:
    """A matching If-None-Match, in each form RFC 9110 allows, is answered 304 with the same validators."""
    path = f"/items/{t.fresh_id()}"
    response, tag = _conditional(t, path)
    if response.status_code != 200 or not tag:
        return CheckResult(name, FAIL, f"{exchange(response)} with ETag {tag!r}: nothing to revalidate")
    opaque, _ = unquote_etag(tag)
    forms = {"exact": tag, "list": f'"x", {tag}', "weak": f'W/"{opaque}"', "star": "*"}
    problems = []
    for label, header in forms.items():
        revalidated = t.client.get(path, headers={"If-None-Match": header})
        if revalidated.status_code != 304:
            problems.append(f"{label} ({header}): {revalidated.status_code}, expected 304")
            continue
        if revalidated.content:
            problems.append(f"{label}: 304 with a {len(revalidated.content)}-byte body")
        for header_name in ("etag", "cache-control"):
            if revalidated.headers.get(header_name) != response.headers.get(header_name):
                problems.append(f"{label}: 304 {header_name} {revalidated.headers.get(header_name)!r}")
    return verdict(name, problems, "exact, list, W/ and * -> 304, no body, same ETag and Cache-Control")


@check("If-None-Match mismatch 200")
def check_if_none_match_mismatch(t: Service, name: str) -> CheckResult:
    path = f"/items/{t.fresh_id()}"
    response = t.client.get(path, headers={"If-None-Match": '"no-such-version"'})
    problems = (
        [] if response.status_code == 200 and response.content else [f"{exchange(response)}, expected 200"]
    )
    return verdict(name, problems, "a non-matching ETag -> 200 with the body")


@check("ETag changes after PUT")
def check_etag_changes(t: Service, name: str) -> CheckResult:
    item_id = t.fresh_id()
    path = f"/items/{item_id}"
    response, before = _conditional(t, path)
    written, _ = t.put_name(t.client, item_id)
    if written.status_code != 200:
        return CheckResult(name, FAIL, f"{exchange(written)}, expected 200")
    _, after = _conditional(t, path)
    if not before or not after or before == after:
        return CheckResult(name, FAIL, f"ETag {before!r} before the PUT, {after!r} after")
    revalidated = t.client.get(path, headers={"If-None-Match": before})
    if revalidated.status_code != 200:
        return CheckResult(name, FAIL, f"the old ETag {before} still revalidates: {revalidated.status_code}")
    return CheckResult(name, PASS, f"{before} -> {after}; the old ETag gets 200")


@check("/me private, Vary")
def check_me_private(t: Service, name: str) -> CheckResult:
    token = user_token(1, int(t.setting("seed", DEFAULT_SEED)))
    response = t.client.get("/me", headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{exchange(response)}, expected 200")
    problems = []
    control = cache_control(response.headers.get("cache-control"))
    if not control.private or control.public:
        problems.append(f"Cache-Control {response.headers.get('cache-control')!r} is not private")
    vary = {v.strip().lower() for v in response.headers.get("vary", "").split(",")}
    if "authorization" not in vary:
        problems.append(f"Vary {response.headers.get('vary')!r} lacks Authorization")
    return verdict(
        name,
        problems,
        f"Cache-Control {response.headers.get('cache-control')!r}, Vary {response.headers.get('vary')}",
    )


CLIENT_HEADER_CHECKS: tuple[CheckFunction, ...] = (
    check_etag_and_cache_control,
    check_if_none_match,
    check_if_none_match_mismatch,
    check_etag_changes,
    check_me_private,
)
