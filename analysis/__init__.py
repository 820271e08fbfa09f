"""Turn cachebench results folders into answers: which strategy wins, by how much, how sure.

- ``analysis.load``: results folders → tidy pandas DataFrames (cells, metrics, latency spectra,
  per-second time series, browser-cache counts), refusing manifests it cannot read.
- ``analysis.stats``: bootstrap confidence intervals for ratios of means over repetitions.
- ``analysis.figures``: one matplotlib figure per question.
- ``analysis.report``: the self-contained HTML report and the Markdown summary of one run.
- ``analysis.compare``: a regression report between two runs.

The same functions serve ``cachebench report``/``compare``, the tests and ``analysis/compare.ipynb``.
"""
