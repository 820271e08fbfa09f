"""Adding a target is one module plus one row of ``targets.TARGETS``: nothing else needs to change."""

from __future__ import annotations

import textwrap

import pytest

import targets
from cachebench.cli.main import main as cli_main
from cachebench.results import SUMMARY_FILE, cell_dir, read_manifest, read_summary
from cachebench.run.driver import run_bench
from cachebench.run.matrix import load_matrix

#: A strategy the product does not ship: L1 bounded to 50 entries, in a module of its own.
EXTRA_TARGET = '''
    """L1 of 50 entries: a target that exists only for this test."""

    from contextlib import asynccontextmanager

    from cachebench.serve.app import create_app
    from cachebench.serve.backends.l1_backend import L1Backend
    from cachebench.serve.layered import LayeredCache


    @asynccontextmanager
    async def small_l1_cache(settings):
        yield LayeredCache([(L1Backend(50, None), settings.l1_ttl_s)], settings)


    app = create_app("l1-small", small_l1_cache)
'''


@pytest.fixture
def extra_target(tmp_path, monkeypatch):
    """The module in a folder of its own, importable by the uvicorn child, and its one table row."""
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "l1_small_target.py").write_text(textwrap.dedent(EXTRA_TARGET))
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", str(folder))
    row = targets.Target("l1-small", "l1_small_target", layers=("l1",))
    monkeypatch.setitem(targets.TARGETS, row.name, row)
    return row


def test_the_table_names_every_shipped_module_and_its_layers():
    for row in targets.TARGETS.values():
        assert row.module.startswith("targets."), row
        assert row.caches == bool(row.layers)
    assert targets.default_targets() == ["nocache", "l1", "redis", "hierarchical", "client-headers"]
    assert [name for name, row in targets.TARGETS.items() if row.needs_redis] == [
        "redis", "hierarchical", "fastapi-cache2-redis", "cashews-redis", "aiocache-redis",
    ]  # fmt: skip
    assert targets.library_targets() == [
        "fastapi-cache2", "fastapi-cache2-redis", "cashews", "cashews-redis", "aiocache", "aiocache-redis",
    ]  # fmt: skip
    for name in targets.library_targets():
        assert targets.TARGETS[name].layers == (name,)  # Cache-Status names the library
    with pytest.raises(ValueError, match="unknown target 'nosuch'; choose from nocache, l1"):
        targets.find_target("nosuch")


def test_an_added_target_passes_verify_through_the_cli(extra_target, capsys):
    assert cli_main(["verify", extra_target.name]) == 0
    out = capsys.readouterr()
    assert "l1-small" in out.out + out.err
    assert "0 failed" in out.out + out.err


def test_an_added_target_runs_and_is_reported(extra_target, tmp_path, capsys):
    matrix = load_matrix(
        None,
        {
            "targets": ["nocache", extra_target.name], "duration_s": 2, "warmup_s": 0.5, "label": "extra",
            "settings": {"fast": {"origin_latency_ms": 2}},
        },
    )  # fmt: skip
    run_dir = run_bench(matrix, results_root=tmp_path / "results")

    manifest = read_manifest(run_dir)
    assert [(c.target, c.status) for c in manifest.cells] == [
        ("nocache", "complete"),
        ("l1-small", "complete"),
    ]
    summary = read_summary(cell_dir(run_dir, manifest.cells[1].name) / SUMMARY_FILE)
    assert summary.headline.hit_ratio_by_layer["l1"] > 0

    assert cli_main(["report", str(run_dir)]) == 0
    report = (run_dir / "report.html").read_text()
    assert "l1-small" in report
