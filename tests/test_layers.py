"""The layout holds: import-linter's contracts (pyproject.toml), no import cycle, one name per module, a
docstring per module.

A long module is a prompt to look, not a failure: it draws a ``LongModuleWarning``.
"""

from __future__ import annotations

import graphlib
import subprocess
import sys
import warnings
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cachebench", "targets", "scenarios", "analysis")
#: Past this many lines a module draws a LongModuleWarning: a reason to look at it, not a limit.
MAX_MODULE_LINES = 400


class LongModuleWarning(UserWarning):
    """A module longer than MAX_MODULE_LINES: split it if a second idea has emerged in it."""


def test_import_linter_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    # graphlib names one cycle when there is any; grimp counts imports inside functions too.
    sorter = graphlib.TopologicalSorter(
        {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


@pytest.mark.parametrize("folder", [*PACKAGES, "tests"])
def test_every_module_says_what_it_is_for_and_long_ones_are_flagged(folder):
    for path in sorted((ROOT / folder).rglob("*.py")):
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            warnings.warn(
                f"{path.relative_to(ROOT)} has {lines} lines: if an idea of its own has emerged in it, "
                "split the module along that idea; never split only to pass a line count",
                LongModuleWarning,
                stacklevel=1,
            )
        if text.strip():
            assert text.lstrip().startswith(('"""', "#")), f"{path.relative_to(ROOT)} has no docstring"


def test_no_two_modules_or_packages_share_a_name():
    """One name, one thing: a reader who meets ``steady_state`` or ``faults`` knows which is meant.
    (``__init__`` and ``__main__`` are Python's own names.)"""
    seen: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if "__pycache__" in path.parts or path.stem in ("__init__", "__main__"):
                continue
            if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists()):
                seen.setdefault(path.stem, []).append(path.relative_to(ROOT).as_posix())
    shared = {name: places for name, places in seen.items() if len(places) > 1}
    assert not shared, shared
