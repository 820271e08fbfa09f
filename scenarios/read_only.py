"""read_only — YCSB workload C: 100% reads, Zipf(0.99) key popularity.

Question: the best case for every cache — what is the latency of an L1 hit against a Redis
hit against the origin, and how many requests per second does each strategy serve, when
nothing is ever invalidated?

    locust -f scenarios/read_only.py --host http://127.0.0.1:8000
"""

from locust import events

from cachebench.load.shapes import selected_shape
from scenarios._common import ItemUser, add_common_arguments


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    add_common_arguments(parser, distribution="zipf", zipf_alpha=0.99, write_ratio=0.0)


class ReaderUser(ItemUser):
    """Reads items drawn from the workload; never writes."""


Shape = selected_shape()
