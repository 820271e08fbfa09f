"""Workload generators: which item each request touches and whether it reads or writes it.

Key popularity follows one of three distributions over ``keys`` items (ids 1..keys):

- ``uniform``: every item equally likely.
- ``zipf``: the item of popularity rank r (0-based) is drawn with probability proportional to
  1/(r+1)^alpha, from a precomputed CDF (exact, no approximation). As in YCSB's scrambled Zipfian,
  ranks are scattered over the id space so that the hot items are not ids 1, 2, 3...: a fixed
  keyed hash permutation (a 4-round Feistel network with cycle walking) maps rank -> id. Unlike
  YCSB's ``fnv(rank) % n`` it is a bijection, so no two ranks share an id and the popularity
  curve is exactly Zipf.
- ``hotspot``: ``hot_traffic_fraction`` of draws go (uniformly) to a hot set of
  ``hot_keys_fraction`` of the items, the rest to the others (YCSB's hotspot generator), hot set
  scattered by the same permutation. With ``hotspot_shift_s`` > 0 the hot set moves every
  ``hotspot_shift_s`` seconds to the next, disjoint, block of ranks (a shifting hotspot).

Everything is deterministic from a seed. Nothing here imports Locust: ``operations()`` yields
the same ``(op, item_id)`` stream a scenario user with the same seed and stream id draws, so a
trace-driven simulator can replay it. Pure Python: a draw costs ~1-2 µs.
"""

from __future__ import annotations

import bisect
import functools
import random
from array import array
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

DISTRIBUTIONS = ("uniform", "zipf", "hotspot")
READ = "read"
WRITE = "write"
#: Key of the fixed rank -> id permutation; fixed (not the workload seed) so that the hot items
#: are the same ids in every run, whatever the seed, as with YCSB's fixed hash.
PERMUTATION_KEY = 0x5CA77E4ED
#: Ranks whose id is memoised per permutation; beyond this, ids are recomputed (bounds memory).
_MEMO_LIMIT = 1_000_000
_M64 = (1 << 64) - 1


class WorkloadError(ValueError):
    """Workload parameters that make no sense, with a message naming the option."""


@dataclass(frozen=True)
class WorkloadSpec:
    """The workload knobs; scenarios fill them from Locust's parsed options."""

    keys: int = 10_000
    distribution: str = "zipf"
    zipf_alpha: float = 0.99
    hot_keys_fraction: float = 0.2
    hot_traffic_fraction: float = 0.8
    hotspot_shift_s: float = 0.0
    write_ratio: float = 0.05
    seed: int = 42

    def __post_init__(self) -> None:
        if self.keys < 1:
            raise WorkloadError(f"--keys must be >= 1, not {self.keys}")
        if self.distribution not in DISTRIBUTIONS:
            raise WorkloadError(f"--distribution must be one of {', '.join(DISTRIBUTIONS)}")
        if not self.zipf_alpha > 0:
            raise WorkloadError(f"--zipf-alpha must be > 0, not {self.zipf_alpha}")
        for name in ("hot_keys_fraction", "hot_traffic_fraction"):
            if not 0 < getattr(self, name) <= 1:
                raise WorkloadError(f"--{name.replace('_', '-')} must be in (0, 1]")
        if not 0 <= self.write_ratio <= 1:
            raise WorkloadError(f"--write-ratio must be in [0, 1], not {self.write_ratio}")
        if self.hotspot_shift_s < 0:
            raise WorkloadError("--hotspot-shift-s must be >= 0")

    @classmethod
    def from_options(cls, options: Any) -> WorkloadSpec:
        """From an argparse namespace (Locust's ``parsed_options``); missing options keep defaults."""
        fields = asdict(cls())
        return cls(**{name: getattr(options, name, default) for name, default in fields.items()})


