"""``samples.csv``: one row a second while a cell is measured (``cachebench.run.sampling``).

The fixed columns are ``SampleRow``'s fields; each cache layer adds ``LayerSample``'s figures
as columns named ``<layer>_<figure>`` (``layer_column``: ``redis_errors_per_s``). A column some
rows lack (no ``/metrics`` that second, a target without L1) is a field with a default, and the
file has it when any row has it. Rows travel as dicts keyed by column, the shape
``csv.DictReader`` gives back; the code names columns by ``SAMPLE`` and ``LAYER``
(``SAMPLE.unix_s``, ``layer_column("redis", LAYER.errors_per_s)``), never by a literal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cachebench.results.csv_row import Columns, CsvRow
from cachebench.results.folder import csv_text
from cachebench.results.record import Part


class LayerSample(Part):
    """One cache layer's figures over one second, each a column ``<layer>_<figure>``."""

    #: Hits ÷ (hits + misses); empty: no lookups that second.
    hit_ratio: float | None = None
    #: Lookups the layer answered.
    hits_per_s: float | None = None
    #: Failed calls (a timeout or a refusal), made for a request or in the background.
    errors_per_s: float | None = None
    #: Calls skipped: the breaker open, an invalidation gap, the layer settling.
    bypasses_per_s: float | None = None
    #: Timeouts requests waited for with the breaker open (targets that count cache timeouts).
    open_timeouts_per_s: float | None = None
    #: Workers whose breaker for the layer is open, at the end of the second.
    circuit_open_workers: float | None = None


class SampleRow(CsvRow):
    """One second of a measured cell: the fixed columns of ``samples.csv``, in the file's order."""

    #: Seconds since the sampler started, at the end of the second the row covers.
    t_s: float
    #: Wall time of the row (Unix seconds); it covers the second before.
    unix_s: float
    #: Requests the target served, every route (``/metrics`` scrapes included).
    requests_per_s: float | None
    #: Reads of the origin.
    origin_reads_per_s: float | None
    #: Writes to the origin.
    origin_writes_per_s: float | None = None
    #: Mean wait for a free origin connection per origin operation (most wait nothing).
    origin_queue_ms_mean: float | None = None
    #: Origin pool connections in use on average, all workers.
    origin_connections_in_use: float | None = None
    #: 5xx answers the target sent.
    server_5xx_per_s: float | None = None
    #: Entries held in L1, all workers.
    l1_entries: float | None = None
    #: Value bytes held in L1, all workers.
    l1_bytes: float | None = None
    #: RSS of the target's processes together ...
    target_rss_bytes: int
    #: ... of the largest of them (a worker: a supervisor holds no cache) ...
    target_rss_max_process_bytes: int | None
    #: ... and how many there are.
    target_processes: int
    #: Redis's ``used_memory``; empty without Redis.
    redis_used_memory_bytes: int | None
    #: Redis's RSS.
    redis_rss_bytes: int | None
    #: Keys Redis held.
    redis_keys: int | None
    #: CPU of the target's processes, in % of one core (as every ``*_cpu_percent``).
    target_cpu_percent: float
    #: CPU of the load generator's processes.
    generator_cpu_percent: float
    #: CPU of the Redis server; empty without one.
    redis_cpu_percent: float | None
    #: CPU other work on the machine took; empty unless every process of the benchmark is ours.
    other_cpu_percent: float | None
    #: CPU nobody used.
    idle_cpu_percent: float | None

    @classmethod
    def is_column(cls, name: str) -> bool:
        return name in cls.model_fields or split_layer_column(name) is not None

    @classmethod
    def row_schema(cls) -> dict[str, Any]:
        """As a ``CsvRow``'s, with every layer's figures as the columns ``<layer>_<figure>``."""
        schema = super().row_schema()
        figures = LayerSample.model_json_schema(mode="serialization")["properties"]
        schema["patternProperties"] = {f"^.+_{figure}$": spec for figure, spec in figures.items()}
        return schema


SAMPLE = Columns(SampleRow)
LAYER = Columns(LayerSample)

#: Where each layer's columns go among the fixed ones: after the fixed column named, each group's
#: figures for every layer in turn, layers by name. The hit ratios come with the origin's figures
#: (one difference of /metrics), the calls with the 5xx rate, the breakers after every layer's
#: calls: the order the files had when it was the order the sampler made the columns in.
_LAYER_GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    SAMPLE.origin_connections_in_use: ((LAYER.hit_ratio,),),
    SAMPLE.server_5xx_per_s: (
        (LAYER.hits_per_s, LAYER.errors_per_s, LAYER.bypasses_per_s, LAYER.open_timeouts_per_s),
        (LAYER.circuit_open_workers,),
    ),
}


def layer_column(layer: str, figure: str) -> str:
    """The column of one layer's figure: ``<layer>_<figure>``, ``figure`` a ``LayerSample`` field."""
    if figure not in LayerSample.model_fields:
        raise ValueError(f"{figure!r} is not a figure of LayerSample")
    return f"{layer}_{figure}"


def split_layer_column(column: str) -> tuple[str, str] | None:
    """``(layer, figure)`` of a per-layer column; None for a fixed column or a name that is neither."""
    if column in SampleRow.model_fields:
        return None
    for figure in LayerSample.model_fields:
        layer = column.removesuffix(f"_{figure}")
        if layer and layer != column:
            return layer, figure
    return None


def by_layer(row: dict[str, Any], figure: str) -> dict[str, Any]:
    """One figure of every layer a row has it for: ``{layer: value}``."""
    return {
        split[0]: value
        for column, value in row.items()
        if (split := split_layer_column(column)) is not None and split[1] == figure
    }


def samples_header(present: Iterable[str]) -> list[str]:
    """The columns ``present`` (every one some row has) in the file's order; ValueError names a
    column ``samples.csv`` does not have."""
    present = set(present)
    unknown = sorted(name for name in present if not SampleRow.is_column(name))
    if unknown:
        raise ValueError(f"not columns of samples.csv: {', '.join(unknown)}")
    layers = sorted({split[0] for name in present if (split := split_layer_column(name))})
    order = []
    for column in SampleRow.columns():
        order.append(column)
        for figures in _LAYER_GROUPS.get(column, ()):
            order += [layer_column(layer, figure) for layer in layers for figure in figures]
    return [column for column in order if column in present]


def samples_csv(rows: list[dict[str, Any]]) -> str:
    """The text of ``samples.csv``: every column some row has, in the order ``samples_header``
    gives (a file without rows has the first column alone)."""
    columns = samples_header(column for row in rows for column in row)
    return csv_text(columns or [SampleRow.columns()[0]], rows)
