"""Speed checks of the suite itself: what a cache hit costs next to constant bytes
(``python -m cachebench.perf``, ``make perf``) and how fast the simulator runs (``make sim-speed``)."""
