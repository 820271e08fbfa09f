"""The report of a sweep (``cachebench sweep``: ``sweep_page``): its constraints, Pareto front and
recommendation, and its figures."""
