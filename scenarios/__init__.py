"""Locustfiles, one per question; each also runs by hand: ``locust -f scenarios/<name>.py --host URL``.

Modules starting with ``_`` are shared helpers, not scenarios.
"""
