"""TechEmpower-style verification: does a running service keep the cachebench HTTP contract?

``verify(base_url, strategy)`` runs every applicable check against one service and returns a
``CheckResult`` per check. Each check is a small function of a ``Target`` (the service plus what
its ``/healthz`` says about it) that sends a handful of requests and returns pass, warn or fail.

With ``strict=False`` (a service verify did not start, maybe not a cachebench target at all) the
checks that need cachebench internals (``/healthz`` settings, ``/metrics``, ``Cache-Status``,
``Server-Timing``) answer ``warn`` rather than ``fail`` when those internals are missing.
"""

from __future__ import annotations

import functools
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.datastructures import ResponseCacheControl
from werkzeug.http import parse_cache_control_header, unquote_etag

from cachebench.serve.origin import user_token

Status = Literal["pass", "warn", "fail"]
PASS: Status = "pass"
WARN: Status = "warn"
FAIL: Status = "fail"

ITEM_FIELDS = frozenset({"id", "version", "updated_at", "name", "payload"})
CACHED_STRATEGIES = frozenset({"l1", "redis", "hierarchical"})
UNCACHED_STRATEGIES = frozenset({"nocache", "client-headers"})
#: Cache layers that live in each worker's memory (one copy per process).
IN_PROCESS_LAYERS = frozenset({"l1"})
UNKNOWN_ITEM_ID = 2_147_483_647  # the largest valid id; origin_items is at most 10 million
DEFAULT_MAX_BODY_BYTES = 65_536
DEFAULT_ORIGIN_ITEMS = 10_000
DEFAULT_SEED = 42
REQUEST_TIMEOUT_S = 10.0
#: New connections used to warm a key in every worker, and to read it back after a write.
CROSS_PROCESS_WARM_MAX = 40
CROSS_PROCESS_WARM_MIN = 10
CROSS_PROCESS_READS = 20
#: Pub/sub invalidation is asynchronous: how long to wait before calling a stale read a failure.
INVALIDATION_GRACE_S = 0.5
FRESH_ID_ATTEMPTS = 3


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    reason: str


def _result(name: str, problems: list[str], ok_reason: str) -> CheckResult:
    if problems:
        return CheckResult(name, FAIL, "; ".join(problems))
    return CheckResult(name, PASS, ok_reason)


CheckFunction = Callable[["Target"], "CheckResult | None"]


def check(name: str) -> Callable[[Callable[[Target, str], CheckResult | None]], CheckFunction]:
    """Name a check; a request error or an answer of the wrong shape becomes its ``fail``."""

    def decorate(body: Callable[[Target, str], CheckResult | None]) -> CheckFunction:
        @functools.wraps(body)
        def run(target: Target) -> CheckResult | None:
            try:
                return body(target, name)
            except httpx.HTTPError as exc:
                return CheckResult(name, FAIL, f"request failed: {type(exc).__name__}: {exc}")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # Not JSON, a field missing, ...: this check fails, the others still run.
                return CheckResult(name, FAIL, f"unexpected answer: {type(exc).__name__}: {exc}")

        run.check_name = name  # type: ignore[attr-defined]
        return run

    return decorate


# -- header parsing ------------------------------------------------------------------------


def cache_status_members(value: str | None) -> list[tuple[str, dict[str, str | bool]]]:
    """RFC 9211 ``Cache-Status`` as (cache name, params), from origin-nearest to client-nearest."""
    members = []
    for member in (value or "").split(","):
        name, *params = (part.strip() for part in member.split(";"))
        if not name:
            continue
        parsed: dict[str, str | bool] = {}
        for param in params:
            key, eq, val = param.partition("=")
            parsed[key.strip().lower()] = val.strip() if eq else True
        members.append((name, parsed))
    return members


def has_hit(cache_status: str | None) -> bool:
    return any(params.get("hit") for _, params in cache_status_members(cache_status))


