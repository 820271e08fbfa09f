"""A session: the processes consecutive cells of one target share, and what runs beside them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from cachebench.results import CellSpec, IdleCpu, WarmupRecord
from cachebench.run.keep_warm import KeepWarm
from cachebench.run.processes.launcher import ExternalTarget, TargetProcess
from cachebench.run.processes.redis_server import RedisServer


@dataclass
class Session:
    """The processes a session's cells share: Redis (when the target needs it) and the target."""

    target: TargetProcess | ExternalTarget
    redis_server: RedisServer | None = None
    proxy: object = None
    warmup: WarmupRecord | None = None
    #: CPU the target and Redis use with no load but the same sampling (``target_state.idle_cpu``).
    idle_cpu: IdleCpu | None = None
    #: Reads between measured phases (``keep_warm``), for a caching target at a fixed rate.
    keeper: KeepWarm | None = None

    def keep_warm(self) -> None:
        if self.keeper is not None:
            self.keeper.start()

    def hand_over(self) -> float | None:
        """Called as the next load generator starts: the keep-warm stops once Locust sends; the
        seconds that took (None without a keep-warm)."""
        if self.keeper is None:
            return None
        return round(self.keeper.stop_once_overtaken(), 3)


def sessions(cells: list[CellSpec]) -> Iterator[list[CellSpec]]:
    """Consecutive cells with one session key share processes; a cell without one runs alone."""
    for _, group in itertools.groupby(cells, key=lambda c: c.session or f"cell-{c.index}"):
        yield list(group)
