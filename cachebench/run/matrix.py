"""The benchmark matrix: a TOML bench file, overridden by CLI flags, expanded into cells.

A cell is one target × scenario × settings variant × load mode × repetition. Everything a cell
needs to be reproduced is in its ``CellSpec`` (``cachebench.results``: ``cell.json`` and the
manifest).
"""

from __future__ import annotations

import ast
import functools
import itertools
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cachebench.arg_types import is_loopback_url
from cachebench.results import PROJECT_ROOT, CellSpec, FaultSpec, SearchSpec
from cachebench.run.faults.fault_schedule import check_schedule
from cachebench.run.processes.children import plan_cpus
from cachebench.settings import Settings, load_settings
from targets import default_targets, find_target

#: The target name of cells run with ``--url`` against a service cachebench did not start.
EXTERNAL_TARGET = "external"
SCENARIOS_DIR = PROJECT_ROOT / "scenarios"
BENCH_DIR = PROJECT_ROOT / "bench"


class BenchFileError(ValueError):
    """A bench file or flag that cannot describe a matrix; the message names the bad value."""


def available_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.py") if not p.stem.startswith("_"))


#: A capacity search step's unrecorded seconds at its rate, unless the mode says otherwise.
SEARCH_LEAD_IN_S = 3.0


class LoadMode(BaseModel):
    """How a cell loads its target.

    - ``fixed_rate``: open loop at ``offered_rate_per_s``; latency from each request's intended
      send time.
    - ``slo``: the highest rate served with p99 within the matrix's ``slo_p99_ms`` (open-loop
      steps, ``capacity_search``), from ``offered_rate_per_s`` (the first step) up to
      ``max_rate_per_s``.
    - ``capacity``: closed loop, as fast as ``users`` go: throughput at that concurrency (Little's
      law), not the capacity of the target; an explicit choice, out of the default matrix.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["capacity", "fixed_rate", "slo"]
    users: int = Field(32, ge=1, le=5000)
    #: The rate asked of the load generator (``rate_per_s``, its name before 2026-12, still reads).
    offered_rate_per_s: float = Field(
        0.0, ge=0, le=100_000, validation_alias=AliasChoices("offered_rate_per_s", "rate_per_s")
    )
    max_rate_per_s: float = Field(20_000.0, gt=0, le=100_000)
    #: Seconds each step of a capacity search offers its rate, measured ...
    step_s: float = Field(3.0, ge=1, le=60)
    #: ... after this many seconds at that rate unrecorded: Locust's start (every user opening
    #: its connection at once) and the caches adapting to the new rate (entries absent at the
    #: old rate all miss in the first seconds) are not the rate's steady state. Unset: 3 s for a
    #: search's steps, none for a fixed rate, where ``duration_s`` is then recorded after it.
    lead_in_s: float | None = Field(None, ge=0, le=60)
    max_steps: int = Field(10, ge=1, le=30)

    @property
    def name(self) -> str:
        return {"capacity": "capacity", "slo": "slo"}.get(self.kind, f"rate{self.offered_rate_per_s:g}")

    @model_validator(mode="after")
    def _search_has_a_start(self) -> LoadMode:
        if self.kind == "slo" and not 0 < self.offered_rate_per_s <= self.max_rate_per_s:
            raise ValueError(
                f"slo: offered_rate_per_s (the first step, {self.offered_rate_per_s:g}) must be > 0 "
                "and <= max_rate_per_s"
            )
        return self


class Matrix(BaseModel):
    """What a bench file holds; see ``bench/default.toml`` for a commented example."""

    model_config = ConfigDict(extra="forbid")
    label: str = Field("bench", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    targets: list[str] = Field(default_factory=default_targets)
    scenarios: list[str] = Field(default_factory=lambda: ["read_heavy"])
    #: Named settings variants; each is a dict of Settings fields applied to every target.
    settings: dict[str, dict[str, object]] = Field(default_factory=lambda: {"default": {}})
    modes: list[LoadMode] = Field(default_factory=lambda: [LoadMode(kind="capacity")])
    repeat: int = Field(1, ge=1, le=100)
    duration_s: float = Field(20.0, gt=0, le=3600)
    #: The longest warm-up; with ``steady_state`` it ends as soon as the hit ratio has settled.
    warmup_s: float = Field(5.0, ge=0, le=600)
    #: Warm up until the caches' hit ratio settles (cachebench.run.warmup_settle); false: always
    #: warm up for warmup_s. Scenarios measured as transients on purpose always take warmup_s.
    steady_state: bool = True
    workers: int = Field(1, ge=1, le=64)
    #: Load generator processes; 0: one per CPU the generator side has (every spare CPU).
    locust_processes: int = Field(1, ge=0, le=64)
    #: The latency objective of ``slo`` modes: p99 (corrected for coordinated omission) in ms.
    slo_p99_ms: float = Field(50.0, gt=0, le=60_000)
    #: Run each target × scenario × variant's cells (repetitions and modes) on one set of
    #: processes, warmed to steady state once: warming from empty takes a TTL per cell. The
    #: repetitions then differ in load generator process and seed, not in the target's process.
    reuse_processes: bool = False
    #: Targets for a scenario when not all of ``targets`` (e.g. browser_clients: the baseline and
    #: the strategy that lets clients cache).
    scenario_targets: dict[str, list[str]] = Field(default_factory=dict)
    #: Extra Locust custom arguments for every scenario, e.g. {"zipf-alpha": 1.2}.
    scenario_options: dict[str, object] = Field(default_factory=dict)
    #: Faults injected into each cell's Redis during the measured phase (``fault_schedule``);
    #: targets without Redis run the same schedule untouched, as the baseline.
    faults: list[FaultSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _faults_fit_the_measured_phase(self) -> Matrix:
        check_schedule(self.faults, self.duration_s)
        return self

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, targets: list[str], info: ValidationInfo) -> list[str]:
        if info.context and info.context.get("external") and targets == [EXTERNAL_TARGET]:
            return targets
        for name in targets:
            find_target(name)
        return targets

    @model_validator(mode="after")
    def _scenario_targets_are_in_the_matrix(self) -> Matrix:
        for scenario, targets in self.scenario_targets.items():
            if scenario not in self.scenarios:
                raise ValueError(f"scenario_targets: {scenario!r} is not one of the matrix's scenarios")
            for name in targets:
                if name not in self.targets:
                    raise ValueError(
                        f"scenario_targets.{scenario}: {name!r} is not one of the matrix's targets"
                    )
        return self

    def targets_for(self, scenario: str) -> list[str]:
        return self.scenario_targets.get(scenario, self.targets)

    def with_load(self, users: int | None, offered_rate_per_s: float | None) -> Matrix:
        """One load mode from the CLI: fixed rate when a rate is given, else closed loop."""
        users = users or self.modes[0].users
        if offered_rate_per_s:
            mode = LoadMode(kind="fixed_rate", users=users, offered_rate_per_s=offered_rate_per_s)
        else:
            mode = LoadMode(kind="capacity", users=users)
        return self.model_copy(update={"modes": [mode]})

    @field_validator("scenarios")
    @classmethod
    def _known_scenarios(cls, scenarios: list[str]) -> list[str]:
        known = available_scenarios()
        for name in scenarios:
            if name not in known:
                raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(known)}")
        return scenarios

    @field_validator("settings")
    @classmethod
    def _valid_settings(cls, variants: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
        for variant, values in variants.items():
            for name in values:
                if name not in Settings.model_fields or name == "strategy":
                    raise ValueError(f"settings variant {variant!r}: unknown setting {name!r}")
            Settings(**values)  # raises with the field name when a value is bad
        return variants


def load_matrix(path: Path | None, overrides: dict[str, object], external_url: str | None = None) -> Matrix:
    """Read a bench file (or the defaults) and apply CLI overrides, with one clear error.

    With ``external_url`` the matrix has the single target ``external``: the service at that URL.
    """
    data: dict[str, object] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise BenchFileError(f"bench file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise BenchFileError(f"bench file {str(path)!r} is not valid TOML: {exc}") from None
    given = {k: v for k, v in overrides.items() if v is not None}
    data.update(given)
    if (
        data.get("scenario_targets")
        and "scenario_targets" not in given
        and ("targets" in given or "scenarios" in given)
    ):
        data["scenario_targets"] = _narrowed(data)
    if external_url is not None:
        if not is_loopback_url(external_url):
            raise BenchFileError(f"--url {external_url!r}: load is only sent to this machine (127.0.0.1)")
        data["targets"] = [EXTERNAL_TARGET]
    try:
        return Matrix.model_validate(data, context={"external": external_url is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise BenchFileError("; ".join(problems)) from None


def _narrowed(data: dict) -> dict[str, list[str]]:
    """A bench file's per-scenario targets within the targets and scenarios the command line
    chose: ``--targets redis`` on the default bench runs redis on read_heavy, not nothing, and
    ``--scenario read_heavy`` drops browser_clients' list rather than failing on it."""
    targets = data.get("targets") or default_targets()
    scenarios = data.get("scenarios") or Matrix.model_fields["scenarios"].default_factory()
    return {
        scenario: [t for t in chosen if t in targets] or list(targets)
        for scenario, chosen in data["scenario_targets"].items()
        if scenario in scenarios
    }