def has_miss(cache_status: str | None) -> bool:
    return any(params.get("fwd") == "miss" for _, params in cache_status_members(cache_status))


def server_timing_names(value: str | None) -> list[str]:
    return [metric.split(";")[0].strip() for metric in (value or "").split(",") if metric.strip()]


def cache_control(value: str | None) -> ResponseCacheControl:
    # Directive names compare case-insensitively (RFC 9111 5.2); werkzeug's parser does not.
    return parse_cache_control_header((value or "").lower(), cls=ResponseCacheControl)


def _shown(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url.path} -> {response.status_code}"


# -- the service under test ----------------------------------------------------------------


@dataclass
class Target:
    """One service under test and what its ``/healthz`` says about itself."""

    base_url: str
    strategy: str
    strict: bool
    client: httpx.Client  # keep-alive: consecutive requests reach the same worker
    fresh: httpx.Client  # ``Connection: close``: every request opens a new connection
    health: dict | None
    workers: int | None = None
    rng: random.Random = field(default_factory=random.Random)
    used_ids: set[int] = field(default_factory=set)

    @property
    def settings(self) -> dict:
        return (self.health or {}).get("settings") or {}

    def setting(self, name: str, default: object) -> object:
        value = self.settings.get(name)
        return default if value is None else value

    @property
    def client_headers(self) -> bool:
        return bool((self.health or {}).get("client_headers")) or self.strategy == "client-headers"

    @property
    def server_cache(self) -> bool | None:
        """Whether the service has cache layers of its own; None when it does not say."""
        if self.strategy in CACHED_STRATEGIES:
            return True
        if self.strategy in UNCACHED_STRATEGIES:
            return False
        layers = (self.health or {}).get("layers")
        return bool(layers) if isinstance(layers, dict) else None

    def fresh_id(self) -> int:
        """An item id not used before in this run; random, so it is unlikely to be cached already."""
        items = int(self.setting("origin_items", DEFAULT_ORIGIN_ITEMS))
        for _ in range(1000):
            item_id = self.rng.randint(1, items)
            if item_id not in self.used_ids or len(self.used_ids) >= items:
                self.used_ids.add(item_id)
                return item_id
        return self.rng.randint(1, items)

    def missing(self, name: str, what: str) -> CheckResult:
        """A check that needs an internal the service lacks: fail for our targets, warn otherwise."""
        return CheckResult(name, FAIL if self.strict else WARN, what)

    def metrics_text(self) -> str | None:
        response = self.client.get("/metrics")
        return response.text if response.status_code == 200 else None

    def count_workers(self) -> int | None:
        """Workers reporting to ``/metrics`` (one RSS series per worker pid), when it says."""
        text = self.metrics_text()
        if text is None:
            return None
        pids = set()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "cachebench_process_resident_memory_bytes" and "pid" in sample.labels:
                    pids.add(sample.labels["pid"])
        return len(pids) or None

    def put_name(self, client: httpx.Client, item_id: int) -> tuple[httpx.Response, str]:
        name = f"verify-{secrets.token_hex(4)}"
        return client.put(f"/items/{item_id}", json={"name": name}), name


# -- status codes --------------------------------------------------------------------------


@check("GET item 200")
def check_item_ok(t: Target, name: str) -> CheckResult:
    item_id = t.fresh_id()
    response = t.client.get(f"/items/{item_id}")
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{_shown(response)}, expected 200")
    try:
        body = response.json()
    except ValueError:
        return CheckResult(name, FAIL, f"{_shown(response)} with a body that is not JSON")
    if not isinstance(body, dict) or set(body) != ITEM_FIELDS:
        got = sorted(body) if isinstance(body, dict) else type(body).__name__
        return CheckResult(name, FAIL, f"fields {got}, expected {sorted(ITEM_FIELDS)}")
    if body["id"] != item_id:
        return CheckResult(name, FAIL, f"asked for item {item_id}, got id {body['id']!r}")
    return CheckResult(name, PASS, f"item {item_id} has {', '.join(sorted(ITEM_FIELDS))}")


