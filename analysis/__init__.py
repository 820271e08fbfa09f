"""Turn cachebench results folders into answers: which strategy wins, by how much, how sure.

- ``analysis.results_frames``: results folders → tidy pandas DataFrames (cells, metrics, per-second time
  series, browser-cache counts), refusing manifests it cannot read; one cell's numbers come from
  ``analysis.cell_metrics``, its seconds from ``analysis.cell_series``, latency from the HDR
  histograms (``analysis.hdr``), latency spectra from ``analysis.spectrum``.
- ``analysis.stats``: bootstrap confidence intervals for ratios of means over repetitions.
- ``analysis.tables``: the headline comparison against ``nocache`` and its answer in words.
- ``analysis.figures``: one matplotlib figure per question.
- ``analysis.report``: the self-contained HTML report and the Markdown summary of one run.
- ``analysis.compare``: a regression report between two runs.
- ``analysis.constraints``, ``analysis.pareto``: a sweep's constraints, Pareto front and
  recommendation; ``analysis.sweep_figures`` and ``analysis.sweep_report`` draw and write its report.
- ``analysis.rendering``: what both reports share (PNG figures, the HTML page, its tables).

The same functions serve ``cachebench report``/``compare``/``sweep``, the tests and
``analysis/compare.ipynb``.
"""
