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
    #: A cache library's target: the package it imports, and the extra that installs it.
    library: str | None = None
    extra: str | None = None
    #: The library talks to the suite's Redis itself (no layer of ours is named ``redis``).
    library_redis: bool = False
    #: The library's own hit/miss header, which verify checks against Cache-Status.
    library_header: str | None = None
    #: (verify check name, reason): checks verify reports as a documented skip instead of running.
    verify_skips: tuple[tuple[str, str], ...] = ()

    @property
    def needs_redis(self) -> bool:
        """Whether the suite starts a Redis for it."""
        return "redis" in self.layers or self.library_redis

    @property
    def caches(self) -> bool:
        """Whether it caches on the server (a read can be a hit)."""
        return bool(self.layers)


#: Why verify skips the cross-process check of a library's in-memory cache.
PER_WORKER_SKIP = (
    "cross-process invalidation",
    "the library's memory cache is per worker: a PUT invalidates only the worker that served it,"
    " the others serve the old version until the TTL",
)


def _library(
    name: str, module: str, package: str, *, redis: bool = False, header: str | None = None
) -> Target:
    """A cache library's target: labelled with its own name, outside the default matrix.

    Its Redis variants run verify with two workers, to show a write reaching both; its
    in-memory ones cannot, which verify reports as a documented skip.
    """
    return Target(
        name,
        f"targets.{module}",
        layers=(name,),
        verify_workers=2 if redis else 1,
        in_default_matrix=False,
        library=package,
        extra="peers",
        library_redis=redis,
        library_header=header,
        verify_skips=() if redis else (PER_WORKER_SKIP,),
    )


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
        # The libraries users pick, each as its README shows it, on the same contract and origin.
        _library("fastapi-cache2", "peer_fastapi_cache2", "fastapi_cache", header="X-FastAPI-Cache"),
        _library(
            "fastapi-cache2-redis",
            "peer_fastapi_cache2_redis",
            "fastapi_cache",
            redis=True,
            header="X-FastAPI-Cache",
        ),
        _library("cashews", "peer_cashews", "cashews"),
        _library("cashews-redis", "peer_cashews_redis", "cashews", redis=True),
        _library("aiocache", "peer_aiocache", "aiocache"),
        _library("aiocache-redis", "peer_aiocache_redis", "aiocache", redis=True),
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


def library_targets() -> list[str]:
    """The cache libraries' targets, in the table's order."""
    return [name for name, row in TARGETS.items() if row.library is not None]


def target_order() -> list[str]:
    """Every target's name in the table's order: how reports sort strategies."""
    return list(TARGETS)