@check("GET unknown id 404")
def check_unknown_item(t: Target, name: str) -> CheckResult:
    response = t.client.get(f"/items/{UNKNOWN_ITEM_ID}")
    problems = [] if response.status_code == 404 else [f"{_shown(response)}, expected 404"]
    return _result(name, problems, f"/items/{UNKNOWN_ITEM_ID} -> 404")


@check("GET bad ids 422")
def check_bad_ids(t: Target, name: str) -> CheckResult:
    problems = []
    for bad in ("abc", "0", "99999999999"):
        response = t.client.get(f"/items/{bad}")
        if response.status_code != 422:
            problems.append(f"{_shown(response)}, expected 422")
    return _result(name, problems, "abc, 0, 99999999999 -> 422")


@check("PUT bad bodies 422")
def check_bad_bodies(t: Target, name: str) -> CheckResult:
    path = f"/items/{t.fresh_id()}"
    bodies = {
        "invalid JSON": b'{"name": ',
        "{}": b"{}",
        "extra field": b'{"name": "x", "colour": "red"}',
    }
    problems = []
    for label, body in bodies.items():
        response = t.client.put(path, content=body, headers={"Content-Type": "application/json"})
        if response.status_code != 422:
            problems.append(f"{label}: {_shown(response)}, expected 422")
    return _result(name, problems, "invalid JSON, {} and an extra field -> 422")


@check("PUT oversized 413")
def check_oversized_body(t: Target, name: str) -> CheckResult:
    limit = int(t.setting("max_body_bytes", DEFAULT_MAX_BODY_BYTES))
    padding = "x" * (limit + 1 - len('{"payload": ""}'))
    body = json.dumps({"payload": padding}).encode()
    # A new connection: the server may answer before reading the body and then drop the connection.
    response = t.fresh.put(
        f"/items/{t.fresh_id()}", content=body, headers={"Content-Type": "application/json"}
    )
    problems = [] if response.status_code == 413 else [f"{len(body)} bytes: {_shown(response)}, expected 413"]
    return _result(name, problems, f"{len(body)} bytes (max_body_bytes={limit}) -> 413")


@check("PUT unknown id 404")
def check_put_unknown(t: Target, name: str) -> CheckResult:
    response = t.client.put(f"/items/{UNKNOWN_ITEM_ID}", json={"name": "nobody"})
    problems = [] if response.status_code == 404 else [f"{_shown(response)}, expected 404"]
    return _result(name, problems, f"/items/{UNKNOWN_ITEM_ID} -> 404")


@check("/me 401")
def check_me_unauthorized(t: Target, name: str) -> CheckResult:
    problems = []
    for label, headers in (
        ("no token", {}),
        ("bad token", {"Authorization": "Bearer not-a-real-token"}),
    ):
        response = t.client.get("/me", headers=headers)
        if response.status_code != 401:
            problems.append(f"{label}: {_shown(response)}, expected 401")
    return _result(name, problems, "no token and a bad token -> 401")


@check("/healthz")
def check_healthz(t: Target, name: str) -> CheckResult:
    if t.health is None:
        return t.missing(name, "GET /healthz gave no JSON object with a strategy field")
    reported = t.health.get("strategy")
    if not reported:
        return t.missing(name, "/healthz has no strategy field")
    if t.strategy not in ("unknown", reported):
        return CheckResult(name, FAIL, f"/healthz says strategy {reported!r}, expected {t.strategy!r}")
    return CheckResult(name, PASS, f"200, strategy {reported}")


# -- caching -------------------------------------------------------------------------------


@check("Server-Timing")
def check_server_timing(t: Target, name: str) -> CheckResult:
    response = t.client.get(f"/items/{t.fresh_id()}")
    value = response.headers.get("server-timing")
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{_shown(response)}, expected 200")
    if not value:
        return t.missing(name, "no Server-Timing header on GET /items/{id}")
    return CheckResult(name, PASS, value)


