"""Hit-ratio curves of one L1 in one pass: every size (LRU stack distances), every TTL (fill chains),
and the TTL × size grid, checked against a replay through the real ``MeteredCache``.

The model is one process's L1 (``MeteredCache``: LRU, a TTL per entry set at its fill) fed a
stream of reads and writes; a miss fills at once (no origin latency) and a write deletes the key
when writes invalidate. Then:

- no TTL (the cache is size-bound): exact at every size, ``cachebench.tuning.stack_distance``;
- no size bound (TTL-bound): exact at every TTL, ``cachebench.tuning.ttl_curve``;
- both: a read is counted a hit when it hits both ways. Not exact (an entry that expired frees
  its slot, and a smaller cache refills more often, so its entries expire later), which is why
  ``check`` replays sampled grid points through ``MeteredCache`` and reports the difference.
  Measured on read_heavy (3,000 keys, 2,000 req/s, 42 sizes × TTLs): it errs low, by up to 1.4 pp
  where both bounds bind (``GRID_ERROR_PP``), and is exact where only one does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from cachebench.results.sweep_record import CurveCheck, CurvesRecord
from cachebench.serve.backends.l1_backend import MeteredCache
from cachebench.tuning.stack_distance import (
    SHARDS_MIN_SIZE_PER_RATE,
    hits_by_size,
    lru_distances,
    lru_hits,
    sampled_keys,
    sampling_error,
)
from cachebench.tuning.trace import Trace
from cachebench.tuning.ttl_curve import ttl_hits

#: "No TTL" in a replay: an expiry no trace reaches.
NO_TTL_S = 1e15
#: How far below a replay a point with both bounds may come (see the module docstring).
GRID_ERROR_PP = 1.5
#: Above this many requests ``one_pass`` samples keys (SHARDS) unless told otherwise.
SAMPLE_ABOVE_REQUESTS = 5_000_000


@dataclass(frozen=True)
class Requests:
    """A request stream as arrays: time (s, non-decreasing), key (int), write or read. Hit ratios
    count the reads from ``measured_from`` on (the ones before only warm the cache)."""

    times_s: np.ndarray
    keys: np.ndarray
    is_write: np.ndarray
    measured_from: int = 0

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_trace(cls, trace: Trace) -> Requests:
        return cls(
            np.asarray(trace.times_s, dtype=float),
            np.asarray(trace.items, dtype=np.int64),
            np.asarray(trace.is_write, dtype=bool),
            trace.measured_from,
        )

    def measured_reads(self) -> np.ndarray:
        mask = ~self.is_write
        mask[: self.measured_from] = False
        return mask

    def sample(self, rate: float) -> Requests:
        kept = sampled_keys(self.keys, rate)
        return Requests(
            self.times_s[kept],
            self.keys[kept],
            self.is_write[kept],
            int(np.count_nonzero(kept[: self.measured_from])),
        )


@dataclass
class Curves:
    """Hit ratios of the measured reads: ``by_size`` (no TTL), ``by_ttl`` (no size bound),
    ``grid[ttl index][size index]`` (both bounds, approximate: see the module docstring)."""

    sizes: list[int]
    ttls_s: list[float]
    by_size: list[float]
    by_ttl: list[float]
    grid: list[list[float]]
    reads: int
    requests: int
    invalidate: bool
    sample_rate: float = 1.0
    cpu_s: float = 0.0
    #: Three standard errors of the sampled curves (0 when every key is kept), in points.
    sampling_error_pp: float = 0.0
    checks: list[CurveCheck] = field(default_factory=list)

    def record(self) -> CurvesRecord:
        """The curves as the trace sweep's record keeps them."""
        return CurvesRecord(
            sizes=self.sizes,
            ttls_s=self.ttls_s,
            hit_ratio_by_size=self.by_size,
            hit_ratio_by_ttl=self.by_ttl,
            hit_ratio_grid=self.grid,
            reads=self.reads,
            requests=self.requests,
            writes_invalidate=self.invalidate,
            sample_rate=self.sample_rate,
            sampling_error_pp=self.sampling_error_pp,
            sampling_valid_from_size=(
                math.ceil(SHARDS_MIN_SIZE_PER_RATE / self.sample_rate) if self.sample_rate < 1 else 1
            ),
            cpu_s=self.cpu_s,
            requests_per_cpu_s=self.requests / self.cpu_s if self.cpu_s else None,
            checks=self.checks,
        )


