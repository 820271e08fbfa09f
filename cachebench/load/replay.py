"""What the ``trace_replay`` scenario sends: an access log's requests as item reads and writes at
their (scaled) offsets, shared out among the Locust processes. No Locust here, so it is testable.

Each distinct cache key of the log (method and path, as ``cachebench sweep --trace`` keys it; a
write shares its path's GET key) becomes one item id, in the order the keys first appear: key 0 is
item 1. So the live target sees the log's reuse pattern (which key, how often, how soon again) and
its writes, over the target's own items, which is what decides a cache's hit ratio and staleness;
paths, sizes and users are not reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cachebench.load import access_log


class ReplayError(ValueError):
    """A log or setting the replay cannot use; the message names it."""


@dataclass(frozen=True)
class Replay:
    """Requests of one Locust process, in send order: offset from the start (s, scaled), item id, write."""

    offsets_s: list[float]
    items: list[int]
    writes: list[bool]
    distinct_keys: int
    log_requests: int

    def __len__(self) -> int:
        return len(self.offsets_s)


def build_replay(
    path: Path | str,
    fmt: str = "auto",
    options: access_log.KeyOptions | None = None,
    speed: float = 1.0,
    max_requests: int = 100_000,
    items: int = 10_000,
    process: int = 0,
    processes: int = 1,
) -> Replay:
    """The first ``max_requests`` requests of the log, ``speed`` times as fast as logged, the share
    of Locust process ``process`` of ``processes`` (every ``processes``-th request)."""
    if not speed > 0:
        raise ReplayError(f"--trace-speed must be > 0, not {speed}")
    if max_requests < 1:
        raise ReplayError(f"--trace-max-requests must be >= 1, not {max_requests}")
    stream, summary = access_log.load(path, fmt, options)
    if summary.distinct_keys > items:
        raise ReplayError(
            f"access log {str(path)!r} has {summary.distinct_keys:,} distinct keys but the replay maps "
            f"them to {items:,} items: give --trace-items (and the target's ORIGIN_ITEMS) at least that"
        )
    count = min(max_requests, len(stream.keys))
    offsets_s = (stream.times_s[:count] - stream.times_s[0]) / speed
    chosen = np.arange(process, count, processes)
    return Replay(
        offsets_s[chosen].tolist(),
        (stream.keys[chosen] + 1).tolist(),
        stream.is_write[chosen].tolist(),
        summary.distinct_keys,
        len(stream.keys),
    )