@check("cache transition")
def check_cache_transition(t: Target, name: str) -> CheckResult:
    """A fresh key: the first GET misses (reaches the origin), the second hits, where there is a cache."""
    expect_cache = t.server_cache
    for _ in range(FRESH_ID_ATTEMPTS):
        path = f"/items/{t.fresh_id()}"
        first, second = t.client.get(path), t.client.get(path)
        for response in (first, second):
            if response.status_code != 200:
                return CheckResult(name, FAIL, f"{_shown(response)}, expected 200")
        statuses = [r.headers.get("cache-status") for r in (first, second)]
        timings = [server_timing_names(r.headers.get("server-timing")) for r in (first, second)]
        # Somebody else may have read this random id just before; then try another.
        if not (expect_cache and has_hit(statuses[0])):
            break
    shown = f"{path}: Cache-Status {statuses[0]!r} then {statuses[1]!r}"
    if expect_cache is None:
        if statuses[0] is None:
            return t.missing(name, "no Cache-Status header: cannot tell whether responses are cached")
        expect_cache = True
    if not expect_cache:
        if any(has_hit(s) for s in statuses):
            return CheckResult(name, FAIL, f"{shown}: a server cache hit, but {t.strategy} has no cache")
        if not all("origin" in names for names in timings):
            return CheckResult(name, FAIL, f"Server-Timing {timings}: both GETs should reach the origin")
        return CheckResult(name, PASS, "no server cache: both GETs reached the origin")
    if statuses[0] is None:
        return t.missing(name, "no Cache-Status header on a cached strategy")
    if has_hit(statuses[0]) or not has_miss(statuses[0]):
        return CheckResult(name, FAIL, f"{shown}: the first GET of a fresh key should miss (fwd=miss)")
    if not has_hit(statuses[1]):
        return CheckResult(name, FAIL, f"{shown}: the second GET should hit")
    if "origin" in timings[1]:
        return CheckResult(name, FAIL, f"{shown}: a hit, yet Server-Timing names the origin")
    return CheckResult(name, PASS, f"{statuses[0]!r} then {statuses[1]!r}")


@check("write visibility")
def check_write_visibility(t: Target, name: str) -> CheckResult:
    """After a PUT, the next GET (same connection, so the same worker) sees the new version."""
    mode = t.settings.get("invalidation")
    item_id = t.fresh_id()
    path = f"/items/{item_id}"
    for _ in range(2):  # warm it, so that a cache that ignores writes is caught serving the old one
        before = t.client.get(path)
    response, new_name = t.put_name(t.client, item_id)
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{_shown(response)}, expected 200")
    written = response.json()
    if written.get("name") != new_name or written.get("version") != before.json()["version"] + 1:
        return CheckResult(name, FAIL, f"PUT returned {written!r}: expected the new name and version + 1")
    if response.headers.get("cache-control", "").lower() != "no-store":
        return CheckResult(name, FAIL, f"PUT Cache-Control {response.headers.get('cache-control')!r}")
    after = t.client.get(path)
    if after.status_code != 200:
        return CheckResult(name, FAIL, f"{_shown(after)}, expected 200")
    seen = after.json()
    fresh = seen.get("version") == written["version"] and seen.get("name") == new_name
    if fresh:
        return CheckResult(name, PASS, f"invalidation={mode}: next GET has v{written['version']}")
    stale = f"next GET has v{seen.get('version')} {seen.get('name')!r}, PUT wrote v{written['version']}"
    if mode == "ttl":
        return CheckResult(name, WARN, f"stale until TTL (invalidation=ttl): {stale}")
    if mode is None and not t.strict:
        return CheckResult(name, WARN, f"stale after a write: {stale}")
    return CheckResult(name, FAIL, f"invalidation={mode}: {stale}")


