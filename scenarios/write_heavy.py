"""write_heavy — YCSB workload A: 50% reads, 50% writes, Zipf(0.99) key popularity.

Question: what does invalidation cost? Every write deletes (or re-versions) the key in each
layer — and for the hierarchical target publishes to every process — so hot keys keep going
cold: compare hit ratios, read latency and origin reads with the read-heavy run, and look at
the write rows for how long stale reads lasted.

    locust -f scenarios/write_heavy.py --host http://127.0.0.1:8000
"""

from locust import events

from cachebench.load.shapes import selected_shape
from scenarios._common import ItemUser, add_common_arguments


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    add_common_arguments(parser, distribution="zipf", zipf_alpha=0.99, write_ratio=0.5)


class WriterUser(ItemUser):
    """Reads and writes items half and half."""


Shape = selected_shape()
