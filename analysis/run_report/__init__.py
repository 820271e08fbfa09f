"""The report of one run (``cachebench report``: ``run_page``), its sections, tables and figures, and
``compare``, the regression report between two runs."""
