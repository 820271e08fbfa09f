"""The workload a scenario's users draw from, read from its source (Locust is not imported)."""

from __future__ import annotations

import ast
from typing import Any

from cachebench.load.workload import WorkloadError, WorkloadSpec
from cachebench.run.matrix import SCENARIOS_DIR


def workload_of_scenario(scenario: str, options: dict[str, Any], seed: int) -> WorkloadSpec:
    """The WorkloadSpec a scenario's users draw from: its ``add_common_arguments`` defaults (read
    from the source, so Locust is not imported), then the run's options and seed. ValueError
    (naming the scenario) for one that is not an item workload."""
    path = SCENARIOS_DIR / f"{scenario}.py"
    tree = ast.parse(path.read_text())
    users = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == "ItemUser" for b in node.bases)
    ]
    if not users:
        raise ValueError(
            f"scenario {scenario!r} is not an item workload (no ItemUser): it cannot be simulated"
        )
    defaults: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "add_common_arguments":
            defaults = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    fields = set(WorkloadSpec.__dataclass_fields__)
    values = {k: v for k, v in defaults.items() if k in fields}
    values.update({k.replace("-", "_"): v for k, v in options.items() if k.replace("-", "_") in fields})
    values.setdefault("seed", seed)
    try:
        return WorkloadSpec(**values)
    except (WorkloadError, TypeError) as exc:
        raise ValueError(f"scenario {scenario!r}: {exc}") from None
