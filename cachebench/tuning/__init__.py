"""Tuning: which TTL and cache size to run. Sweeps (``sweep_run``; ``trace_sweep`` for an access log)
and the hit-ratio predictors behind them. A sweep point is made once with its settings resolved
(``sweep_spec.make_points``) and every predictor takes those ``Settings``; the records written are
``cachebench.results.sweep_record``; the front, the verdict and the report, ``analysis.sweep_report``.

Which predictor answers which question:

``simulator.simulate``: engines ``fast`` (``sim_fast``, the default) and ``layered`` (``sim_layered``,
  the project's ``LayeredCache`` itself, the reference).
  Asks: what would this target with these settings have measured on this run's own requests?
  In: a ``Trace`` (``trace.build_trace``: the scenario's users, rate, phases and seed), resolved
  ``Settings`` (the target is ``settings.strategy``), workers. Models: an L1 per worker and one
  shared Redis (ms TTLs, unbounded); entry and byte bounds, fill-time TTLs and their jitter; origin
  latency ± jitter; ttl/delete/version invalidation, hierarchical pub/sub, coalescing (fast only);
  users pinned to a worker per phase; staleness and its ages; peak entries. Not: network and
  event-loop delays, latency, throughput, the origin's pool, client caches, custom backends.
  Cost: fast ~5-20 CPU-s per million requests; layered tens of thousands of requests/s.
  Callers: a sweep's live points on their own horizon (``sweep_points.simulated_as``); the steady
  state where the one pass does not apply, and its check (``long_horizon``).
  Error: fast = layered exactly (72 configurations, tests/test_simulator.py); L1 hit ratio within
  2 pp of live cells (0.2 pp measured).

``long_horizon``: one pass per worker and invalidation kind over a long virtual horizon.
  Asks: what does each grid point hit, and how stale, at steady state? (the recommendation)
  In: the sweep's resolved points, and a trace of ≥ ``steady_state_ttls`` × the largest TTL and
  ≥ ``steady_state_requests``. Models: the l1 target without TTL jitter, coalescing or a byte bound
  (``one_pass_supported``; other points go to the fast engine): per worker, LRU stack distances and
  TTL fill chains with a fixed fill delay of ``origin_latency_ms`` (its jitter is not read);
  ``version`` as ``delete`` at half the size; stale = a hit filled before a commit; entries an upper
  bound. Cost: ~3 µs per request, shared by every point: the default 192 points over 1M requests
  in ~13 CPU-s. Caller: ``cachebench sweep``; ``check_point`` replays the recommended point through
  the fast engine for the report. Error against the fast engine: hit ratio within 1.5 pp (1.0 pp
  measured), stale-read ratio within 0.5 pp (tests/test_steady_horizon.py). Known: a read while a
  second origin read of its key is in flight counts as a miss even after the first fill landed
  (the engines count a hit), so it errs low where reads of a key come closer than the latency.

``curves.one_pass`` (with ``stack_distance`` and ``ttl_curve``, the same passes).
  Asks: for one L1 fed this stream, the hit ratio at every size, every TTL and their grid?
  In: ``curves.Requests`` of an access log (``trace_sweep``) or of a ``Trace``. Models: one
  process's ``MeteredCache``; a miss fills at once; writes delete; no workers, Redis, jitter or
  staleness. Cost: as above; keys sampled (SHARDS) above 5M requests, no replay check above 2M.
  Caller: ``cachebench sweep --trace``. Error against a replay through ``MeteredCache``: exact where
  one bound binds (≤ 0.5 pp), low by up to 1.4 pp where both do (``GRID_ERROR_PP``); sampled curves
  within their stated three standard errors; a live replay within 3 pp (0.3 measured,
  tests/test_trace_replay.py).

``analysis.analytic_hit_ratio`` (Che's LRU; fill-time TTL with deleting writes), applied by
  ``analysis.run_report.analytic_check``. Asks: is a measured L1 at the steady state theory
  predicts? In: key popularity (Zipf), read and write rates, TTL, or a capacity. Models: one L1,
  independent (Poisson) requests, a jittered TTL as its mean; size and TTL never together. Cost:
  O(keys) numpy. Caller: ``cachebench report`` (fixed-rate l1 Zipf cells whose keys all fit).
  Error: within 1 pp of ``MeteredCache`` on a fake clock (tests/test_models.py) and of live cells
  (tests/test_steady_state.py).
"""
