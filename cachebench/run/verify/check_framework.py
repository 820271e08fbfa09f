"""The check framework of ``verify``: pass, warn or fail, the ``@check`` decorator, the service under test.

Each check is a small function of a ``Service`` (the service plus what its ``/healthz`` says about
it) that sends a handful of requests and returns a ``CheckResult``, or None when it does not apply.
"""

from __future__ import annotations

import functools
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx
from prometheus_client.parser import text_string_to_metric_families

from targets import TARGETS

Status = Literal["pass", "warn", "fail"]
PASS: Status = "pass"
WARN: Status = "warn"
FAIL: Status = "fail"

DEFAULT_ORIGIN_ITEMS = 10_000
DEFAULT_SEED = 42
#: Tries at a random id that nobody has read before (a hit on the first read means somebody had).
FRESH_ID_ATTEMPTS = 3


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    reason: str


def verdict(name: str, problems: list[str], ok_reason: str) -> CheckResult:
    if problems:
        return CheckResult(name, FAIL, "; ".join(problems))
    return CheckResult(name, PASS, ok_reason)


CheckFunction = Callable[["Service"], "CheckResult | None"]


def check(name: str) -> Callable[[Callable[[Service, str], CheckResult | None]], CheckFunction]:
    """Name a check; a request error or an answer of the wrong shape becomes its ``fail``."""

    def decorate(body: Callable[[Service, str], CheckResult | None]) -> CheckFunction:
        @functools.wraps(body)
        def run(service: Service) -> CheckResult | None:
            try:
                return body(service, name)
            except httpx.HTTPError as exc:
                return CheckResult(name, FAIL, f"request failed: {type(exc).__name__}: {exc}")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # Not JSON, a field missing, ...: this check fails, the others still run.
                return CheckResult(name, FAIL, f"unexpected answer: {type(exc).__name__}: {exc}")

        run.check_name = name  # type: ignore[attr-defined]
        return run

    return decorate


def exchange(response: httpx.Response) -> str:
    """``GET /items/1 -> 404``: how a check names the exchange it objects to."""
    return f"{response.request.method} {response.request.url.path} -> {response.status_code}"


@dataclass
class Service:
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
        row = TARGETS.get(self.strategy)
        return bool((self.health or {}).get("client_headers")) or (row is not None and row.client_headers)

    @property
    def server_cache(self) -> bool | None:
        """Whether the service has cache layers of its own; None when it does not say."""
        row = TARGETS.get(self.strategy)
        if row is not None:
            return row.caches
        layers = (self.health or {}).get("layers")
        return bool(layers) if isinstance(layers, dict) else None

    def fresh_id(self) -> int:
        """An item id not used before in this run; random, so it is unlikely to be cached already.

        From the upper half of the ids: a caller numbering fresh items of its own from 1 (the
        test suite does, on targets it verifies too) never has one cached by a verify run before
        it reads it. Drawn from all ids, a test's "fresh" item once answered as a hit (test_peers).
        """
        items = int(self.setting("origin_items", DEFAULT_ORIGIN_ITEMS))
        for _ in range(1000):
            item_id = self.rng.randint(items // 2 + 1, items)
            if item_id not in self.used_ids or len(self.used_ids) >= items - items // 2:
                self.used_ids.add(item_id)
                return item_id
        return self.rng.randint(items // 2 + 1, items)

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
