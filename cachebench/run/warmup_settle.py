"""When a warm-up may end: the share of reads the caches answer has stopped moving.

The warm-up is scraped every window; it ends once the hit ratio of successive windows agrees
(within the tolerance, or within the windows' own sampling noise, whichever is wider) twice
in a row, and once the bound that governs each cache layer has acted: it has evicted (full,
so it churns at its size) or TTL_PASSES of its TTL have passed. Before one TTL a cache answers
more than it will later (nothing has left it yet); just after it, the many entries filled in
the first seconds expire together and their refills come as a wave of misses, so the ratio
dips below its steady state until the wave has passed. A ratio that looks flat before both is
not the steady state. The warm-up is bounded; when the bound ends it first, the cell is
recorded as not settled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cachebench.metrics_text import metric_sum
from cachebench.results import CellSpec, WarmupRecord
from cachebench.results.cell_spec import WarmupKind
from cachebench.run.matrix import clients_keep_caches
from targets import TARGETS

#: Seconds between two scrapes of /metrics while warming up.
WINDOW_S = 2.0
#: Successive windows within this many percentage points count as settled.
TOLERANCE_PP = 0.5
#: How many standard errors of the difference of two windows' ratios count as noise.
NOISE_Z = 2.0
#: Agreements in a row that end the warm-up.
AGREEMENTS_NEEDED = 2
#: TTLs a TTL-bound layer must have run for: the first expiry, then the wave of refills after it.
TTL_PASSES = 2.0

Metrics = dict[tuple[str, tuple], float]
#: The setting that holds each layer's TTL (a user's own backend is given the L1 TTL).
TTL_SETTING = {"l1": "l1_ttl_s", "redis": "redis_ttl_s", "backend": "l1_ttl_s"}


def ttl_by_layer(layers: tuple[str, ...], settings: object, library_redis: bool = False) -> dict[str, float]:
    """Each layer's TTL: until it has passed, none of the layer's entries has expired yet.

    A cache library's layer is named after the library; it takes the Redis TTL when it caches
    in Redis, else the L1 TTL (as the library targets in targets/ do).
    """
    other = "redis_ttl_s" if library_redis else "l1_ttl_s"
    return {layer: float(getattr(settings, TTL_SETTING.get(layer, other))) for layer in layers}


@dataclass(frozen=True)
class Window:
    """Reads that looked in the nearest cache over one window, and how many a cache answered."""

    reads: float
    answered: float
    #: Layers that evicted during the window (full, so their size bound acts).
    evicting: frozenset[str] = frozenset()

    @property
    def hit_ratio(self) -> float | None:
        return self.answered / self.reads if self.reads else None


def window_between(before: Metrics, after: Metrics) -> Window:
    """The window between two scrapes; the nearest layer is the one with the most lookups."""
    layers = {
        dict(labels).get("layer") for (name, labels) in after if name == "cachebench_cache_operations_total"
    }
    reads, answered, evicting = 0.0, 0.0, set()
    for layer in filter(None, layers):

        def delta(result: str, layer: str = layer) -> float:
            name = "cachebench_cache_operations_total"
            return metric_sum(after, name, layer=layer, result=result) - metric_sum(
                before, name, layer=layer, result=result
            )

        hits, misses = delta("hit"), delta("miss")
        reads = max(reads, hits + misses)
        answered += hits
        if delta("eviction") > 0:
            evicting.add(layer)
    return Window(reads, answered, frozenset(evicting))


def agree(previous: Window, current: Window, tolerance_pp: float = TOLERANCE_PP) -> bool:
    """Whether two windows' hit ratios differ by no more than the tolerance or their noise."""
    if not previous.reads or not current.reads:
        return False
    pooled = (previous.answered + current.answered) / (previous.reads + current.reads)
    noise = NOISE_Z * math.sqrt(pooled * (1 - pooled) * (1 / previous.reads + 1 / current.reads))
    return abs(current.hit_ratio - previous.hit_ratio) <= max(tolerance_pp / 100, noise)


@dataclass
class SettleWatch:
    """Fed one scrape per window; ``settled`` says when the warm-up may end."""

    #: The TTL of each of the target's layers (none: a service we did not start, judged by
    #: its hit ratio alone).
    ttl_s_by_layer: dict[str, float] | None = None
    caches: bool = True
    #: The browsers' max-age, where the users keep HTTP caches that the target's headers fill:
    #: they are seen only as reads that never arrive, so they are given their TTLs, no more.
    client_ttl_s: float | None = None
    windows: list[Window] = field(default_factory=list)
    agreements: int = 0
    _last: Metrics | None = None

    def observe(self, metrics: Metrics) -> None:
        if self._last is not None:
            window = window_between(self._last, metrics)
            if self.windows and agree(self.windows[-1], window):
                self.agreements += 1
            else:
                self.agreements = 0
            self.windows.append(window)
        self._last = metrics

    def settled(self, elapsed_s: float) -> bool:
        if self.client_ttl_s and elapsed_s < TTL_PASSES * self.client_ttl_s:
            return False
        if not self.caches:
            return elapsed_s >= WINDOW_S  # nothing fills: one window warms connections and code
        if self.agreements < AGREEMENTS_NEEDED:
            return False
        evicting = self.windows[-1].evicting
        ttl_s = self.ttl_s_by_layer or {}
        return all(
            layer in evicting or elapsed_s >= TTL_PASSES * layer_ttl_s for layer, layer_ttl_s in ttl_s.items()
        )

    def record(self, kind: WarmupKind, elapsed_s: float, settled: bool) -> WarmupRecord:
        """What the cell's summary keeps of its warm-up."""
        return WarmupRecord(
            kind=kind,
            seconds=round(elapsed_s, 3),
            settled=settled,
            ttl_s_by_layer=self.ttl_s_by_layer or {},
            client_ttl_s=self.client_ttl_s,
            evicting=sorted(self.windows[-1].evicting) if self.windows else [],
            window_s=WINDOW_S,
            hit_ratio_by_window=[
                None if w.hit_ratio is None else round(w.hit_ratio, 5) for w in self.windows
            ],
        )


def settle_watch(cell: CellSpec) -> SettleWatch:
    """The watch for ``cell``'s warm-up: its target's layers and TTLs, and the browsers' max-age
    where the scenario's users keep HTTP caches that the target's headers fill."""
    row = TARGETS.get(cell.target)  # None for a service we did not start
    if row is None:
        return SettleWatch()
    settings = cell.resolved
    browsers_cache = clients_keep_caches(cell.scenario) and (row.client_headers or settings.client_headers)
    return SettleWatch(
        ttl_s_by_layer=ttl_by_layer(row.layers, settings, row.library_redis),
        caches=row.caches,
        client_ttl_s=float(settings.max_age_s) if browsers_cache else None,
    )
