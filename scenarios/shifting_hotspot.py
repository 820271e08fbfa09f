"""shifting_hotspot — 90% of reads on 1% of the items, and that hot set moves every T seconds.

Question: how fast does each cache adapt when the working set changes? Each shift makes the new
hot items cold everywhere at once: the per-second timeline in latency.json (``miss``,
``l1_hit``, ``redis_hit`` per second) shows the hit ratio dropping at each shift and how many
seconds it takes to recover. ``--hotspot-shift-s`` sets T (default 10 s; run for several T).

    locust -f scenarios/shifting_hotspot.py --host http://127.0.0.1:8000 --hotspot-shift-s 10
"""

from locust import events

from cachebench.load.shapes import selected_shape
from scenarios._common import ItemUser, add_common_arguments

#: Measured as a transient on purpose (how fast each cache follows a moving hot set):
#: the runner warms it up for the bench file's warmup_s, not until the hit ratio is steady.
MEASURED_AS_TRANSIENT = True


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    add_common_arguments(
        parser,
        distribution="hotspot",
        hot_keys_fraction=0.01,
        hot_traffic_fraction=0.9,
        hotspot_shift_s=10.0,
        write_ratio=0.0,
    )


class ReaderUser(ItemUser):
    """Reads items; the workload moves the hot set every --hotspot-shift-s seconds."""


Shape = selected_shape()