def _read_back(t: Target, path: str, reads: int) -> tuple[list[int], int]:
    """Versions seen on ``reads`` new connections, and how many of them refilled the nearest layer."""
    versions, refills = [], 0
    for _ in range(reads):
        response = t.fresh.get(path)
        versions.append(response.json().get("version"))
        members = cache_status_members(response.headers.get("cache-status"))
        refills += bool(members and members[-1][1].get("stored"))
    return versions, refills


@check("cross-process invalidation")
def check_cross_process(t: Target, name: str) -> CheckResult | None:
    """With several workers: a write is visible on new connections, whichever worker serves them.

    Skipped with one worker or no server cache. For a per-process cache layer, the key is first
    warmed until every worker has stored it (each worker stores once, seen as ``stored`` on the
    client-nearest Cache-Status member), so a stale copy would really exist without invalidation.
    """
    workers = t.workers or t.count_workers()
    if not workers or workers < 2 or not t.server_cache:
        return None
    item_id = t.fresh_id()
    path = f"/items/{item_id}"
    stores = hits = 0
    nearest = None
    for attempt in range(1, CROSS_PROCESS_WARM_MAX + 1):
        response = t.fresh.get(path)
        members = cache_status_members(response.headers.get("cache-status"))
        if not members:
            return t.missing(name, "no Cache-Status header: cannot tell which workers cached the key")
        nearest, params = members[-1]
        stores += bool(params.get("stored"))
        hits += bool(params.get("hit"))
        if stores >= workers and attempt >= CROSS_PROCESS_WARM_MIN:
            break
    per_process = nearest in IN_PROCESS_LAYERS
    if per_process and stores < workers:
        return CheckResult(
            name,
            WARN,
            f"only {stores} of {workers} workers stored {path} in {nearest} over {attempt} new connections: "
            "cannot show that every worker held it",
        )
    if per_process:
        held = f"{stores} of {workers} workers held {path} in {nearest} ({hits} hits)"
    else:
        held = f"{nearest} is shared by the {workers} workers"
    response, _ = t.put_name(t.fresh, item_id)
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{_shown(response)}, expected 200")
    version = response.json()["version"]
    versions, refills = _read_back(t, path, CROSS_PROCESS_READS)
    stale = sum(v != version for v in versions)
    if not stale and per_process and refills < workers:
        # Each worker refills once after dropping the key: fewer refills, fewer workers were read.
        return CheckResult(
            name,
            WARN,
            f"{held}; after a PUT only {refills} of {workers} workers served the {len(versions)} reads",
        )
    if not stale:
        refilled = f" ({refills} workers refilled)" if per_process else ""
        return CheckResult(
            name,
            PASS,
            f"{held}; after a PUT {len(versions)}/{len(versions)} new connections saw v{version}{refilled}",
        )
    seen = f"{stale}/{len(versions)} GETs on new connections after the PUT still saw the old version"
    mode = t.settings.get("invalidation")
    if mode == "ttl":
        return CheckResult(name, WARN, f"stale until TTL (invalidation=ttl): {seen}")
    channel = ((t.health or {}).get("redis") or {}).get("invalidation_channel_healthy")
    if per_process and channel is None:
        return CheckResult(
            name,
            WARN,
            f"{seen}: {nearest} is invalidated only in the worker that served the PUT (stale until TTL)",
        )
    time.sleep(INVALIDATION_GRACE_S)
    later, _ = _read_back(t, path, CROSS_PROCESS_READS)
    if all(v == version for v in later):
        return CheckResult(name, WARN, f"{seen}; all fresh {INVALIDATION_GRACE_S} s later (invalidation lag)")
    return CheckResult(
        name,
        FAIL,
        f"{held}; {seen}, and {sum(v != version for v in later)} still did {INVALIDATION_GRACE_S} s later",
    )


# -- client headers ------------------------------------------------------------------------


def _conditional(t: Target, path: str) -> tuple[httpx.Response, str | None]:
    response = t.client.get(path)
    return response, response.headers.get("etag")


