"""analysis/compare.ipynb executes top to bottom on the fixture run, so it never rots.

Run headless with nbclient and the venv's own ``python3`` kernel (ipykernel); the notebook
reads the run named by ``CACHEBENCH_RUN``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from fixture_run import FIXTURE_RUN
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "analysis" / "compare.ipynb"
CELL_TIMEOUT_S = 120


def test_notebook_executes_on_the_fixture_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CACHEBENCH_RUN", str(FIXTURE_RUN))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, if any cell fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 8  # six figures for the first group, and two browser figures
    text = "".join(o.get("text", "") for o in outputs)
    assert f"{FIXTURE_RUN.name}: complete, 24 cells" in text
    assert not list(tmp_path.iterdir())  # the notebook writes nothing
