"""The question a run answers and what bounds it, in words, for the top of every report.

A figure is only as good as the question behind it: which load (open loop at a rate, a capacity
search at an SLO, or a closed loop of N users), over which origin (its pool and latency: what
``nocache`` can at most serve), with which TTLs and sizes, how many repetitions, how many
processes on how many cores. All of it comes from the manifest: its cells as run, each with its
load, settings, warm-up and search.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis.results_frames import mode_kind
from cachebench.results import CellState, Manifest
from cachebench.settings import load_settings


def _modes(cells: Sequence[CellState]) -> list[CellState]:
    """The first cell of each load mode, in the bench file's order, capacity searches first."""
    first: dict[str, CellState] = {}
    for cell in cells:
        first.setdefault(cell.mode, cell)
    return sorted(first.values(), key=lambda cell: mode_kind(cell) != "slo")


def _loads(cells: Sequence[CellState]) -> list[str]:
    loads = []
    for cell in _modes(cells):
        kind = mode_kind(cell)
        if kind == "slo":
            slo = cell.search.slo_p99_ms
            loads.append(f"**how much load does each strategy take at p99 ≤ {slo:g} ms** (open loop)")
        elif kind == "fixed_rate":
            lead_in = f", recorded after {cell.lead_in_s:g} s at that rate" if cell.lead_in_s else ""
            rate = f"**{cell.offered_rate_per_s:g} req/s**"
            loads.append(f"latency, hit ratio, origin load and CPU at {rate} (open loop{lead_in})")
        else:
            loads.append(
                f"throughput of a closed loop of {cell.users} users (Little's law: it rises with the "
                "user count, so it is not the target's capacity)"
            )
    return loads


def lines(manifest: Manifest) -> list[str]:
    """Two or three sentences: what was asked, under which conditions."""
    cells = manifest.cells
    loads = _loads(cells)
    asked = "; ".join(loads) if loads else "the matrix's load modes"
    variants = list(dict.fromkeys(cell.variant for cell in cells)) or ["default"]
    settings = cells[0].resolved if cells else load_settings()
    workers = cells[0].workers if cells else 1
    pool = settings.origin_concurrency * workers
    origin = (
        f"an origin of {pool} pool connections ({settings.origin_concurrency} per worker) at "
        f"{settings.origin_latency_ms:g} ± {settings.origin_jitter_ms:g} ms a read, so at most "
        f"≈ {pool / (settings.origin_latency_ms / 1000):,.0f} reads/s reach it"
        if settings.origin_latency_ms
        else "an origin with no added latency"
    )
    caches = (
        f"L1 TTL {settings.l1_ttl_s:g} s and {settings.l1_max_entries:,} entries, Redis TTL "
        f"{settings.redis_ttl_s:g} s, invalidation by {settings.invalidation}"
    )
    if len(variants) > 1:
        caches += f" (settings variant `{variants[0]}`; the others are named per table)"
    # Scenarios measured as transients take a fixed warm-up whatever the bench file asked.
    steady = (
        "measured at steady state"
        if any(cell.warmup == "steady_state" for cell in cells)
        else "after a fixed warm-up"
    )
    repeat = max((cell.repetition for cell in cells), default=1)
    shared = ", on processes warmed once per strategy" if any(cell.session for cell in cells) else ""
    return [
        f"**The question:** {asked}.",
        f"**Under:** {origin}; {caches}; {workers} uvicorn worker{'s' if workers != 1 else ''}; "
        f"{steady}; {repeat} repetition{'s' if repeat != 1 else ''}{shared}; "
        f"{manifest.machine.usable_cores} cores (target and Redis on one half, the load generator on "
        "the other).",
    ]