def expand(matrix: Matrix, base_seed: int = 42) -> list[CellSpec]:
    """Cells in run order. Repetitions are the outer loop, so drift over time spreads evenly; with
    ``reuse_processes`` each target's cells run together instead (fixed-rate modes first, on the
    freshly warmed target; a capacity search last, once: its steps leave the caches warmer)."""
    if matrix.reuse_processes:
        modes = sorted(matrix.modes, key=lambda m: m.kind == "slo")
        combos = [
            (repetition, scenario, variant, mode, target)
            for scenario, variant in itertools.product(matrix.scenarios, matrix.settings.items())
            for target in matrix.targets_for(scenario)
            for mode in modes
            for repetition in range(1, (1 if mode.kind == "slo" else matrix.repeat) + 1)
        ]
    else:
        combos = [
            (repetition, scenario, variant, mode, target)
            for repetition, scenario, variant, mode, target in itertools.product(
                range(1, matrix.repeat + 1),
                matrix.scenarios,
                matrix.settings.items(),
                matrix.modes,
                matrix.targets,
            )
            if target in matrix.targets_for(scenario)
        ]
    processes = matrix.locust_processes or generator_cpu_count()
    cells = []
    for index, (repetition, scenario, (variant, values), mode, target) in enumerate(combos, start=1):
        cells.append(
            CellSpec(
                index=index,
                target=target,
                scenario=scenario,
                variant=variant,
                settings=dict(values),
                resolved=load_settings(strategy=target, **values),
                mode=mode.name,
                users=mode.users,
                offered_rate_per_s=mode.offered_rate_per_s,
                repetition=repetition,
                duration_s=matrix.duration_s,
                warmup_s=matrix.warmup_s,
                workers=matrix.workers,
                locust_processes=processes,
                seed=base_seed + repetition - 1,
                scenario_options=dict(matrix.scenario_options),
                warmup=_warmup_kind(matrix, scenario),
                faults=tuple(matrix.faults),
                session=f"{scenario}-{variant}-{target}" if matrix.reuse_processes else None,
                search=_search(matrix, mode),
                lead_in_s=(mode.lead_in_s or 0.0) if mode.kind == "fixed_rate" else 0.0,
            )
        )
    return cells


