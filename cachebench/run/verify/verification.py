"""TechEmpower-style verification: does a running service keep the cachebench HTTP contract?

``verify(base_url, strategy)`` runs every applicable check against one service and returns a
``CheckResult`` per check. Each check is a small function of a ``Service`` (the service plus what
its ``/healthz`` says about it) that sends a handful of requests and returns pass, warn or fail:
the framework is in ``check_framework``, the checks in ``contract_checks``, ``cache_checks``,
``library_checks`` and ``client_header_checks``.

A check a target's row lists in ``verify_skips`` (a limit its module documents, such as a cache
library's per-worker memory) is not run: it answers ``warn`` with the documented reason, so the
limit is shown rather than passed over.

With ``strict=False`` (a service verify did not start, maybe not a cachebench target at all) the
checks that need cachebench internals (``/healthz`` settings, ``/metrics``, ``Cache-Status``,
``Server-Timing``) answer ``warn`` rather than ``fail`` when those internals are missing.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from cachebench.run.verify.cache_checks import (
    check_cache_transition,
    check_cross_process,
    check_server_timing,
    check_write_visibility,
)
from cachebench.run.verify.check_framework import FAIL, PASS, WARN, CheckFunction, CheckResult, Service
from cachebench.run.verify.client_header_checks import CLIENT_HEADER_CHECKS
from cachebench.run.verify.contract_checks import (
    check_bad_bodies,
    check_bad_ids,
    check_healthz,
    check_item_ok,
    check_me_unauthorized,
    check_metrics,
    check_origin_reads,
    check_oversized_body,
    check_put_unknown,
    check_unknown_item,
    check_user_isolation,
)
from cachebench.run.verify.library_checks import check_library_header
from targets import TARGETS

# What callers of verify() need to read its answer: the verdicts and the check selections.
__all__ = ["CHECKS", "CLIENT_HEADER_CHECKS", "FAIL", "PASS", "WARN", "CheckResult", "verify"]

REQUEST_TIMEOUT_S = 10.0

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
    check_library_header,
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
        service = Service(base_url, str(name), strict, client, fresh, health, workers)
        if checks is None:
            checks = CHECKS + (CLIENT_HEADER_CHECKS if service.client_headers else ())
        row = TARGETS.get(service.strategy)
        skips = dict(row.verify_skips) if row is not None else {}
        for check in checks:
            skipped = skips.get(getattr(check, "check_name", ""))
            if skipped is not None:
                result = CheckResult(check.check_name, WARN, f"documented skip: {skipped}")
            else:
                result = check(service)
            if result is None:
                continue
            results.append(result)
            if report is not None:
                report(result)
    return results
