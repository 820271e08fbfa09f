"""``latency.json``: what the load generator recorded of a measured phase, merged over its processes.

Written inside Locust (``cachebench.load.measurement``) when it stops and again when it quits;
histograms are HDR (1 µs .. 60 s, 3 significant digits), base64-encoded, keyed
``<request name>|<outcome>|<service|corrected>``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from cachebench.results.folder import LATENCY_FILE
from cachebench.results.record import Part, Record


class HistogramSummary(Part):
    """One histogram read at a few percentiles, in µs."""

    count: int
    min_us: float
    mean_us: float
    p50_us: float
    p90_us: float
    p99_us: float
    p999_us: float
    max_us: float


class Window(Part):
    """The full seconds every user ran, up to the stop: what the rates (and a step's p99) cover."""

    from_unix_s: int
    to_unix_s: int
    seconds: int


class Timeline(Part):
    """Counts per second (``completed``, ``intended``, each outcome, latency buckets ``lat32_*``,
    ``after_stop|<name>``...), each list starting at ``t0_unix_s``."""

    t0_unix_s: int | None = None
    per_s: dict[str, list[int]] = {}


class BrowserCounts(Part):
    """Browser-cache counters of scenarios whose users keep HTTP caches, summed over processes."""

    #: Reads the browser answered from its own cache (no request sent).
    client_local: int = 0
    #: Revalidations answered 304 Not Modified (no body).
    not_modified: int = 0
    #: Reads that got a full response.
    network: int = 0
    #: Response body bytes not sent, thanks to local answers and 304s ...
    bytes_saved: int = 0
    #: ... and the body bytes received.
    bytes_received: int = 0


class LatencyRecord(Record):
    """A measured phase as the load generator saw it."""

    FILE: ClassVar[str] = LATENCY_FILE
    unit: Literal["us"] = "us"
    #: ``fixed_rate``: open loop at an offered rate; ``capacity``: closed loop.
    mode: Literal["fixed_rate", "capacity"]
    histograms: dict[str, str] = {}
    summary: dict[str, HistogramSummary] = {}
    #: Requests per ``<name>|<outcome>``.
    counts: dict[str, int] = {}
    requests: int
    errors: int
    #: The rate asked of the generator (fixed rate only) ...
    offered_rate_per_s: float | None = None
    #: ... the sends it meant to make per second over the window (fixed rate only) ...
    intended_rate_per_s: float | None = None
    #: ... and the answers per second over the window.
    achieved_rate_per_s: float | None = None
    window: Window | None = None
    timeline: Timeline = Timeline()
    #: Requests per Locust process (``<host>-<pid>``).
    per_worker_counts: dict[str, int] = {}
    #: Processes whose final report never reached the master: their last requests are missing.
    incomplete_workers: list[str] = []
    #: None: the scenario's users keep no HTTP caches.
    browser: BrowserCounts | None = None
    #: Answers per request name that came once Locust began to stop: counted, not recorded.
    after_stop: dict[str, int] = {}
    locustfile: str | None = None
    host: str | None = None
    #: The workload options the scenario ran with.
    options: dict[str, Any] = {}
    #: When recording began (after the lead-in; none: from the start).
    measured_from_unix_s: float | None = None
    #: When Locust began to stop its users.
    stopping_unix_s: float | None = None
