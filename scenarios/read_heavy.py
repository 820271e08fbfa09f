"""read_heavy — YCSB workload B: 95% reads, 5% writes, Zipf(0.99) key popularity.

Question: with most traffic on a few hot items and an occasional write, how much read latency
and origin load does each caching strategy take off, and what do the writes (invalidations)
cost in hit ratio? Capacity run: ``--rate 0`` and enough users; latency run: ``--rate N``.

    locust -f scenarios/read_heavy.py --host http://127.0.0.1:8000
"""

from locust import events

from cachebench.load.shapes import selected_shape
from scenarios._common import ItemUser, add_common_arguments


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    add_common_arguments(parser, distribution="zipf", zipf_alpha=0.99, write_ratio=0.05)


class ReaderUser(ItemUser):
    """Reads (95%) and writes (5%) items drawn from the workload."""


Shape = selected_shape()
