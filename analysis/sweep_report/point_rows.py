"""A sweep's points as flat rows, built here and only here from the records (``SweepPoint``): one
dict per point, keyed by setting and figure names, for the tables, heatmaps, curves, the Pareto
front, the constraints and ``sweep.csv``; and the live points set against their simulation.
"""

from __future__ import annotations

from typing import Any

from cachebench.results import rows_csv
from cachebench.results.sweep_record import PhaseTiming, SimulatedAs, SweepDefinition, SweepPoint

#: Settings every row reports, varied or not (the axes follow).
REPORTED_SETTINGS = ("l1_ttl_s", "l1_max_entries", "redis_ttl_s", "invalidation")
#: The cache layers whose hit ratio has a column of its own (``<layer>_hit_ratio``).
LAYERS = ("l1", "redis")
#: The metrics a live point is checked on against its simulation, each as ``live_``, ``sim_`` and
#: ``_error_pp`` columns.
CHECKED_METRICS = ("l1_hit_ratio", "redis_hit_ratio", "hit_ratio", "stale_read_ratio")
_NESTED = {"axes", "settings", "hit_ratio_by_layer", "simulated_as"}
_IDENTITY = ("id", "source", "horizon", "cell", "status")


def setting_text(value: Any) -> str:
    """How a setting's value reads in a point's id and in the verdict: ``5``, ``0.5``, ``on``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _layer_ratios(hit_ratio_by_layer: dict[str, float | None]) -> dict[str, float | None]:
    return {f"{layer}_hit_ratio": hit_ratio_by_layer.get(layer) for layer in LAYERS}


def _simulated_figures(simulated: SimulatedAs | None) -> dict[str, Any]:
    """The simulation of a live point on its own horizon, as ``sim_`` columns (None elsewhere)."""
    timing: dict[str, Any] = {name: None for name in PhaseTiming.model_fields if name != "source"}
    figures: dict[str, Any] = {"hit_ratio": None, **_layer_ratios({}), "stale_read_ratio": None}
    if simulated is not None:
        timing = simulated.timing.model_dump(exclude={"source"})
        figures = {
            "hit_ratio": simulated.hit_ratio,
            **_layer_ratios(simulated.hit_ratio_by_layer),
            "stale_read_ratio": simulated.stale_read_ratio,
        }
    return {f"sim_{name}": value for name, value in {**timing, **figures}.items()}


def point_row(point: SweepPoint, spec: SweepDefinition) -> dict[str, Any]:
    """The point as one flat row: who it is, its reported settings and axes, then its figures."""
    figures = point.model_dump(exclude=_NESTED)
    row = {name: figures.pop(name) for name in _IDENTITY}
    row.update(
        target=point.settings.strategy,
        scenario="trace" if spec.trace else spec.scenario,
        workers=spec.workers,
    )
    row.update({name: getattr(point.settings, name) for name in REPORTED_SETTINGS})
    row.update(point.axes)  # as the sweep file gives them (5, not 5.0)
    row["hit_ratio"] = figures.pop("hit_ratio")
    row.update(_layer_ratios(point.hit_ratio_by_layer))
    row.update(figures)
    row.update(_simulated_figures(point.simulated_as))
    return row


def point_rows(points: list[SweepPoint], spec: SweepDefinition) -> list[dict[str, Any]]:
    return [point_row(point, spec) for point in points]


def points_csv(points: list[SweepPoint], spec: SweepDefinition) -> str:
    """``sweep.csv``: one row per point."""
    return rows_csv(point_rows(points, spec), "id")


def validation_rows(points: list[SweepPoint], spec: SweepDefinition) -> list[dict[str, Any]]:
    """Each live point simulated on its own horizon against its measurement (error = simulated −
    live, in points)."""
    rows = []
    for point in points:
        if point.simulated_as is None:
            continue
        live = point_row(point, spec)
        row: dict[str, Any] = {"id": point.id}
        for metric in CHECKED_METRICS:
            measured, simulated = live[metric], live[f"sim_{metric}"]
            row[f"live_{metric}"], row[f"sim_{metric}"] = measured, simulated
            row[f"{metric}_error_pp"] = (
                None if None in (measured, simulated) else (simulated - measured) * 100
            )
        rows.append(row)
    return rows
