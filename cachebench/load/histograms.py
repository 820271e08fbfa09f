"""HDR latency histograms: recorded per process, drained as payloads, added up into ``latency.json``.

Histograms cover 1 µs .. 60 s at 3 significant digits and are keyed ``<request name>|<outcome>|<kind>``,
``kind`` being ``service`` (as measured) or ``corrected`` (from the intended send time, at a fixed rate).
A payload is what one process measured since its last drain, in a form msgpack carries, so a
Locust worker can send it with its own stats report; ``Aggregate`` adds payloads up.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from hdrh.histogram import HdrHistogram

from cachebench.load.outcomes import ALL, ERROR
from cachebench.load.records import process_name
from cachebench.results import BrowserCounts, HistogramSummary, LatencyRecord, Timeline, Window

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
SERVICE = "service"
CORRECTED = "corrected"
#: Timeline series ``after_stop|<name>``: answers left out because Locust was stopping.
AFTER_STOP = "after_stop"
#: Latency per second rides in the timeline as counts per log bucket: a p99 for any span of
#: seconds (a step's full seconds, a fault's phases) without a histogram per second. A series is
#: named ``lat<per doubling>_<index>``, so a file says its own resolution; files written before it
#: was named hold ``lat_<index>`` at 8 per doubling.
LATENCY_BUCKET_PREFIX = "lat"
#: 32 per doubling: ≤ 2.2% wide. At 8 (≤ 9%) any p99 from 46.4 to 50.5 ms read as 50.5 ms and
#: failed a 50 ms SLO, which decided a capacity search.
BUCKETS_PER_DOUBLING = 32
_LEGACY_PER_DOUBLING = 8


def latency_bucket(value_us: float) -> str:
    """The timeline series that counts a request of this latency."""
    index = int(BUCKETS_PER_DOUBLING * math.log2(max(value_us, 1.0)))
    return f"{LATENCY_BUCKET_PREFIX}{BUCKETS_PER_DOUBLING}_{index}"


def _upper_edge_us(series: str) -> float:
    per_doubling, _, index = series.removeprefix(LATENCY_BUCKET_PREFIX).partition("_")
    return 2 ** ((int(index) + 1) / (int(per_doubling) if per_doubling else _LEGACY_PER_DOUBLING))


def percentile_from_buckets(counts: dict[str, float], percentile: float) -> float | None:
    """The ``percentile`` (0–100) in µs of bucket counts {series: n}: the upper edge of its bucket."""
    buckets = sorted(
        (_upper_edge_us(name), n)
        for name, n in counts.items()
        if name.startswith(LATENCY_BUCKET_PREFIX) and n > 0
    )
    total = sum(n for _, n in buckets)
    if not total:
        return None
    rank, seen = percentile / 100 * total, 0.0
    for upper_us, n in buckets:
        seen += n
        if seen >= rank:
            return upper_us
    return buckets[-1][0]


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def histogram_key(name: str, outcome: str, kind: str) -> str:
    return f"{name}|{outcome}|{kind}"


def _clamp_us(value_us: float) -> int:
    # hdrh silently drops values above its range: clamp, so every request is counted.
    if value_us < 0:
        return 0
    return HIGHEST_US if value_us > HIGHEST_US else int(value_us)


class Recorder:
    """What this process measured since its last drain (a worker drains every report)."""

    def __init__(self) -> None:
        self.histograms: dict[tuple[str, str, str], HdrHistogram] = {}
        self.timeline: Counter[tuple[int, str]] = Counter()
        self.browser: Counter[str] = Counter()

    def _histogram(self, key: tuple[str, str, str]) -> HdrHistogram:
        histogram = self.histograms.get(key)
        if histogram is None:
            histogram = self.histograms[key] = new_histogram()
        return histogram

    def record(self, name: str, outcome: str, service_us: float, corrected_us: float | None = None) -> None:
        service = _clamp_us(service_us)
        self._histogram((name, outcome, SERVICE)).record_value(service)
        self._histogram((name, ALL, SERVICE)).record_value(service)
        if corrected_us is not None:
            corrected = _clamp_us(corrected_us)
            self._histogram((name, outcome, CORRECTED)).record_value(corrected)
            self._histogram((name, ALL, CORRECTED)).record_value(corrected)

    def drain(self) -> dict[str, Any]:
        """Everything since the last drain, in a form msgpack carries (str keys, no tuples)."""
        payload = {
            "process": process_name(),
            "histograms": {
                histogram_key(*key): histogram.encode().decode("ascii")
                for key, histogram in self.histograms.items()
                if histogram.get_total_count()
            },
            "timeline": [[second, series, count] for (second, series), count in self.timeline.items()],
            "browser": dict(self.browser),
        }
        # New objects rather than hdrh's reset(), which walks every counter in Python.
        self.histograms = {}
        self.timeline = Counter()
        self.browser = Counter()
        return payload


class Aggregate:
    """Drained payloads of every process added up: what ``latency.json`` reports."""

    def __init__(self) -> None:
        self.histograms: dict[str, HdrHistogram] = {}
        self.timeline: Counter[tuple[int, str]] = Counter()
        self.browser: Counter[str] = Counter()
        self.per_process: Counter[str] = Counter()
        self.final_processes: set[str] = set()

    def merge(self, payload: dict[str, Any]) -> None:
        process = payload.get("process", "?")
        self.per_process[process] += 0  # a process that measured nothing still shows up
        for key, encoded in payload.get("histograms", {}).items():
            delta = HdrHistogram.decode(encoded)
            histogram = self.histograms.get(key)
            if histogram is None:
                histogram = self.histograms[key] = new_histogram()
            histogram.add(delta)
            if key.endswith(f"|{ALL}|{SERVICE}"):
                self.per_process[process] += delta.get_total_count()
        for second, series, count in payload.get("timeline", []):
            self.timeline[(int(second), series)] += count
        self.browser.update(payload.get("browser", {}))
        if payload.get("final"):
            self.final_processes.add(process)

    def total_requests(self) -> int:
        return sum(
            h.get_total_count() for key, h in self.histograms.items() if key.endswith(f"|{ALL}|{SERVICE}")
        )

    def report(
        self,
        *,
        mode: str,
        offered_rate_per_s: float | None,
        start_s: float | None,
        full_load_s: float | None,
        stop_s: float | None,
        expect_final_reports: bool,
        locustfile: str | None,
        host: str | None,
        options: dict[str, Any],
        measured_from_unix_s: float | None,
        stopping_unix_s: float | None,
    ) -> LatencyRecord:
        counts: dict[str, int] = {}
        summary: dict[str, HistogramSummary] = {}
        for key in sorted(self.histograms):
            histogram = self.histograms[key]
            total = histogram.get_total_count()
            if not total:
                continue
            name, outcome, kind = key.rsplit("|", 2)
            if kind == SERVICE:
                counts[f"{name}|{outcome}"] = total
            summary[key] = summarize(histogram)
        errors = sum(n for key, n in counts.items() if key.endswith(f"|{ERROR}"))
        timeline, window, intended, achieved = self._rates(start_s, full_load_s, stop_s)
        incomplete = sorted(set(self.per_process) - self.final_processes) if expect_final_reports else []
        return LatencyRecord(
            mode=mode,
            histograms={key: self.histograms[key].encode().decode("ascii") for key in summary},
            summary=summary,
            counts=counts,
            requests=self.total_requests(),
            errors=errors,
            offered_rate_per_s=offered_rate_per_s,
            intended_rate_per_s=intended if mode == "fixed_rate" else None,
            achieved_rate_per_s=achieved,
            window=window,
            timeline=timeline,
            per_worker_counts=dict(self.per_process),
            incomplete_workers=incomplete,
            browser=BrowserCounts(**self.browser) if self.browser else None,
            after_stop=self._after_stop(),
            locustfile=locustfile,
            host=host,
            options=options,
            measured_from_unix_s=measured_from_unix_s,
            stopping_unix_s=stopping_unix_s,
        )

    def _after_stop(self) -> dict[str, int]:
        """Answers per request name that came once Locust began to stop, left out (measurement)."""
        counts: Counter[str] = Counter()
        for (_, series), n in self.timeline.items():
            if series.startswith(f"{AFTER_STOP}|"):
                counts[series.partition("|")[2]] += n
        return dict(counts)

    def _rates(
        self, start_s: float | None, full_load_s: float | None, stop_s: float | None
    ) -> tuple[Timeline, Window | None, float | None, float | None]:
        """The per-second timeline, and over the full-rate window the intended and achieved rates."""
        seconds = sorted({second for second, _ in self.timeline})
        if not seconds:
            return Timeline(), None, None, None
        first, last = seconds[0], seconds[-1]
        series_names = sorted({series for _, series in self.timeline})
        per_s = {
            series: [self.timeline.get((s, series), 0) for s in range(first, last + 1)]
            for series in series_names
        }
        # Rates over the full seconds between "all users running" and the stop: ramp-up and the
        # partly measured first and last seconds would bias them low.
        begin = math.ceil(full_load_s or start_s or first)
        end = math.floor(stop_s) if stop_s else last
        if end - begin < 1:
            begin, end = first, last + 1
        completed = sum(self.timeline.get((s, "completed"), 0) for s in range(begin, end))
        intended = sum(self.timeline.get((s, "intended"), 0) for s in range(begin, end))
        seconds_covered = end - begin
        return (
            Timeline(t0_unix_s=first, per_s=per_s),
            Window(from_unix_s=begin, to_unix_s=end, seconds=seconds_covered),
            intended / seconds_covered,
            completed / seconds_covered,
        )


def summarize(histogram: HdrHistogram) -> HistogramSummary:
    return HistogramSummary(
        count=histogram.get_total_count(),
        min_us=histogram.get_min_value(),
        mean_us=round(_mean_us(histogram), 1),
        p50_us=histogram.get_value_at_percentile(50),
        p90_us=histogram.get_value_at_percentile(90),
        p99_us=histogram.get_value_at_percentile(99),
        p999_us=histogram.get_value_at_percentile(99.9),
        max_us=histogram.get_max_value(),
    )


def _mean_us(histogram: HdrHistogram) -> float:
    """The mean, each count at its bucket's middle (as hdrh's ``get_mean_value``).

    Written here because hdrh's walks its Python iterator: ~60 ms per histogram, 0.4 s per
    ``latency.json`` written twice as every Locust process stops, on the path of every cell. A
    plain loop over the counts takes ~2 ms.
    """
    counts, total, weighted = histogram.counts, 0, 0.0
    for index in range(histogram.counts_len):
        count = counts[index]
        if count:
            value = histogram.get_value_from_index(index)
            weighted += count * (value + histogram.get_highest_equivalent_value(value) + 1) / 2
            total += count
    return weighted / total if total else 0.0