def _mix64(x: int) -> int:
    """SplitMix64's finaliser: a cheap, well-mixing 64-bit hash."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class HashPermutation:
    """A fixed bijection of [0, n): a keyed Feistel network over the next even power of two,
    walked until the value falls back inside [0, n) (at most ~4 rounds of walking on average)."""

    def __init__(self, n: int, key: int = PERMUTATION_KEY) -> None:
        self.n = n
        bits = max(2, (n - 1).bit_length())
        bits += bits & 1
        self._half = bits // 2
        self._mask = (1 << self._half) - 1
        self._round_keys = [_mix64(key + i) for i in range(4)]
        self._memo: dict[int, int] = {}

    def _encrypt(self, x: int) -> int:
        half, mask = self._half, self._mask
        left, right = x >> half, x & mask
        for round_key in self._round_keys:
            left, right = right, left ^ (_mix64(right ^ round_key) & mask)
        return (left << half) | right

    def __call__(self, x: int) -> int:
        found = self._memo.get(x)
        if found is not None:
            return found
        y = self._encrypt(x)
        while y >= self.n:
            y = self._encrypt(y)
        if len(self._memo) < _MEMO_LIMIT:
            self._memo[x] = y
        return y


@functools.lru_cache(maxsize=8)
def zipf_cdf(keys: int, alpha: float) -> array:
    """Cumulative weights of ranks 0..keys-1 (unnormalised; the last element is the total).

    Shared by every user of a process; 10,000 keys take ~3 ms, 1,000,000 ~0.4 s and 8 MB.
    """
    cdf = array("d")
    total = 0.0
    for rank in range(1, keys + 1):
        total += rank**-alpha
        cdf.append(total)
    return cdf


@functools.lru_cache(maxsize=8)
def _permutation(keys: int) -> HashPermutation:
    return HashPermutation(keys)


class Workload:
    """Draws operations for one spec; the random state lives in the caller's ``random.Random``."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.keys = spec.keys
        self.write_ratio = spec.write_ratio
        self._permute = _permutation(spec.keys)
        if spec.distribution == "zipf":
            self._cdf = zipf_cdf(spec.keys, spec.zipf_alpha)
            self._total = self._cdf[-1]
        self.hot_keys = max(1, min(spec.keys, round(spec.keys * spec.hot_keys_fraction)))
        self._rank = {"uniform": self._uniform, "zipf": self._zipf, "hotspot": self._hotspot}[
            spec.distribution
        ]

    @classmethod
    def from_options(cls, options: Any) -> Workload:
        return cls(WorkloadSpec.from_options(options))

    def _uniform(self, rng: random.Random, elapsed_s: float) -> int:
        return int(rng.random() * self.keys)

    def _zipf(self, rng: random.Random, elapsed_s: float) -> int:
        # bisect_right: the first rank whose cumulative weight exceeds the draw.
        return min(bisect.bisect_right(self._cdf, rng.random() * self._total), self.keys - 1)

    def _hotspot(self, rng: random.Random, elapsed_s: float) -> int:
        hot, keys = self.hot_keys, self.keys
        if rng.random() < self.spec.hot_traffic_fraction or hot == keys:
            rank = int(rng.random() * hot)
        else:
            rank = hot + int(rng.random() * (keys - hot))
        if self.spec.hotspot_shift_s:
            rank = (rank + self.hot_set_offset(elapsed_s)) % keys
        return rank

    def hot_set_offset(self, elapsed_s: float) -> int:
        """First rank of the hot set ``elapsed_s`` into the run: moves a whole hot set per period."""
        period = int(elapsed_s // self.spec.hotspot_shift_s) if self.spec.hotspot_shift_s else 0
        return (period * self.hot_keys) % self.keys

    def item_id(self, rng: random.Random, elapsed_s: float = 0.0) -> int:
        """An item id in 1..keys."""
        rank = self._rank(rng, elapsed_s)
        if self._rank is self._uniform:
            return rank + 1
        return self._permute(rank) + 1

    def item_for_rank(self, rank: int) -> int:
        """The id of the item of popularity rank ``rank`` (0 = hottest for zipf/hotspot)."""
        return self._permute(rank) + 1

    def next_operation(self, rng: random.Random, elapsed_s: float = 0.0) -> tuple[str, int]:
        """``(op, item_id)``; op is ``"read"`` or ``"write"``. The op is drawn even when the write
        ratio is 0, so a stream's item sequence does not depend on the write ratio."""
        op = WRITE if rng.random() < self.write_ratio else READ
        return op, self.item_id(rng, elapsed_s)


#: The warm-up draws its own stream (same distribution, other seed), so the measured phase does
#: not open by replaying exactly the requests the warm-up just cached.
WARMUP_SEED_OFFSET = 100_000
#: Each capacity-search step draws its own streams for the same reason: step n adds n times this
#: (below WARMUP_SEED_OFFSET, above any repetition count: a cell's seed is base + repetition).
STEP_SEED_OFFSET = 1_000


def stream_rng(seed: int, stream_id: object = 0) -> random.Random:
    """The random state of one stream (one Locust user): string seeding is stable across runs
    and Python processes (hashed with SHA-512, not affected by PYTHONHASHSEED)."""
    return random.Random(f"cachebench:{seed}:{stream_id}")


def operations(
    spec: WorkloadSpec, count: int, stream_id: object = 0, rate_per_s: float | None = None
) -> Iterator[tuple[str, int]]:
    """Yield ``count`` operations of stream ``stream_id``, exactly as a scenario user with that
    stream id draws them. Time (for a shifting hotspot) advances by ``1 / rate_per_s`` per
    operation; a shifting hotspot needs ``rate_per_s``."""
    if spec.hotspot_shift_s and spec.distribution == "hotspot" and not rate_per_s:
        raise WorkloadError("a shifting hotspot needs rate_per_s to place operations in time")
    workload = Workload(spec)
    rng = stream_rng(spec.seed, stream_id)
    step_s = 1.0 / rate_per_s if rate_per_s else 0.0
    for i in range(count):
        yield workload.next_operation(rng, i * step_s)


def zipf_probability(keys: int, alpha: float, rank: int) -> float:
    """Probability of rank ``rank`` (0-based) under Zipf(alpha) over ``keys`` items."""
    cdf = zipf_cdf(keys, alpha)
    return (rank + 1) ** -alpha / cdf[-1]


def expected_hot_set(workload: Workload, elapsed_s: float = 0.0) -> set[int]:
    """Ids of the hotspot's hot set at ``elapsed_s`` (for tests and reports)."""
    offset = workload.hot_set_offset(elapsed_s)
    return {workload.item_for_rank((offset + r) % workload.keys) for r in range(workload.hot_keys)}


__all__ = [
    "DISTRIBUTIONS",
    "STEP_SEED_OFFSET",
    "WARMUP_SEED_OFFSET",
    "READ",
    "WRITE",
    "HashPermutation",
    "Workload",
    "WorkloadError",
    "WorkloadSpec",
    "expected_hot_set",
    "operations",
    "stream_rng",
    "zipf_cdf",
    "zipf_probability",
]