def _search(matrix: Matrix, mode: LoadMode) -> SearchSpec | None:
    if mode.kind != "slo":
        return None
    return SearchSpec(
        slo_p99_ms=matrix.slo_p99_ms,
        max_rate_per_s=mode.max_rate_per_s,
        step_s=mode.step_s,
        lead_in_s=SEARCH_LEAD_IN_S if mode.lead_in_s is None else mode.lead_in_s,
        max_steps=mode.max_steps,
    )


def generator_cpu_count() -> int:
    """CPUs the load generator gets (``processes.children.plan_cpus``): one Locust process for each."""
    _, generator_cpus = plan_cpus()
    return len(generator_cpus) if generator_cpus else 1


def _warmup_kind(matrix: Matrix, scenario: str) -> str:
    if scenario_is_transient(scenario):
        return "transient"
    return "steady_state" if matrix.steady_state else "fixed"


def scenario_is_transient(scenario: str) -> bool:
    """Whether the scenario says ``MEASURED_AS_TRANSIENT = True``."""
    return _scenario_flag(scenario, "MEASURED_AS_TRANSIENT")


def clients_keep_caches(scenario: str) -> bool:
    """Whether the scenario's users keep HTTP caches (``CLIENTS_KEEP_CACHES = True``): then the
    browsers' max-age is a cache layer that must settle too."""
    return _scenario_flag(scenario, "CLIENTS_KEEP_CACHES")


@functools.cache
def _scenario_flag(scenario: str, name: str) -> bool:
    """A module-level flag of the scenario, read from its source: importing a locustfile here
    would load Locust (and gevent's patching) into the runner."""
    path = SCENARIOS_DIR / f"{scenario}.py"
    if not path.is_file():
        return False
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return bool(ast.literal_eval(node.value))
    return False
