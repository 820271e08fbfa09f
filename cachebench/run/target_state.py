"""What the runner reads off a running target between phases: /metrics saved, its CPU at rest,
whether it has finished the work an overload left queued."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from cachebench.metrics_text import parse_metrics
from cachebench.results import SAMPLE, IdleCpu, write_atomic
from cachebench.run.sampling import Sampler


def save_metrics(url: str, path: Path) -> str | None:
    """The target's ``/metrics`` now, saved to ``path`` and returned; None when it did not answer."""
    with httpx.Client(timeout=5) as client, contextlib.suppress(httpx.HTTPError):
        text = client.get(f"{url}/metrics").text
        write_atomic(path, text)
        return text
    return None


#: Seconds of no load over which the target's and Redis's fixed CPU use is measured.
IDLE_S = 2.0


def idle_cpu(
    url: str, processes: Callable[[], list[psutil.Process]], redis_url: str | None, redis_pid: int | None
) -> IdleCpu:
    """Mean CPU (% of one core) of the target and Redis with no load, sampled as a measured phase
    is (the /metrics scrape each second and the target's own once-a-second work included): what a
    cell's CPU per request subtracts, so that the fixed work does not swamp it at low rates."""
    sampler = Sampler(url, processes, lambda: [], redis_url=redis_url, redis_pid=redis_pid).start()
    time.sleep(IDLE_S)
    rows = sampler.stop()

    def mean_of(column: str) -> float | None:
        values = [r[column] for r in rows if r.get(column) is not None]
        return sum(values) / len(values) if values else None

    return IdleCpu(
        target_cpu_percent=mean_of(SAMPLE.target_cpu_percent),
        redis_cpu_percent=mean_of(SAMPLE.redis_cpu_percent),
    )


def _served(client: httpx.Client, url: str) -> float | None:
    """Requests the target has served, its own /metrics and /healthz aside (None: no answer)."""
    try:
        metrics = parse_metrics(client.get(f"{url}/metrics").text)
    except httpx.HTTPError:
        return None
    return sum(
        value
        for (name, labels), value in metrics.items()
        if name == "cachebench_http_requests_total"
        and dict(labels).get("route") not in ("/metrics", "/healthz")
    )


def wait_until_drained(url: str, timeout_s: float = 30.0) -> float | None:
    """Until the target has finished what an overloaded step left queued: requests it serves
    after the load stopped would otherwise slow the next step down. The seconds it took; None
    when the target was still serving after ``timeout_s``."""
    previous, started = None, time.monotonic()
    with httpx.Client(timeout=5) as client:
        while time.monotonic() - started < timeout_s:
            served = _served(client, url)
            if served is not None and served == previous:
                return round(time.monotonic() - started, 3)
            previous = served
            time.sleep(0.3)
    return None


def wait_until_loaded(url: str, timeout_s: float = 8.0, requests: int = 3) -> float:
    """Until the target serves a new load generator's first ``requests`` (Locust takes 1-3 s to
    import and spawn), at most ``timeout_s``; the seconds waited."""
    started = time.monotonic()
    with httpx.Client(timeout=2) as client:
        before = _served(client, url)
        while before is not None and time.monotonic() - started < timeout_s:
            # (A service without our request counter cannot say: the wait is skipped.)
            served = _served(client, url)
            if served is not None and served - before >= requests:
                break
            time.sleep(0.05)
    return time.monotonic() - started
