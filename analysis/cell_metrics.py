"""One cell's headline numbers, computed from its files: latency, origin load, hit ratios, memory."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.hdr import merged_histograms, percentiles_us
from cachebench.metrics_text import metric_sum
from cachebench.results import SAMPLE, BrowserCounts, LatencyRecord

HEADLINE_PERCENTILES = (50, 90, 99, 99.9, 99.99)
#: Outcomes answered without reaching the origin.
CACHED_OUTCOMES = ("l1_hit", "redis_hit", "client_local")


def _column_max(samples: pd.DataFrame, column: str) -> float | None:
    if column not in samples:
        return None
    values = pd.to_numeric(samples[column], errors="coerce").dropna()
    values = values[values > 0]
    return float(values.max()) if not values.empty else None


def percentile_metric(percentile: float) -> str:
    """The metric of a latency percentile, spelt as the records spell it: ``p99_ms``, ``p999_ms``."""
    return f"p{percentile:g}_ms".replace(".", "")


def cell_metrics(
    latency: LatencyRecord | None,
    metrics_before: dict,
    metrics_after: dict,
    samples: pd.DataFrame,
    kind: str,
    duration_s: float,
) -> dict[str, float | None]:
    """The headline numbers of one cell, from its files: latency.json (None: the cell has none),
    the /metrics snapshots before and after the measured phase (parsed) and samples.csv; ``kind``
    names the latency histograms to read (``service`` or ``corrected``)."""
    figures: dict[str, float | None] = {}
    requests = latency.requests if latency is not None else None
    if latency is not None:
        figures["throughput_per_s"] = latency.achieved_rate_per_s
        figures["intended_rate_per_s"] = latency.intended_rate_per_s
        figures["requests"] = requests
        figures["errors"] = latency.errors
        figures["error_ratio"] = latency.errors / requests if requests else None
        histogram = merged_histograms(latency, kind).get("all")
        if histogram is not None and histogram.get_total_count():
            values = percentiles_us(histogram, [*HEADLINE_PERCENTILES, 100.0]) / 1000.0
            for pct, value in zip(HEADLINE_PERCENTILES, values, strict=False):
                figures[percentile_metric(pct)] = value
            figures["max_ms"] = values[-1]
        counts = latency.counts
        gets = sum(n for key, n in counts.items() if key.endswith("|all") and key.startswith("GET"))
        all_answered = 0
        for outcome in CACHED_OUTCOMES:
            answered = sum(n for key, n in counts.items() if key.endswith(f"|{outcome}"))
            all_answered += answered
            if answered:
                figures[f"{outcome}_share"] = answered / gets if gets else None
        # Reads answered by any cache (L1, Redis or the client's own), whatever the layers.
        figures["cache_answered_share"] = all_answered / gets if gets else None
    before, after = metrics_before, metrics_after
    if before and after:

        def delta(name: str, **labels: str) -> float:
            return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

        origin_reads = delta("cachebench_origin_operations_total", op="read")
        figures["origin_reads_per_s"] = origin_reads / duration_s
        figures["origin_writes_per_s"] = delta("cachebench_origin_operations_total", op="write") / duration_s
        figures["origin_reads_per_request"] = origin_reads / requests if requests else None
        origin_operations = delta("cachebench_origin_operations_total")
        queue_s = delta("cachebench_origin_queue_seconds_total")
        figures["origin_queue_ms_mean"] = queue_s / origin_operations * 1000 if origin_operations else None
        layers = {
            dict(labels).get("layer") for (n, labels) in after if n == "cachebench_cache_operations_total"
        }
        for layer in sorted(filter(None, layers)):
            hits = delta("cachebench_cache_operations_total", layer=layer, result="hit")
            misses = delta("cachebench_cache_operations_total", layer=layer, result="miss")
            figures[f"{layer}_hit_ratio"] = hits / (hits + misses) if hits + misses else None
        entries = metric_sum(after, "cachebench_l1_entries")
        if any(n == "cachebench_l1_entries" for n, _ in after):
            figures["l1_entries"] = entries
            figures["l1_bytes"] = metric_sum(after, "cachebench_l1_bytes")
            figures["l1_bytes_per_entry"] = figures["l1_bytes"] / entries if entries else None
    rss = _column_max(samples, SAMPLE.target_rss_bytes)
    redis_memory = _column_max(samples, SAMPLE.redis_used_memory_bytes)
    figures["target_rss_bytes_max"] = rss
    if rss is not None and SAMPLE.target_processes in samples:
        per_worker = samples[SAMPLE.target_rss_bytes] / samples[SAMPLE.target_processes].where(
            samples[SAMPLE.target_processes] > 0
        )
        figures["target_rss_per_worker_bytes_max"] = float(per_worker.max())
    figures["redis_used_memory_bytes_max"] = redis_memory
    figures["memory_bytes"] = (rss or 0) + (redis_memory or 0) if rss is not None else None
    keys = _column_max(samples, SAMPLE.redis_keys)  # recorded by newer samplers only
    if keys and redis_memory is not None:
        last = samples.dropna(subset=[SAMPLE.redis_keys, SAMPLE.redis_used_memory_bytes]).iloc[-1]
        if last[SAMPLE.redis_keys] > 0:
            figures["redis_bytes_per_key"] = last[SAMPLE.redis_used_memory_bytes] / last[SAMPLE.redis_keys]
    for name in (SAMPLE.generator_cpu_percent, SAMPLE.target_cpu_percent):
        if name in samples:
            figures[f"{name}_mean"] = float(pd.to_numeric(samples[name], errors="coerce").mean())
    # CPU per request, unlike throughput, is a cost the load generator cannot distort.
    target_cpu = figures.get("target_cpu_percent_mean")
    if target_cpu is not None and np.isfinite(target_cpu) and requests:
        figures["target_cpu_us_per_request"] = target_cpu / 100 * duration_s / requests * 1e6
    if latency is not None and latency.browser is not None:
        figures.update(browser_shares(latency.browser))
    return {k: (None if v is None else float(v)) for k, v in figures.items()}


def browser_shares(counts: BrowserCounts) -> dict[str, float | None]:
    """How the browsers' reads were answered (shares) and the body bytes their caches saved."""
    local, revalidated, network = counts.client_local, counts.not_modified, counts.network
    answered = local + revalidated + network
    saved, received = counts.bytes_saved, counts.bytes_received
    return {
        "browser_local_share": local / answered if answered else None,
        "browser_not_modified_share": revalidated / answered if answered else None,
        "browser_network_share": network / answered if answered else None,
        "browser_bytes_saved": float(saved),
        "browser_bytes_saved_share": saved / (saved + received) if saved + received else None,
    }
