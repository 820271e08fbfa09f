"""One cell's second-by-second frame: requests, cache answers, p99, memory and CPU over the run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cell_metrics import CACHED_OUTCOMES
from cachebench.load.histograms import LATENCY_BUCKET_PREFIX, percentile_from_buckets
from cachebench.results import SAMPLE, LatencyRecord, Timeline


def locust_p99(history: pd.DataFrame) -> pd.DataFrame:
    """Locust's rolling p99 of all requests per second (its own rounded ms, over ~10 s)."""
    if history.empty:
        return pd.DataFrame(columns=["second", "p99_ms_locust"])
    rows = history[history["Name"] == "Aggregated"]
    p99 = pd.to_numeric(rows["99%"], errors="coerce")
    frame = pd.DataFrame({"second": rows["Timestamp"].astype(int), "p99_ms_locust": p99.where(p99 > 0)})
    return frame.drop_duplicates("second", keep="last")


def cell_timeseries(
    latency: LatencyRecord | None,
    samples: pd.DataFrame,
    locust_history: pd.DataFrame,
    started_unix_s: float | None,
) -> pd.DataFrame | None:
    """One row per second of the cell, from latency.json's timeline (None: the cell has no
    latency.json), samples.csv and Locust's history, with ``t_s`` (0 = the first second of the
    rate window) and ``in_window``; None when the cell recorded none of them."""
    timeline = latency.timeline if latency is not None else Timeline()
    per_s, t0 = timeline.per_s, timeline.t0_unix_s
    parts = []
    if t0 is not None and per_s:
        length = max(len(v) for v in per_s.values())
        buckets = {k: v for k, v in per_s.items() if k.startswith(LATENCY_BUCKET_PREFIX)}
        counts = pd.DataFrame(
            {k: pd.Series(v, dtype=float) for k, v in per_s.items() if k != "p99_us" and k not in buckets}
        )
        counts = counts.reindex(range(length)).fillna(0.0)
        counts.insert(0, "second", np.arange(t0, t0 + length))
        cached = [c for c in CACHED_OUTCOMES if c in counts]
        completed = counts.get("completed", pd.Series(0.0, index=counts.index))
        counts["cached_share"] = counts[cached].sum(axis=1) / completed.where(completed > 0)
        if "p99_us" in per_s:  # a per-second HDR p99, when the measurement records one
            counts["p99_ms"] = pd.Series(per_s["p99_us"], dtype=float).reindex(range(length)) / 1000.0
        elif buckets:  # per-second latency buckets: the p99 of each second from them
            p99_us = [
                percentile_from_buckets({k: v[i] for k, v in buckets.items() if i < len(v)}, 99)
                for i in range(length)
            ]
            counts["p99_ms"] = pd.Series(p99_us, dtype=float) / 1000.0
        parts.append(counts.rename(columns={"completed": "completed_per_s"}))
    if not samples.empty and SAMPLE.unix_s in samples:
        # A sample at unix time t covers the second before it.
        samples = samples.assign(second=(samples[SAMPLE.unix_s] - 0.5).round().astype(int))
        # The other columns keep their samples.csv names in the frame, but the server's request
        # rate, which is told apart from Locust's.
        samples = samples.drop(columns=[SAMPLE.t_s, SAMPLE.unix_s]).rename(
            columns={SAMPLE.requests_per_s: "server_requests_per_s"}
        )
        if SAMPLE.target_processes in samples:
            processes = samples[SAMPLE.target_processes].where(samples[SAMPLE.target_processes] > 0)
            samples["target_rss_per_worker_bytes"] = samples[SAMPLE.target_rss_bytes] / processes
        parts.append(samples.drop_duplicates("second", keep="last"))
    parts.append(locust_p99(locust_history))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return None
    frame = parts[0]
    for part in parts[1:]:
        frame = frame.merge(part, on="second", how="outer")
    frame = frame.sort_values("second")
    # t = 0 is the first second of the window the rates cover (all users running), so the
    # cells of a figure line up; before it is ramp-up.
    window = latency.window if latency is not None else None
    begin, end = (window.from_unix_s, window.to_unix_s) if window is not None else (None, None)
    origin = (
        begin if begin else int(started_unix_s) if pd.notna(started_unix_s) else int(frame["second"].min())
    )
    frame.insert(0, "t_s", frame["second"] - origin)
    frame["in_window"] = (frame["second"] >= begin) & (frame["second"] < end) if begin and end else True
    return frame