def one_pass(
    requests: Requests,
    sizes: list[int],
    ttls_s: list[float],
    invalidate: bool = True,
    sample_rate: float | None = None,
) -> Curves:
    """The curves of ``requests`` over these sizes and TTLs. ``sample_rate`` < 1 samples keys
    (SHARDS); by default only streams over ``SAMPLE_ABOVE_REQUESTS`` are sampled, to keep ~that many."""
    started = time.process_time()
    total = len(requests)
    if sample_rate is None:
        sample_rate = min(1.0, SAMPLE_ABOVE_REQUESTS / total) if total else 1.0
    stream = requests.sample(sample_rate) if sample_rate < 1 else requests
    depths = lru_distances(stream.keys, stream.is_write, invalidate)
    measured = stream.measured_reads()
    reads = int(np.count_nonzero(measured))
    scale = 1.0 / sample_rate
    ratio = (lambda hits: (hits / reads).tolist()) if reads else (lambda hits: [None] * len(hits))
    by_size = ratio(hits_by_size(depths[measured], sizes, scale))
    ttl_mask = ttl_hits(stream.times_s, stream.keys, stream.is_write, ttls_s, invalidate)
    by_ttl = ratio(np.count_nonzero(ttl_mask[measured], axis=0))
    grid = []
    for column in range(len(ttls_s)):
        both = measured & ttl_mask[:, column]
        grid.append(ratio(hits_by_size(depths[both], sizes, scale)))
    error_pp = 0.0
    if sample_rate < 1:
        kept = [s for s in sizes if s >= SHARDS_MIN_SIZE_PER_RATE / sample_rate]
        read_depths = depths[measured].astype(float)[:, None] * scale
        size_hits = lru_hits(read_depths, np.asarray(kept, dtype=float)[None, :])
        hits = np.hstack([size_hits, ttl_mask[measured]])
        error_pp = 100 * sampling_error(stream.keys[measured], hits, sample_rate)
    return Curves(
        list(sizes),
        [float(t) for t in ttls_s],
        by_size,
        by_ttl,
        grid,
        int(np.count_nonzero(requests.measured_reads())),
        total,
        invalidate,
        sample_rate,
        time.process_time() - started,
        error_pp,
    )


def replay(
    requests: Requests, max_entries: int, ttl_s: float = NO_TTL_S, invalidate: bool = True
) -> float | None:
    """The measured reads' hit ratio through a real ``MeteredCache`` on a virtual clock: a miss
    fills at once (with ``ttl_s``), a write deletes its key when writes invalidate."""
    now = [0.0]
    cache = MeteredCache(max_entries, None, lambda: now[0])
    value = b"x"
    hits = reads = 0
    measured_from = requests.measured_from
    rows = zip(requests.times_s.tolist(), requests.keys.tolist(), requests.is_write.tolist(), strict=True)
    for index, (at_s, key, write) in enumerate(rows):
        now[0] = at_s
        if write:
            if invalidate:
                cache.pop(key, None)
            continue
        try:
            cache[key]
            hit = True
        except KeyError:
            cache.put(key, value, ttl_s)
            hit = False
        if index >= measured_from:
            reads += 1
            hits += hit
    return hits / reads if reads else None


def check(
    curves: Curves, requests: Requests, points: list[tuple[int | None, float | None]]
) -> list[CurveCheck]:
    """Replay sampled points ((size or None for no bound, TTL or None for none)) and record the
    one-pass figure beside the replayed one, in ``curves.checks``."""
    distinct = int(len(np.unique(requests.keys))) + 1
    rows = []
    for size, ttl_s in points:
        if size is None:
            predicted = curves.by_ttl[curves.ttls_s.index(ttl_s)]
        elif ttl_s is None:
            predicted = curves.by_size[curves.sizes.index(size)]
        else:
            predicted = curves.grid[curves.ttls_s.index(ttl_s)][curves.sizes.index(size)]
        replayed = replay(requests, size or distinct, NO_TTL_S if ttl_s is None else ttl_s, curves.invalidate)
        error = None if None in (predicted, replayed) else (predicted - replayed) * 100
        rows.append(CurveCheck(size=size, ttl_s=ttl_s, one_pass=predicted, replay=replayed, error_pp=error))
    curves.checks.extend(rows)
    return rows


def sampled_points(curves: Curves, count: int = 3) -> list[tuple[int | None, float | None]]:
    """A few points to check: spread over the size curve, the TTL curve and the grid."""

    def spread(values: list, n: int) -> list:
        if len(values) <= n:
            return list(values)
        return [values[round(i * (len(values) - 1) / (n - 1))] for i in range(n)] if n > 1 else [values[0]]

    sizes, ttls = spread(curves.sizes, count), spread(curves.ttls_s, count)
    points: list[tuple[int | None, float | None]] = [(s, None) for s in sizes]
    points += [(None, t) for t in ttls]
    points += list(zip(sizes, reversed(ttls), strict=False))
    return points
