"""The sweep report's section on an access log's sweep: what was read, and one pass against replay.

``cachebench sweep --trace`` stores the log's summary and the one-pass curves (with the sampled
points replayed through ``MeteredCache``) in ``trace_sweep.json``'s ``simulator``
(``TraceSimulator``); this renders them.
"""

from __future__ import annotations

import html
from typing import Any

from analysis import rendering
from cachebench.results.sweep_record import SweepSimulator, TraceSimulator


def _ratio(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}"


def trace_html(simulator: SweepSimulator | TraceSimulator) -> list[str]:
    """HTML parts for a trace sweep (nothing for other sweeps)."""
    if not isinstance(simulator, TraceSimulator):
        return []
    log, curves = simulator.trace, simulator.curves
    parts = [
        "<h2>Trace</h2>",
        f"<p>{html.escape(simulator.trace_text)}</p>",
        "<p class='note'>The cache key is the method and the path; a PUT, POST, PATCH or DELETE "
        "invalidates its path's GET key. A miss fills at once (no origin latency), one process.</p>",
    ]
    if log.malformed:
        examples = "".join(f"<li><code>{html.escape(e)}</code></li>" for e in log.examples)
        parts.append(f"<p>{log.malformed:,} malformed lines were left out, e.g.:</p><ul>{examples}</ul>")
    sampled = curves.sample_rate < 1
    parts.append(
        f"<p>One-pass curves over {curves.requests:,} requests in {curves.cpu_s:.2f} CPU-s"
        + (
            f", keys sampled at rate {curves.sample_rate:.3g} (SHARDS; stated error ±"
            f"{curves.sampling_error_pp:.2f} pp, three standard errors, from "
            f"{curves.sampling_valid_from_size:,} entries)"
            if sampled
            else ", every request (no sampling)"
        )
        + ". Sizes are exact without a TTL, TTLs exact without a size bound; points with both bounds "
        "are approximate, hence the replays below.</p>"
    )
    rows = [
        [
            "–" if c.size is None else f"{c.size:,}",
            "–" if c.ttl_s is None else f"{c.ttl_s:g}",
            _ratio(c.one_pass),
            _ratio(c.replay),
            "–" if c.error_pp is None else f"{c.error_pp:+.2f}",
        ]
        for c in curves.checks
    ]
    if rows:
        head = ["size", "TTL (s)", "one pass", "replay (MeteredCache)", "error (pp)"]
        parts.append(rendering.table(head, rows))
    else:
        parts.append(f"<p>{html.escape(simulator.checks_note or 'No point was replayed.')}</p>")
    return parts
