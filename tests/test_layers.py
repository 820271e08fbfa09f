"""The layout holds: import-linter's contracts (pyproject.toml), no import cycle, small modules."""

from __future__ import annotations

import graphlib
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cachebench", "targets", "scenarios", "analysis")
MAX_MODULE_LINES = 400


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
def test_every_module_is_small_and_says_what_it_is_for(folder):
    for path in sorted((ROOT / folder).rglob("*.py")):
        text = path.read_text()
        lines = text.count("\n")
        assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"
        if text.strip():
            assert text.lstrip().startswith(('"""', "#")), f"{path.relative_to(ROOT)} has no docstring"
