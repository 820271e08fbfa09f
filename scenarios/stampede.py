"""stampede — many users on a few hot keys whose cache entries expire together.

Question: when a hot entry expires, how many requests reach the origin at once (a cache
stampede), and how much do request coalescing and TTL jitter help? Start the target with a
short TTL (e.g. ``l1_ttl_s=2``, ``redis_ttl_s=2``) and compare runs with ``coalesce`` and
``ttl_jitter`` on and off. Read from latency.json's per-second timeline: ``miss`` (responses
that waited on the origin), ``collapsed`` (misses that shared another request's origin read;
origin reads = miss - collapsed), and the latency spikes at each expiry; the target's
``cachebench_origin_operations_total{op="read"}`` counts origin reads exactly. Use many users
(``-u 200``) so that many requests are in flight when an entry expires.

    locust -f scenarios/stampede.py --host http://127.0.0.1:8000 -u 200 -r 100
"""

from locust import events

from cachebench.load.shapes import selected_shape
from scenarios._common import ItemUser, add_common_arguments

#: Measured as a transient on purpose (what happens when hot entries expire together):
#: the runner warms it up for the bench file's warmup_s, not until the hit ratio is steady.
MEASURED_AS_TRANSIENT = True


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    add_common_arguments(parser, keys=5, distribution="uniform", write_ratio=0.0)


class StampedeUser(ItemUser):
    """Reads one of a handful of hot items, back to back (or at --rate)."""


Shape = selected_shape()
