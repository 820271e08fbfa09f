"""LRU stack distances in one pass (Mattson), so one replay gives the hit ratio of every L1 size.

An LRU cache of C entries holds exactly the C most recently used keys, so a read hits every cache
of at least ``d`` entries, where ``d`` is the key's depth in the recency stack (Mattson et al. 1970).
The depth is counted with a Fenwick tree over request indices: each key's last access is marked,
and the depth of a read is one plus the marks after its key's last access, O(log n) per request.

Writes that invalidate (``LayeredCache.invalidate`` deletes the key): a delete frees a slot without
evicting, so the cache no longer holds "the top C keys". The stack stays exact if the deleted
key's place is kept as a *hole*: a cache of C entries holds the keys among the top C places, and
the next access that moves keys down (a miss, or a hit deeper than the hole) fills the topmost
hole instead of pushing everything below it down. In the tree a hole is a mark like a key's.

SHARDS (Waldspurger et al., FAST 2015): for very long traces keep only the keys whose hash falls
below ``rate`` (every request of a kept key, so each kept key's reuse pattern is whole) and scale
each distance by ``1 / rate``. Keys are sampled whole, so the hit ratio is a ratio estimate over
keys; ``sampling_error`` states its error from the sample itself (three standard errors), which
is large when a few hot keys carry the traffic (whether the hottest is sampled decides much).
"""

from __future__ import annotations

import heapq

import numpy as np

#: Distance of a read no cache can answer (first access, or first read after an invalidation).
COLD = 0
#: Distance given to a write (it is not a read).
WRITE = -1
#: Below ``20 / rate`` entries a sampled cache holds too few keys to resolve a size (SHARDS).
SHARDS_MIN_SIZE_PER_RATE = 20
#: The stated error is this many standard errors.
SHARDS_ERROR_SE = 3.0
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_HASH_BITS = 24


def lru_distances(
    keys: np.ndarray, is_write: np.ndarray | None = None, invalidate: bool = True
) -> np.ndarray:
    """Per request: the read's LRU stack depth (1 = most recently used), ``COLD`` for a read no
    cache holds, ``WRITE`` for a write. ``keys`` are ints; a write deletes its key if ``invalidate``.

    Hand-written, in plain Python: no maintained library computes LRU depths with deletes as
    cachetools' LRU takes them (libCacheSim's Python bindings simulate its own caches, one size
    at a time), and a Fenwick tree is a dozen lines. Measured ~3 µs per request on the dev machine.
    """
    n = len(keys)
    out = np.empty(n, dtype=np.int64)
    key_list = keys.tolist()
    writes = is_write.tolist() if is_write is not None else [False] * n
    tree = [0] * (n + 1)
    last: dict[int, int] = {}  # key -> 1-based index of its last access (its mark)
    holes: list[int] = []  # negated indices of holes: heapq's smallest is the topmost hole
    marks = 0
    depths = [0] * n
    for index in range(n):
        key = key_list[index]
        if writes[index]:
            depths[index] = WRITE
            if invalidate:
                at = last.pop(key, 0)
                if at:
                    heapq.heappush(holes, -at)  # its mark stays, as the hole's
            continue
        now = index + 1
        at = last.get(key, 0)
        if at:
            below = 0
            i = at
            while i:
                below += tree[i]
                i &= i - 1
            depths[index] = 1 + marks - below
            gone = at
            if holes and -holes[0] > at:
                # The keys above it move down only as far as the topmost hole, which closes; the
                # place it leaves is the hole now (its mark at ``at`` stays).
                gone = -heapq.heapreplace(holes, -at)
        else:
            depths[index] = COLD
            gone = -heapq.heappop(holes) if holes else 0
            if not gone:
                marks += 1
        if gone:
            i = gone
            while i <= n:
                tree[i] -= 1
                i += i & -i
        i = now
        while i <= n:
            tree[i] += 1
            i += i & -i
        last[key] = now
    out[:] = depths
    return out


def lru_hits(depths: np.ndarray, size: float | np.ndarray) -> np.ndarray:
    """Which reads an LRU cache of ``size`` entries answers (``size`` may be an array that
    broadcasts): those at depth 1 to ``size`` in the recency stack (``COLD`` reads and writes miss)."""
    return (depths >= 1) & (depths <= size)


def hits_by_size(depths: np.ndarray, sizes: list[int], scale: float = 1.0) -> np.ndarray:
    """How many reads hit an LRU cache of each size: those with ``1 <= depth * scale <= size``."""
    found = np.sort(depths[depths >= 1].astype(float) * scale)
    return np.searchsorted(found, np.asarray(sizes, dtype=float), side="right")


def sampled_keys(keys: np.ndarray, rate: float) -> np.ndarray:
    """SHARDS' spatial sample: a mask of the requests whose key hashes below ``rate`` (a fixed
    multiplicative hash, so the same keys are kept in every run)."""
    if not 0 < rate <= 1:
        raise ValueError(f"the sampling rate must be in (0, 1], not {rate}")
    hashed = (keys.astype(np.uint64) * _HASH_MULTIPLIER) >> np.uint64(64 - _HASH_BITS)
    return hashed < np.uint64(int(rate * (1 << _HASH_BITS)))


def sampling_error(keys: np.ndarray, hits: np.ndarray, rate: float) -> float:
    """Three standard errors of a ratio estimate (hits / reads) from keys sampled at ``rate``:
    ``keys`` of the sampled reads, ``hits`` a (reads × points) mask; the largest over the points.

    Under Bernoulli(rate) sampling of keys the estimate's variance is about
    ``(1 - rate) * sum_k (h_k - H r_k)^2 / (sum_k r_k)^2`` over the sampled keys' hits ``h_k``
    and reads ``r_k`` (the linearised ratio estimator; Cochran, Sampling Techniques 6.4)."""
    if rate >= 1 or not len(keys):
        return 0.0
    _, key_index = np.unique(keys, return_inverse=True)
    reads = np.bincount(key_index).astype(float)
    worst = 0.0
    for column in range(hits.shape[1]):
        key_hits = np.bincount(key_index, weights=hits[:, column].astype(float), minlength=len(reads))
        ratio = key_hits.sum() / reads.sum()
        variance = (1 - rate) * np.sum((key_hits - ratio * reads) ** 2) / reads.sum() ** 2
        worst = max(worst, float(np.sqrt(variance)))
    return SHARDS_ERROR_SE * worst
