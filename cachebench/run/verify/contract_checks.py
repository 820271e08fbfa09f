"""Contract checks every service must pass: status codes, ``/healthz``, per-user isolation, ``/metrics``."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from cachebench.run.verify.check_framework import (
    DEFAULT_SEED,
    FAIL,
    FRESH_ID_ATTEMPTS,
    PASS,
    WARN,
    CheckResult,
    Service,
    check,
    exchange,
    verdict,
)
from cachebench.run.verify.http_headers import has_hit
from cachebench.serve.origin import user_token

ITEM_FIELDS = frozenset({"id", "version", "updated_at", "name", "payload"})
UNKNOWN_ITEM_ID = 2_147_483_647  # the largest valid id; origin_items is at most 10 million
DEFAULT_MAX_BODY_BYTES = 65_536


@check("GET item 200")
def check_item_ok(t: Service, name: str) -> CheckResult:
    item_id = t.fresh_id()
    response = t.client.get(f"/items/{item_id}")
    if response.status_code != 200:
        return CheckResult(name, FAIL, f"{exchange(response)}, expected 200")
    try:
        body = response.json()
    except ValueError:
        return CheckResult(name, FAIL, f"{exchange(response)} with a body that is not JSON")
    if not isinstance(body, dict) or set(body) != ITEM_FIELDS:
        got = sorted(body) if isinstance(body, dict) else type(body).__name__
        return CheckResult(name, FAIL, f"fields {got}, expected {sorted(ITEM_FIELDS)}")
    if body["id"] != item_id:
        return CheckResult(name, FAIL, f"asked for item {item_id}, got id {body['id']!r}")
    return CheckResult(name, PASS, f"item {item_id} has {', '.join(sorted(ITEM_FIELDS))}")


@check("GET unknown id 404")
def check_unknown_item(t: Service, name: str) -> CheckResult:
    response = t.client.get(f"/items/{UNKNOWN_ITEM_ID}")
    problems = [] if response.status_code == 404 else [f"{exchange(response)}, expected 404"]
    return verdict(name, problems, f"/items/{UNKNOWN_ITEM_ID} -> 404")


@check("GET bad ids 422")
def check_bad_ids(t: Service, name: str) -> CheckResult:
    problems = []
    for bad in ("abc", "0", "99999999999"):
        response = t.client.get(f"/items/{bad}")
        if response.status_code != 422:
            problems.append(f"{exchange(response)}, expected 422")
    return verdict(name, problems, "abc, 0, 99999999999 -> 422")


@check("PUT bad bodies 422")
def check_bad_bodies(t: Service, name: str) -> CheckResult:
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
            problems.append(f"{label}: {exchange(response)}, expected 422")
    return verdict(name, problems, "invalid JSON, {} and an extra field -> 422")


@check("PUT oversized 413")
def check_oversized_body(t: Service, name: str) -> CheckResult:
    limit = int(t.setting("max_body_bytes", DEFAULT_MAX_BODY_BYTES))
    padding = "x" * (limit + 1 - len('{"payload": ""}'))
    body = json.dumps({"payload": padding}).encode()
    # A new connection: the server may answer before reading the body and then drop the connection.
    response = t.fresh.put(
        f"/items/{t.fresh_id()}", content=body, headers={"Content-Type": "application/json"}
    )
    problems = (
        [] if response.status_code == 413 else [f"{len(body)} bytes: {exchange(response)}, expected 413"]
    )
    return verdict(name, problems, f"{len(body)} bytes (max_body_bytes={limit}) -> 413")


@check("PUT unknown id 404")
def check_put_unknown(t: Service, name: str) -> CheckResult:
    response = t.client.put(f"/items/{UNKNOWN_ITEM_ID}", json={"name": "nobody"})
    problems = [] if response.status_code == 404 else [f"{exchange(response)}, expected 404"]
    return verdict(name, problems, f"/items/{UNKNOWN_ITEM_ID} -> 404")


@check("/me 401")
def check_me_unauthorized(t: Service, name: str) -> CheckResult:
    problems = []
    for label, headers in (
        ("no token", {}),
        ("bad token", {"Authorization": "Bearer not-a-real-token"}),
    ):
        response = t.client.get("/me", headers=headers)
        if response.status_code != 401:
            problems.append(f"{label}: {exchange(response)}, expected 401")
    return verdict(name, problems, "no token and a bad token -> 401")


@check("/healthz")
def check_healthz(t: Service, name: str) -> CheckResult:
    if t.health is None:
        return t.missing(name, "GET /healthz gave no JSON object with a strategy field")
    reported = t.health.get("strategy")
    if not reported:
        return t.missing(name, "/healthz has no strategy field")
    if t.strategy not in ("unknown", reported):
        return CheckResult(name, FAIL, f"/healthz says strategy {reported!r}, expected {t.strategy!r}")
    return CheckResult(name, PASS, f"200, strategy {reported}")


@check("per-user isolation")
def check_user_isolation(t: Service, name: str) -> CheckResult:
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
            return CheckResult(name, FAIL, f"user {uid}: {exchange(response)}, expected 200")
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
def check_metrics(t: Service, name: str) -> CheckResult:
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
def check_origin_reads(t: Service, name: str) -> CheckResult:
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
