"""The question a run answers and what bounds it, in words, for the top of every report.

A figure is only as good as the question behind it: which load (open loop at a rate, a capacity
search at an SLO, or a closed loop of N users), over which origin (its pool and latency: what
``nocache`` can at most serve), with which TTLs and sizes, how many repetitions, how many
processes on how many cores. All of it comes from the manifest: the matrix as run.
"""

from __future__ import annotations

from cachebench.results import ManifestRecord
from cachebench.settings import load_settings


def _loads(matrix: dict) -> list[str]:
    slo = matrix.get("slo_p99_ms")
    loads = []
    for mode in sorted(matrix.get("modes") or [], key=lambda m: m["kind"] != "slo"):
        if mode["kind"] == "slo":
            loads.append(f"**how much load does each strategy take at p99 ≤ {slo:g} ms** (open loop)")
        elif mode["kind"] == "fixed_rate":
            lead_in = (
                f", recorded after {mode['lead_in_s']:g} s at that rate" if mode.get("lead_in_s") else ""
            )
            rate = f"**{mode['rate_per_s']:g} req/s**"
            loads.append(f"latency, hit ratio, origin load and CPU at {rate} (open loop{lead_in})")
        else:
            loads.append(
                f"throughput of a closed loop of {mode['users']} users (Little's law: it rises with the "
                "user count, so it is not the target's capacity)"
            )
    return loads


def lines(manifest: ManifestRecord) -> list[str]:
    """Two or three sentences: what was asked, under which conditions."""
    matrix = manifest.matrix
    loads = _loads(matrix)
    asked = "; ".join(loads) if loads else "the matrix's load modes"
    variants = matrix.get("settings") or {"default": {}}
    settings = load_settings(**next(iter(variants.values())))
    workers = int(matrix.get("workers") or 1)
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
        caches += f" (settings variant `{next(iter(variants))}`; the others are named per table)"
    steady = "measured at steady state" if matrix.get("steady_state", True) else "after a fixed warm-up"
    repeat = int(matrix.get("repeat") or 1)
    shared = ", on processes warmed once per strategy" if matrix.get("reuse_processes") else ""
    cores = manifest.machine.get("usable_cores", "?")
    return [
        f"**The question:** {asked}.",
        f"**Under:** {origin}; {caches}; {workers} uvicorn worker{'s' if workers != 1 else ''}; "
        f"{steady}; {repeat} repetition{'s' if repeat != 1 else ''}{shared}; {cores} cores "
        "(target and Redis on one half, the load generator on the other).",
    ]
