"""The targets: one short module per caching strategy, each exposing ``app`` for uvicorn.

``TARGETS`` is the one table of them. The CLI, the runner, verify, the simulator, sweeps and
reports all read it, so a new target is one module in this folder plus one row here.
This module imports nothing of the suite: settings, the runner and the reports all read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """One caching strategy: where its app lives and what the suite needs to know about it."""

    #: How the CLI, results folders and reports name it.
    name: str
    #: The module that exposes ``app`` (``uvicorn <module>:app``).
    module: str
    #: Its server-side cache layers, nearest the client first, as they label Cache-Status.
    layers: tuple[str, ...] = ()
    #: Cache-Control, ETag and 304 on by default (any target turns them on with client_headers).
    client_headers: bool = False
    #: The tuning simulator models it (``cachebench.tuning``).
    simulated: bool = False
    #: Workers ``cachebench verify`` starts it with: 2 where a check spans processes.
    verify_workers: int = 1
    #: Part of the default matrix (``custom`` needs a backend the user names).
    in_default_matrix: bool = True

    @property
    def needs_redis(self) -> bool:
        """Whether the suite starts a Redis for it."""
        return "redis" in self.layers

    @property
    def caches(self) -> bool:
        """Whether it caches on the server (a read can be a hit)."""
        return bool(self.layers)


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("nocache", "targets.nocache", simulated=True),
        Target("l1", "targets.l1", layers=("l1",), simulated=True),
        Target("redis", "targets.redis_only", layers=("redis",), simulated=True),
        Target(
            "hierarchical", "targets.hierarchical", layers=("l1", "redis"), simulated=True, verify_workers=2
        ),
        Target("client-headers", "targets.client_headers", client_headers=True),
        # One layer, the user's backend class, which labels Cache-Status with its own ``name``.
        Target("custom", "targets.custom", layers=("backend",), in_default_matrix=False),
    )
}


def find_target(name: str) -> Target:
    """The row named ``name``, or a ValueError that lists the names there are."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}") from None


def default_targets() -> list[str]:
    """The targets a matrix runs when it names none, in the table's order."""
    return [name for name, row in TARGETS.items() if row.in_default_matrix]


def target_order() -> list[str]:
    """Every target's name in the table's order: how reports sort strategies."""
    return list(TARGETS)
