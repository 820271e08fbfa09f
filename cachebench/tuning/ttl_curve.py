"""Which reads a TTL-bound cache answers, for a whole grid of TTLs at once (numpy, no Python loop
per request).

With fill-time TTLs (cachetools' TLRUCache, Redis ``PX``: a hit does not extend an entry) and no
bound on entries, each key is on its own: a read at t hits iff the entry filled at the key's last
miss, at f, is still alive (``t < f + ttl``, as ``TLRUCache`` compares) and no write deleted it
since. So the misses of a key are a chain: its first read, then from each miss the first read
at or after ``f + ttl`` or the first read after a write, whichever comes first. ``next`` is one
``searchsorted`` for every read at once; the chains are followed for all keys together, one step
per miss of the key with the most misses.

With a fill delay ``d`` (the origin's latency: a miss fills when its origin read completes), the
entry of a miss at m lives from m + d to m + d + ttl, and a read of the key before m + d misses too
(it starts its own origin read, whose later fill replaces the entry: the chain goes on from it).
The simulator's engines differ there: a read after the first fill landed but before the second
one does hits the first entry, where the chain counts a miss (reads at 0, 15 and 25 ms with a
20 ms fill: here three misses, there two and a hit). So the one pass errs low where reads of a
key come closer together than the origin's latency.
"""

from __future__ import annotations

import numpy as np


class _Reads:
    """The reads grouped by key (time order kept within a key), with what the chains need."""

    def __init__(self, times_s: np.ndarray, keys: np.ndarray, is_write: np.ndarray, invalidate: bool) -> None:
        order = np.argsort(keys, kind="stable")
        sorted_keys, sorted_writes = keys[order], is_write[order]
        read_positions = np.flatnonzero(~sorted_writes)
        self.order = order[read_positions]  # request index of each grouped read
        self.times_s = times_s[self.order]
        group_keys = sorted_keys[read_positions]
        count = len(read_positions)
        self.count = count
        starts = np.flatnonzero(np.r_[True, group_keys[1:] != group_keys[:-1]]) if count else np.zeros(0, int)
        self.starts = starts
        lengths = np.diff(np.r_[starts, count])
        self.group_end = np.repeat(np.r_[starts[1:], count], lengths)  # first read of the next key
        # Times as ranks, so that "first read of this key at or after t" is one searchsorted on
        # (key, rank) without float arithmetic on the times themselves.
        self.unique_s = np.unique(self.times_s)
        self.stride = len(self.unique_s) + 1
        group_ids = np.repeat(np.arange(len(starts)), lengths)
        self.group_base = group_ids.astype(np.int64) * self.stride
        self.composite = self.group_base + np.searchsorted(self.unique_s, self.times_s)
        self.after_write = self._first_read_after_next_write(sorted_keys, sorted_writes, read_positions)
        if not invalidate:
            self.after_write = self.group_end

    def _first_read_after_next_write(
        self, sorted_keys: np.ndarray, sorted_writes: np.ndarray, read_positions: np.ndarray
    ) -> np.ndarray:
        total = len(sorted_keys)
        position = np.arange(total)
        # Position of the next write at or after each position (total where none), within the key.
        marked = np.where(sorted_writes, position, total)
        next_write = np.minimum.accumulate(marked[::-1])[::-1]
        next_key_start = np.empty(total, dtype=np.int64)
        if total:
            boundaries = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
            ends = np.r_[boundaries[1:], total]
            next_key_start = np.repeat(ends, np.diff(np.r_[boundaries, total]))
        following = np.minimum(np.r_[next_write[1:], total], total)
        following = np.where(following < next_key_start, following, total)[read_positions]
        reads_before = np.r_[0, np.cumsum(~sorted_writes)]  # reads at positions < p
        first_read = reads_before[following]  # the read after that write (same key or beyond)
        return np.where(following < total, first_read, self.count)

    def misses(self, ttl_s: float, fill_delay_s: float = 0.0) -> np.ndarray:
        """A mask over the grouped reads: True where a cache with this TTL misses."""
        count = self.count
        miss = np.zeros(count, dtype=bool)
        if not count:
            return miss
        expiry_rank = np.searchsorted(self.unique_s, self.times_s + fill_delay_s + ttl_s, side="left")
        next_by_ttl = np.searchsorted(self.composite, self.group_base + expiry_rank, side="left")
        if fill_delay_s > 0:  # the key's next read misses too while the origin read is in flight
            following_read = np.arange(1, count + 1)
            in_flight = np.zeros(count, dtype=bool)
            in_flight[:-1] = self.times_s[1:] < self.times_s[:-1] + fill_delay_s
            next_by_ttl = np.where(in_flight & (following_read < self.group_end), following_read, next_by_ttl)
        following = np.minimum(next_by_ttl, self.after_write)
        following = np.where(following < self.group_end, following, count)
        frontier = self.starts
        while len(frontier):
            miss[frontier] = True
            frontier = following[frontier]
            frontier = frontier[frontier < count]
        return miss


def ttl_hits(
    times_s: np.ndarray,
    keys: np.ndarray,
    is_write: np.ndarray,
    ttls_s: list[float],
    invalidate: bool = True,
    fill_delay_s: float = 0.0,
) -> np.ndarray:
    """A (requests × TTLs) mask: True where the request is a read that an unbounded cache with
    that TTL answers (filled ``fill_delay_s`` after its key's last miss, not deleted by a write since)."""
    reads = _Reads(times_s, keys, is_write, invalidate)
    hits = np.zeros((len(keys), len(ttls_s)), dtype=bool)
    for column, ttl_s in enumerate(ttls_s):
        hits[reads.order, column] = ~reads.misses(float(ttl_s), fill_delay_s)
    return hits
