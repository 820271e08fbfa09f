"""The simulator's model, shared by both engines: clock, origin, latency, Redis TTLs, results."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachebench.serve import codec
from cachebench.serve.backends.redis_backend import redis_ttl_ms
from cachebench.serve.origin import SEEDED_AT
from cachebench.settings import Settings
from cachebench.staleness import age_summary
from targets import TARGETS

#: Redis holds every key until its TTL: a bound no sweep reaches.
REDIS_MAX_ENTRIES = 1 << 40
#: The kinds of event an engine schedules: an origin read completes and fills the caches, a write
#: commits at the origin.
FILL_EVENT = 0
COMMIT_EVENT = 1


class SimulationError(ValueError):
    """A configuration the simulator cannot replay, with the reason."""


def simulated_targets() -> list[str]:
    """The targets the simulator replays (``Target.simulated``), in the table's order."""
    return [name for name, row in TARGETS.items() if row.simulated]


@dataclass
class SimResult:
    """What the measured phase of one simulated configuration did."""

    target: str
    engine: str
    workers: int
    duration_s: float
    requests: int = 0
    reads: int = 0
    writes: int = 0
    layer_hits: dict[str, int] = field(default_factory=dict)
    layer_misses: dict[str, int] = field(default_factory=dict)
    #: Reads by the layer that answered them (``l1_hit``, ``redis_hit``) or ``miss``.
    outcomes: dict[str, int] = field(default_factory=dict)
    origin_reads: int = 0
    collapsed: int = 0
    stale_reads: int = 0
    stale_by_outcome: dict[str, int] = field(default_factory=dict)
    staleness_ages_s: list[float] = field(default_factory=list)
    #: Sums over worker processes of each one's high-water mark (RSS does not shrink either).
    l1_entries_peak: int = 0
    l1_bytes_peak: int = 0
    redis_entries_peak: int = 0
    redis_bytes_peak: int = 0
    wall_s: float = 0.0

    def metrics(self) -> dict[str, Any]:
        """Flat figures named as the live summaries name them."""
        figures: dict[str, Any] = {
            "requests": self.requests,
            "reads": self.reads,
            "writes": self.writes,
            "hit_ratio": self.hit_ratio,
            "origin_reads": self.origin_reads,
            "origin_reads_per_s": self.origin_reads_per_s,
            "collapsed": self.collapsed,
            "stale_reads": self.stale_reads,
            "stale_read_ratio": self.stale_read_ratio,
            "l1_entries_peak": self.l1_entries_peak,
            "l1_bytes_peak": self.l1_bytes_peak,
            "redis_entries_peak": self.redis_entries_peak,
            "redis_bytes_peak": self.redis_bytes_peak,
        }
        for layer, ratio in self.hit_ratio_by_layer().items():
            figures[f"{layer}_hit_ratio"] = ratio
        for outcome, count in sorted(self.outcomes.items()):
            figures[f"reads_{outcome}"] = count
        figures.update(age_summary(self.staleness_ages_s))
        return figures

    @property
    def hit_ratio(self) -> float | None:
        """Share of the reads a cache layer answered."""
        return _ratio(self.reads - self.outcomes.get("miss", 0), self.reads)

    @property
    def origin_reads_per_s(self) -> float:
        return self.origin_reads / self.duration_s

    @property
    def stale_read_ratio(self) -> float | None:
        return _ratio(self.stale_reads, self.reads)

    def hit_ratio_by_layer(self) -> dict[str, float | None]:
        """Per layer, the share of the lookups that reached it that it answered."""
        return {
            layer: _ratio(hits, hits + self.layer_misses.get(layer, 0))
            for layer, hits in self.layer_hits.items()
        }

    @property
    def simulated_requests_per_s(self) -> float:
        return self.requests / self.wall_s if self.wall_s else math.inf


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


class VirtualClock:
    """The time every cache in a simulation reads (``timer`` is what MeteredCache is given)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def timer(self) -> Callable[[], float]:
        def now() -> float:
            return self.now

        return now


class Body(bytes):
    """An encoded item body that also knows its version (so a hit needs no JSON parsing)."""

    version: int


class Origin:
    """Item versions, the commit time of each, and bodies encoded as the targets encode them."""

    def __init__(self, settings: Settings) -> None:
        self.versions: list[int] = [1] * (settings.origin_items + 1)
        self.commit_times: dict[int, list[float]] = {}
        self._payload = "x" * settings.payload_bytes
        self._bodies: dict[int, Body] = {}

    def item(self, item_id: int) -> codec.Item:
        return codec.Item(item_id, self.versions[item_id], SEEDED_AT, f"item-{item_id}", self._payload)

    def body(self, item_id: int) -> Body:
        body = self._bodies.get(item_id)
        version = self.versions[item_id]
        if body is None or body.version != version:
            body = Body(codec.encode(self.item(item_id)))
            body.version = version
            self._bodies[item_id] = body
        return body

    def commit(self, item_id: int, at_s: float) -> int:
        self.versions[item_id] += 1
        self.commit_times.setdefault(item_id, []).append(at_s)
        return self.versions[item_id]

    def obsoleted_at(self, item_id: int, version: int) -> float:
        """When ``version`` of the item stopped being current (the commit of ``version + 1``)."""
        return self.commit_times[item_id][version - 1]


class Latency:
    """Origin latency per operation, as ``cachebench.serve.origin`` draws it (uniform jitter)."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.base_s = settings.origin_latency_ms / 1000
        self.jitter_s = settings.origin_jitter_ms / 1000
        self._uniform = rng.uniform

    def draw_s(self) -> float:
        if not self.jitter_s:
            return max(0.0, self.base_s)
        return max(0.0, self.base_s + self._uniform(-self.jitter_s, self.jitter_s))


def redis_ttl_s(ttl_s: float) -> float:
    """The TTL Redis really keeps, in seconds (``redis_backend.redis_ttl_ms``)."""
    return redis_ttl_ms(ttl_s) / 1000
