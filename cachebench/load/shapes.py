"""Load shapes (Locust ``LoadTestShape`` classes): steady, step ramp and spike.

Choosing one: Locust runs the shape class it finds in the locustfile, so every scenario binds
``Shape = selected_shape()``, which is None (plain ``-u``/``-r``/``--run-time``) unless the
environment variable ``CACHEBENCH_SHAPE`` names a shape:

    CACHEBENCH_SHAPE=step CACHEBENCH_SHAPE_STEP_USERS=20 locust -f scenarios/read_heavy.py ...

``CACHEBENCH_SHAPE`` is ``steady``, ``step`` or ``spike``; each parameter below (a class
attribute) can be set with ``CACHEBENCH_SHAPE_<PARAMETER>`` (e.g. ``CACHEBENCH_SHAPE_DURATION_S``).
A shape ends the test when its last stage is over (``--run-time``, if given, can end it sooner).
Every tick also tells the workers the total user count, which fixed-rate pacing divides by.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from locust import LoadTestShape

from cachebench.load.measurement import publish_total_users

ENV_SHAPE = "CACHEBENCH_SHAPE"
ENV_PARAMETER_PREFIX = "CACHEBENCH_SHAPE_"


class ShapeError(ValueError):
    """An unknown shape name or a parameter that is not a number."""


class _ConfigurableShape(LoadTestShape):
    """Parameters are the numeric class attributes listed in ``parameters``."""

    abstract = True
    parameters: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        apply_environment(self, os.environ)

    def _stage(self, run_time_s: float) -> tuple[int, float] | None:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        stage = self._stage(self.get_run_time())
        if stage is not None and self.runner is not None:
            publish_total_users(self.runner.environment, stage[0])
        return stage


def apply_environment(shape: _ConfigurableShape, environ: Mapping[str, str]) -> None:
    """Override parameters from ``CACHEBENCH_SHAPE_<PARAMETER>`` variables."""
    for name in shape.parameters:
        raw = environ.get(f"{ENV_PARAMETER_PREFIX}{name.upper()}")
        if raw is None:
            continue
        kind = type(getattr(shape, name))
        try:
            setattr(shape, name, kind(raw))
        except ValueError:
            raise ShapeError(
                f"{ENV_PARAMETER_PREFIX}{name.upper()}={raw!r} is not a {kind.__name__}"
            ) from None


class SteadyShape(_ConfigurableShape):
    """``users`` users (started at ``spawn_rate`` per second) for ``duration_s`` seconds."""

    users = 10
    spawn_rate = 10.0
    duration_s = 60.0
    parameters = ("users", "spawn_rate", "duration_s")

    def _stage(self, run_time_s: float) -> tuple[int, float] | None:
        return None if run_time_s >= self.duration_s else (self.users, self.spawn_rate)


class StepRampShape(_ConfigurableShape):
    """``start_users``, then ``step_users`` more every ``step_s`` seconds, for ``steps`` steps
    (so ``start_users + (steps - 1) * step_users`` users in the last one): where does latency bend?"""

    start_users = 10
    step_users = 10
    step_s = 15.0
    steps = 5
    spawn_rate = 50.0
    parameters = ("start_users", "step_users", "step_s", "steps", "spawn_rate")

    def _stage(self, run_time_s: float) -> tuple[int, float] | None:
        step = int(run_time_s // self.step_s)
        if step >= self.steps:
            return None
        return self.start_users + step * self.step_users, self.spawn_rate


class SpikeShape(_ConfigurableShape):
    """``base_users`` for ``before_s``, ``spike_users`` for ``spike_s`` (started as fast as
    ``spawn_rate`` allows), then ``base_users`` again for ``after_s``: how a cache absorbs a
    sudden burst and how fast latency recovers."""

    base_users = 10
    spike_users = 100
    before_s = 15.0
    spike_s = 10.0
    after_s = 15.0
    spawn_rate = 200.0
    parameters = ("base_users", "spike_users", "before_s", "spike_s", "after_s", "spawn_rate")

    def _stage(self, run_time_s: float) -> tuple[int, float] | None:
        if run_time_s < self.before_s:
            return self.base_users, self.spawn_rate
        if run_time_s < self.before_s + self.spike_s:
            return self.spike_users, self.spawn_rate
        if run_time_s < self.before_s + self.spike_s + self.after_s:
            return self.base_users, self.spawn_rate
        return None


SHAPES: dict[str, type[_ConfigurableShape]] = {
    "steady": SteadyShape,
    "step": StepRampShape,
    "spike": SpikeShape,
}


def selected_shape(environ: Mapping[str, str] | None = None) -> type[LoadTestShape] | None:
    """The shape class named by ``CACHEBENCH_SHAPE``, or None when it is unset or empty."""
    name = (os.environ if environ is None else environ).get(ENV_SHAPE, "").strip().lower()
    if not name:
        return None
    try:
        return SHAPES[name]
    except KeyError:
        raise ShapeError(f"{ENV_SHAPE}={name!r}: choose one of {', '.join(SHAPES)}") from None
