"""Cache checks: a fresh key misses then hits, a write is visible at once, and in every worker."""

from __future__ import annotations

import time

from cachebench.run.verify.check_framework import (
    FAIL,
    FRESH_ID_ATTEMPTS,
    PASS,
    WARN,
    CheckResult,
    Service,
    check,
    exchange,
)
from cachebench.run.verify.http_headers import cache_status_members, has_hit, has_miss, server_timing_names

#: Cache layers that live in each worker's memory (one copy per process).
IN_PROCESS_LAYERS = frozenset({"l1"})
#: New connections used to warm a key in every worker, and to read it back after a write.
CROSS_PROCESS_WARM_MAX = 40
CROSS_PROCESS_WARM_MIN = 10
CROSS_PROCESS_READS = 20
#: Pub/sub invalidation is asynchronous: how long to wait before calling a stale read a failure.
INVALIDATION_GRACE_S = 0.5


@check("Server-Timing")
def check_server_timing(t: Service, name: str) -> CheckResult:
    response = t.client.get(f"/items/{t.fresh_id()}")
    value = response.headers.get("server-timing")
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{exchange(response)}, expected 200")
    if not value:
        return t.missing(name, "no Server-Timing header on GET /items/{id}")
    return CheckResult(name, PASS, value)


@check("cache transition")
def check_cache_transition(t: Service, name: str) -> CheckResult:
    """A fresh key: the first GET misses (reaches the origin), the second hits, where there is a cache."""
    expect_cache = t.server_cache
    for _ in range(FRESH_ID_ATTEMPTS):
        path = f"/items/{t.fresh_id()}"
        first, second = t.client.get(path), t.client.get(path)
        for response in (first, second):
            if response.status_code != 200:
                return CheckResult(name, FAIL, f"{exchange(response)}, expected 200")
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
def check_write_visibility(t: Service, name: str) -> CheckResult:
    """After a PUT, the next GET (same connection, so the same worker) sees the new version."""
    mode = t.settings.get("invalidation")
    item_id = t.fresh_id()
    path = f"/items/{item_id}"
    for _ in range(2):  # warm it, so that a cache that ignores writes is caught serving the old one
        before = t.client.get(path)
    response, new_name = t.put_name(t.client, item_id)
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{exchange(response)}, expected 200")
    written = response.json()
    if written.get("name") != new_name or written.get("version") != before.json()["version"] + 1:
        return CheckResult(name, FAIL, f"PUT returned {written!r}: expected the new name and version + 1")
    if response.headers.get("cache-control", "").lower() != "no-store":
        return CheckResult(name, FAIL, f"PUT Cache-Control {response.headers.get('cache-control')!r}")
    after = t.client.get(path)
    if after.status_code != 200:
        return CheckResult(name, FAIL, f"{exchange(after)}, expected 200")
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


def _read_back(t: Service, path: str, reads: int) -> tuple[list[int], int]:
    """Versions seen on ``reads`` new connections, and how many of them refilled the nearest layer."""
    versions, refills = [], 0
    for _ in range(reads):
        response = t.fresh.get(path)
        versions.append(response.json().get("version"))
        members = cache_status_members(response.headers.get("cache-status"))
        refills += bool(members and members[-1][1].get("stored"))
    return versions, refills


@check("cross-process invalidation")
def check_cross_process(t: Service, name: str) -> CheckResult | None:
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
        return CheckResult(name, FAIL, f"{exchange(response)}, expected 200")
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
