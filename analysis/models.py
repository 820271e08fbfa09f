"""Analytic steady-state hit ratios that measured ones are held against (independent requests).

- An LRU cache of ``capacity`` entries: Che's approximation (Che, Tung, Wang 2002; Fricker,
  Robert, Roberts 2012 show it is accurate for Zipf popularity). Each key stays cached for the
  characteristic time ``t_c`` (in requests) after its last request, where
  ``sum_i (1 - exp(-p_i t_c)) = capacity``; key i then hits with probability ``1 - exp(-p_i t_c)``.
- A TTL cache whose entries expire ``ttl_s`` after they were filled (a hit does not extend
  them, as cachetools' TLRUCache and Redis' ``PX``): under Poisson arrivals of rate ``l_i`` a fill
  is followed by ``l_i * ttl_s`` hits on average before it expires, so key i hits with probability
  ``l_i T / (1 + l_i T)``.
"""

from __future__ import annotations

import numpy as np


def zipf_popularity(keys: int, alpha: float) -> np.ndarray:
    """Request probability of each key, by popularity rank: proportional to 1/(rank+1)^alpha."""
    weights = 1.0 / np.arange(1, keys + 1, dtype=float) ** alpha
    return weights / weights.sum()


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


def ttl_hit_ratio(popularity: np.ndarray, rate_per_s: float, ttl_s: float) -> float:
    """A TTL cache's hit ratio at ``rate_per_s`` requests per second, with no bound on entries."""
    arrivals_per_ttl = popularity * rate_per_s * ttl_s
    return float(np.sum(popularity * arrivals_per_ttl / (1 + arrivals_per_ttl)))
