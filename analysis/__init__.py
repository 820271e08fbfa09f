"""Turn cachebench results folders into answers: which strategy wins, by how much, how sure.

What both reports share, at the top:

- ``analysis.results_frames``: results folders → tidy pandas DataFrames (cells, metrics, per-second
  time series, browser-cache counts), refusing manifests it cannot read; one cell's numbers come
  from ``analysis.cell_metrics``, its seconds from ``analysis.cell_series``, latency from the HDR
  histograms (``analysis.hdr``), latency spectra from ``analysis.spectrum``.
- ``analysis.stats``: bootstrap confidence intervals for ratios of means over repetitions.
- ``analysis.analytic_hit_ratio``: analytic steady-state hit ratios (LRU, TTL, TTL with writes).
- ``analysis.rendering``: PNG figures, the self-contained HTML page, its tables.

``analysis.run_report``: the report of one run (``cachebench report``) and ``compare``.

- ``run_page``: the self-contained HTML report and the Markdown summary of one run.
- ``question``: the question a run answers and what bounds it, in words.
- ``tables``: the headline comparison against ``nocache`` and its answer in words;
  ``cells_table``: every cell with its status, verdict and flag.
- ``figures``: one matplotlib figure per question (``browser_caches``, ``latency``, ``over_time``,
  ``rates``, sharing ``style``).
- ``capacity_section``, ``fault_section``, ``soak``: the sections of capacity searches, fault
  cells and soak runs; ``analytic_check``: measured hit ratios against the analytic ones.
- ``compare``: a regression report between two runs (``cachebench compare``).

``analysis.sweep_report``: the report of a sweep (``cachebench sweep``).

- ``point_rows``: a sweep's points as flat rows (tables, heatmaps, curves, the front, ``sweep.csv``,
  the live-against-simulated table), built from its records only.
- ``constraints``, ``pareto``: a sweep's constraints and Pareto front; ``sweep_verdict``: the
  recommendation over its points (candidates, front, verdict).
- ``sweep_page``: the sweep's HTML report, Markdown summary and console table.
- ``sweep_figures`` (heatmaps, the front), ``curve_figures`` (hit ratio by size, staleness by TTL)
  and ``sweep_horizons`` (which horizon each figure is for); ``trace_report``: an access log's sweep.

The same functions serve ``cachebench report``/``compare``/``sweep``, the tests and
``analysis/compare.ipynb``.
"""
