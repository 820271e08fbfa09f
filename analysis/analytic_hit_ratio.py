"""Analytic steady-state hit ratios that measured ones are held against (independent requests).

- An LRU cache of ``capacity`` entries: Che's approximation (Che, Tung, Wang 2002; Fricker,
  Robert, Roberts 2012 show it is accurate for Zipf popularity). Each key stays cached for the
  characteristic time ``t_c`` (in requests) after its last request, where
  ``sum_i (1 - exp(-p_i t_c)) = capacity``; key i then hits with probability ``1 - exp(-p_i t_c)``.
- A TTL cache whose entries expire ``ttl_s`` after they were filled (a hit does not extend
  them, as cachetools' TLRUCache and Redis' ``PX``): under Poisson arrivals of rate ``l_i`` a fill
  is followed by ``l_i * ttl_s`` hits on average before it expires, so key i hits with probability
  ``l_i T / (1 + l_i T)``.
- The same TTL cache when writes (at ``write_rate_per_s``, keys drawn with the same popularity)
  delete the entry: a fill then lives ``min(T, W)`` with W the time to the key's next write,
  exponential at rate ``w_i``, so it serves ``l_i (1 - exp(-w_i T)) / w_i`` hits on average and
  key i hits with probability ``h_i / (1 + h_i)`` for that ``h_i``. A TTL jittered uniformly
  takes its mean (the renewal-reward argument needs only the mean lifetime when there are no
  writes; with writes, the mean is a close stand-in for small jitter).
"""

from __future__ import annotations

import numpy as np

from cachebench.load.workload import zipf_cdf


def zipf_popularity(keys: int, alpha: float) -> np.ndarray:
    """Request probability of each key, by popularity rank (proportional to 1/(rank+1)^alpha): the
    law the scenarios' users draw from (``cachebench.load.workload.zipf_cdf``), so there is one."""
    cdf = np.asarray(zipf_cdf(keys, alpha))
    return np.diff(cdf, prepend=0.0) / cdf[-1]


def lru_hit_ratio(popularity: np.ndarray, capacity: int) -> float:
    """Che's approximation of an LRU cache's hit ratio; 1 when every key fits."""
    if capacity >= len(popularity):
        return 1.0

    def cached(t_c: float) -> float:
        return float(np.sum(-np.expm1(-popularity * t_c)))

    # cached() rises from 0 to len(popularity): bracket capacity, then bisect (64 halvings are
    # below a float's resolution of t_c).
    low, high = 0.0, 1.0
    while cached(high) < capacity:
        low, high = high, high * 2
    for _ in range(64):
        middle = (low + high) / 2
        low, high = (middle, high) if cached(middle) < capacity else (low, middle)
    t_c = (low + high) / 2
    return float(np.sum(popularity * -np.expm1(-popularity * t_c)))


def ttl_hit_ratio(
    popularity: np.ndarray, rate_per_s: float, ttl_s: float, write_rate_per_s: float = 0.0
) -> float:
    """A TTL cache's read hit ratio at ``rate_per_s`` reads per second, with no bound on entries,
    and writes that delete the key at ``write_rate_per_s`` (same popularity)."""
    reads = popularity * rate_per_s
    writes = popularity * write_rate_per_s
    if write_rate_per_s > 0:
        lifetime_s = -np.expm1(-writes * ttl_s) / writes
    else:
        lifetime_s = np.full_like(popularity, ttl_s)
    hits_per_fill = reads * lifetime_s
    return float(np.sum(popularity * hits_per_fill / (1 + hits_per_fill)))
