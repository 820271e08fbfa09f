"""The targets: one short module per caching strategy, each exposing ``app`` for uvicorn.

``TARGETS`` maps strategy names (used by the CLI, the runner, results and reports) to modules.
"""

TARGETS = {
    "nocache": "targets.nocache",
    "l1": "targets.l1",
    "redis": "targets.redis_only",
    "hierarchical": "targets.hierarchical",
    "client-headers": "targets.client_headers",
}
