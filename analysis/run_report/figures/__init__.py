"""One matplotlib figure per question, for one comparison group (scenario × settings variant × mode).

Every function takes the tidy frames of ``analysis.results_frames`` and returns a ``Figure`` (nothing is
shown or saved here; ``analysis.rendering.to_png`` encodes one). Each strategy keeps its colour in
every figure (``style``); flagged measurements (generator-bound, incomplete, failed, erroring) are
drawn hatched or dashed and named in the legend, never blended in silently. The figures are
grouped by question: ``latency``, ``rates``, ``over_time``, ``browser_caches``.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from analysis.run_report.figures.browser_caches import browser
from analysis.run_report.figures.latency import latency_by_outcome, latency_spectrum
from analysis.run_report.figures.over_time import memory, timeseries
from analysis.run_report.figures.rates import cache_effect, throughput
from analysis.run_report.figures.style import select


def group_figures(
    spectrum: pd.DataFrame,
    wide: pd.DataFrame,
    cells: pd.DataFrame,
    series: pd.DataFrame,
    browser_frame: pd.DataFrame,
    scenario: str,
    variant: str,
    mode: str,
) -> list[tuple[str, str, Figure]]:
    """Every figure of one group as (slug, caption, figure), browser only where there is data."""
    made: list[tuple[str, str, Figure]] = [
        ("latency", "Latency percentile spectrum", latency_spectrum(spectrum, scenario, variant, mode)),
        (
            "latency-outcome",
            "Latency by cache outcome",
            latency_by_outcome(spectrum, scenario, variant, mode),
        ),
        ("throughput", "Throughput and saturation", throughput(wide, cells, scenario, variant, mode)),
        ("cache", "Hit ratio and origin load", cache_effect(wide, scenario, variant, mode)),
        ("memory", "Memory", memory(wide, series, scenario, variant, mode)),
        ("timeseries", "Over the run", timeseries(series, scenario, variant, mode)),
    ]
    if not select(browser_frame, scenario, variant, mode).empty:
        made.append(("browser", "Browser caches", browser(browser_frame, scenario, variant, mode)))
    return made
