"""Cache outcomes: what a response's ``Cache-Status`` (RFC 9211) says about which layer answered."""

from __future__ import annotations

L1_HIT = "l1_hit"
REDIS_HIT = "redis_hit"
MISS = "miss"
CLIENT_LOCAL = "client_local"
NOT_MODIFIED = "not_modified"
ERROR = "error"
#: Not an outcome: the histograms and counts of every outcome together.
ALL = "all"
OUTCOMES = (L1_HIT, REDIS_HIT, MISS, CLIENT_LOCAL, NOT_MODIFIED, ERROR)


def classify_cache_status(cache_status: str | None) -> str:
    """Outcome of a successful response from its ``Cache-Status`` (RFC 9211) header.

    Members run from the cache nearest the origin to the one nearest the client, so the last
    member that says ``hit`` is the layer that answered; none means the origin was read.
    """
    if not cache_status or "hit" not in cache_status:
        return MISS
    for member in reversed(cache_status.split(",")):
        layer, _, params = member.partition(";")
        if any(param.strip() == "hit" for param in params.split(";")):
            return f"{layer.strip().lower()}_hit"
    return MISS