@check("ETag and Cache-Control")
def check_etag_and_cache_control(t: Target, name: str) -> CheckResult:
    response, tag = _conditional(t, f"/items/{t.fresh_id()}")
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{_shown(response)}, expected 200")
    problems = []
    if not tag:
        problems.append("no ETag")
    elif tag.startswith("W/") or not (len(tag) > 2 and tag[0] == tag[-1] == '"'):
        problems.append(f"ETag {tag!r} is not a quoted strong validator")
    control = cache_control(response.headers.get("cache-control"))
    if control.max_age is None:
        problems.append(f"Cache-Control {response.headers.get('cache-control')!r} has no max-age")
    return _result(name, problems, f"ETag {tag}, Cache-Control {response.headers.get('cache-control')!r}")


@check("If-None-Match 304")
def check_if_none_match(t: Target, name: str) -> CheckResult:
    """A matching If-None-Match, in each form RFC 9110 allows, is answered 304 with the same validators."""
    path = f"/items/{t.fresh_id()}"
    response, tag = _conditional(t, path)
    if response.status_code != 200 or not tag:
        return CheckResult(name, FAIL, f"{_shown(response)} with ETag {tag!r}: nothing to revalidate")
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
    return _result(name, problems, "exact, list, W/ and * -> 304, no body, same ETag and Cache-Control")


@check("If-None-Match mismatch 200")
def check_if_none_match_mismatch(t: Target, name: str) -> CheckResult:
    path = f"/items/{t.fresh_id()}"
    response = t.client.get(path, headers={"If-None-Match": '"no-such-version"'})
    problems = (
        [] if response.status_code == 200 and response.content else [f"{_shown(response)}, expected 200"]
    )
    return _result(name, problems, "a non-matching ETag -> 200 with the body")


@check("ETag changes after PUT")
def check_etag_changes(t: Target, name: str) -> CheckResult:
    item_id = t.fresh_id()
    path = f"/items/{item_id}"
    response, before = _conditional(t, path)
    written, _ = t.put_name(t.client, item_id)
    if written.status_code != 200:
        return CheckResult(name, FAIL, f"{_shown(written)}, expected 200")
    _, after = _conditional(t, path)
    if not before or not after or before == after:
        return CheckResult(name, FAIL, f"ETag {before!r} before the PUT, {after!r} after")
    revalidated = t.client.get(path, headers={"If-None-Match": before})
    if revalidated.status_code != 200:
        return CheckResult(name, FAIL, f"the old ETag {before} still revalidates: {revalidated.status_code}")
    return CheckResult(name, PASS, f"{before} -> {after}; the old ETag gets 200")


