"""Every results file has one model: ``cachebench schema`` prints their JSON Schemas, a real run
folder matches them file by file, and a folder of another schema version is refused in one line."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from cachebench.cli.main import main
from cachebench.results import MANIFEST_FILE, SCHEMA_VERSION, Manifest, RecordError, read_summary
from cachebench.results.schema import RESULT_FILES, check_folder, result_file_for

FIXTURE_RUN = next(p for p in sorted((Path(__file__).parent / "fixtures" / "run").iterdir()) if p.is_dir())


@pytest.fixture(scope="module")
def printed() -> dict:
    """What ``cachebench schema`` prints, parsed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["schema"]) == 0
    return json.loads(out.getvalue())


def test_schema_prints_a_valid_json_schema_for_every_results_file(printed: dict) -> None:
    assert printed["schema_version"] == SCHEMA_VERSION
    assert list(printed["files"]) == [entry.pattern for entry in RESULT_FILES]
    for pattern, entry in printed["files"].items():
        jsonschema.Draft202012Validator.check_schema(entry["schema"])
        assert entry["description"], pattern


def test_every_json_file_of_a_real_run_matches_the_printed_schema(printed: dict) -> None:
    """Validated by jsonschema from the printed document, as a user's own tool would, not by our
    models: the schema is what users get, so it must describe the files as written."""
    checked = 0
    for path in sorted(FIXTURE_RUN.rglob("*.json")):
        relative = path.relative_to(FIXTURE_RUN).as_posix()
        if path.name == "locust_final.json":  # Locust's own statistics, in its own format
            continue
        entry = result_file_for(relative)
        assert entry is not None, f"{relative}: no model names this file"
        jsonschema.validate(json.loads(path.read_text()), printed["files"][entry.pattern]["schema"])
        checked += 1
    ours = [p.relative_to(FIXTURE_RUN).as_posix() for p in FIXTURE_RUN.rglob("*.json")]
    kinds = {result_file_for(path).pattern for path in ours if not path.endswith("locust_final.json")}
    assert {"manifest.json", "cells/<cell>/summary.json", "cells/<cell>/latency.json"} <= kinds
    assert checked >= 4 * len(Manifest.read(FIXTURE_RUN / MANIFEST_FILE).cells)
    assert check_folder(FIXTURE_RUN) == (check_folder(FIXTURE_RUN)[0], [])


def test_a_record_reads_back_as_it_was_written(tmp_path: Path) -> None:
    source = next(FIXTURE_RUN.glob("cells/*/summary.json"))
    summary = read_summary(source)
    summary.write(tmp_path / "summary.json")
    assert read_summary(tmp_path / "summary.json") == summary


def test_a_folder_of_another_schema_version_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    old = Path(shutil.copytree(FIXTURE_RUN, tmp_path / FIXTURE_RUN.name))
    manifest = json.loads((old / MANIFEST_FILE).read_text())
    manifest["schema_version"] = 1
    (old / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert main(["report", str(old)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "schema_version 1" in err and f"reads {SCHEMA_VERSION}" in err, err
    summary = next(old.glob("cells/*/summary.json"))
    summary.write_text(
        json.dumps({k: v for k, v in json.loads(summary.read_text()).items() if k != "schema_version"})
    )
    with pytest.raises(RecordError, match="no schema_version"):
        read_summary(summary)


def test_schema_check_names_a_file_that_does_not_match(tmp_path: Path, capsys) -> None:
    run = Path(shutil.copytree(FIXTURE_RUN, tmp_path / FIXTURE_RUN.name))
    latency = next(run.glob("cells/*/latency.json"))
    latency.write_text(json.dumps({**json.loads(latency.read_text()), "p99": 1}))
    assert main(["schema", "--check", str(run)]) == 1
    out = capsys.readouterr().out
    assert latency.relative_to(run).as_posix() in out and "p99" in out