@check("/me private, Vary")
def check_me_private(t: Target, name: str) -> CheckResult:
    token = user_token(1, int(t.setting("seed", DEFAULT_SEED)))
    response = t.client.get("/me", headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{_shown(response)}, expected 200")
    problems = []
    control = cache_control(response.headers.get("cache-control"))
    if not control.private or control.public:
        problems.append(f"Cache-Control {response.headers.get('cache-control')!r} is not private")
    vary = {v.strip().lower() for v in response.headers.get("vary", "").split(",")}
    if "authorization" not in vary:
        problems.append(f"Vary {response.headers.get('vary')!r} lacks Authorization")
    return _result(
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


# -- users and metrics ---------------------------------------------------------------------


@check("per-user isolation")
def check_user_isolation(t: Target, name: str) -> CheckResult:
    """Two users, interleaved and each twice (so the second read may be a cache hit): never mixed up."""
    seed = int(t.setting("seed", DEFAULT_SEED))
    bodies: dict[int, set[bytes]] = {1: set(), 2: set()}
    for uid in (1, 2, 1, 2):
        response = t.client.get("/me", headers={"Authorization": f"Bearer {user_token(uid, seed)}"})
        if response.status_code == 401 and not t.strict:
            return CheckResult(
                name, WARN, "the seeded user tokens are not accepted: not a cachebench origin?"
            )
        if response.status_code != 200:
            return CheckResult(name, FAIL, f"user {uid}: {_shown(response)}, expected 200")
        got = response.json().get("id")
        if got != uid:
            return CheckResult(name, FAIL, f"user {uid}'s token got the profile of user {got!r}")
        bodies[uid].add(response.content)
    if bodies[1] & bodies[2]:
        return CheckResult(name, FAIL, "users 1 and 2 got the same body")
    return CheckResult(name, PASS, "users 1, 2, 1, 2: each always got their own profile")


def _origin_reads(text: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "cachebench_origin_operations_total" and sample.labels.get("op") == "read":
                return sample.value
    return None


@check("metrics exposition")
def check_metrics(t: Target, name: str) -> CheckResult:
    text = t.metrics_text()
    if text is None:
        return t.missing(name, "no /metrics")
    try:
        samples = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    except ValueError as exc:
        return CheckResult(name, FAIL, f"/metrics does not parse: {exc}")
    wanted = {"cachebench_http_requests_total", "cachebench_origin_operations_total"}
    if not wanted <= samples:
        return t.missing(name, f"/metrics lacks {', '.join(sorted(wanted - samples))}")
    return CheckResult(name, PASS, f"{len(samples)} series names, including {', '.join(sorted(wanted))}")


@check("origin reads counted")
def check_origin_reads(t: Target, name: str) -> CheckResult:
    before_text = t.metrics_text()
    before = _origin_reads(before_text) if before_text else None
    if before is None:
        return t.missing(name, "no cachebench_origin_operations_total{op=read} in /metrics")
    for _ in range(FRESH_ID_ATTEMPTS):
        response = t.client.get(f"/items/{t.fresh_id()}")
        if not has_hit(response.headers.get("cache-status")):
            break
    after = _origin_reads(t.metrics_text() or "") or 0.0
    if after <= before:
        return CheckResult(
            name, FAIL, f"a miss ({response.headers.get('cache-status')}) left origin reads at {after:g}"
        )
    return CheckResult(name, PASS, f"origin reads {before:g} -> {after:g} across a miss")


# -- running them --------------------------------------------------------------------------

CHECKS: tuple[CheckFunction, ...] = (
    check_healthz,
    check_item_ok,
    check_unknown_item,
    check_bad_ids,
    check_bad_bodies,
    check_oversized_body,
    check_put_unknown,
    check_me_unauthorized,
    check_server_timing,
    check_cache_transition,
    check_write_visibility,
    check_cross_process,
    check_user_isolation,
    check_metrics,
    check_origin_reads,
)


def _read_health(client: httpx.Client) -> dict | None:
    response = client.get("/healthz")
    try:
        body = response.json() if response.status_code == 200 else None
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def verify(
    base_url: str,
    strategy: str | None = None,
    *,
    strict: bool = True,
    workers: int | None = None,
    checks: tuple[CheckFunction, ...] | None = None,
    report: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run the checks against the service at ``base_url``; one result per check that applies.

    ``strategy`` is what the service should be (default: what its /healthz says). ``workers`` is
    how many processes serve it (default: counted from /metrics). ``checks`` replaces the default
    selection (every contract check, plus the client-header checks when the service sends them).
    ``report`` is called with each result as soon as it is known.
    """
    results: list[CheckResult] = []
    with (
        httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as client,
        httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S, headers={"Connection": "close"}) as fresh,
    ):
        # Not caught: a service that cannot be reached at all is an error, not a failed check.
        health = _read_health(client)
        name = strategy or (health or {}).get("strategy") or "unknown"
        target = Target(base_url, str(name), strict, client, fresh, health, workers)
        if checks is None:
            checks = CHECKS + (CLIENT_HEADER_CHECKS if target.client_headers else ())
        for check in checks:
            result = check(target)
            if result is None:
                continue
            results.append(result)
            if report is not None:
                report(result)
    return results
