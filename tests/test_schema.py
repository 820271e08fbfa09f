"""Every results file has one model: ``cachebench schema`` prints their JSON Schemas (a CSV
file's: its row's), a real run folder matches them file by file (a CSV file by its header), and
a folder of another schema version is refused in one line."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import itertools
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from cachebench.cli.main import main
from cachebench.results import (
    LAYER,
    LOCUST_CSV_PREFIX,
    MANIFEST_FILE,
    READ,
    SAMPLE,
    SAMPLES_FILE,
    SCHEMA_VERSION,
    ClientWriteRow,
    LayerSample,
    Manifest,
    OriginWriteRow,
    ReadRow,
    RecordError,
    SampleRow,
    by_layer,
    layer_column,
    read_summary,
    samples_csv,
    samples_header,
    split_layer_column,
)
from cachebench.results.schema import (
    CSV_FILES,
    RESULT_FILES,
    check_folder,
    csv_file_for,
    csv_header,
    result_file_for,
)

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


def _typed(value: str) -> object:
    """A CSV cell as pandas reads it: empty is missing, else a whole number, a number or text."""
    if value == "":
        return None
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(value)
    return value


def _rows(path: Path, count: int) -> list[dict[str, object]]:
    with (gzip.open if path.name.endswith(".gz") else open)(path, "rt", newline="") as file:
        return [
            {k: _typed(v) for k, v in row.items()} for row in itertools.islice(csv.DictReader(file), count)
        ]


def test_schema_prints_a_row_schema_for_every_csv_file(printed: dict) -> None:
    assert list(printed["csv_files"]) == [entry.pattern for entry in CSV_FILES]
    for pattern, entry in printed["csv_files"].items():
        jsonschema.Draft202012Validator.check_schema(entry["schema"])
        assert entry["description"], pattern
    samples = printed["csv_files"][f"cells/<cell>/{SAMPLES_FILE}"]["schema"]
    assert {f"^.+_{figure}$" for figure in LayerSample.model_fields} == set(samples["patternProperties"])


def test_every_csv_file_of_a_real_run_matches_the_csv_table(printed: dict) -> None:
    """Each file's header holds against its row model, and its first rows validate against the
    printed schema, typed as pandas reads them."""
    rows_of: dict[type, int] = {}
    for path in sorted([*FIXTURE_RUN.rglob("*.csv"), *FIXTURE_RUN.rglob("*.csv.gz")]):
        relative = path.relative_to(FIXTURE_RUN).as_posix()
        entry = csv_file_for(relative)
        if path.name.startswith(f"{LOCUST_CSV_PREFIX}_"):  # Locust's own CSVs, in its own format
            assert entry is None, relative
            continue
        assert entry is not None, f"{relative}: no row model names this file"
        header, has_rows = csv_header(path)
        assert has_rows and entry.row.header_problems(header, has_rows) == [], relative
        for row in _rows(path, 5):
            jsonschema.validate(row, printed["csv_files"][entry.pattern]["schema"])
        rows_of[entry.row] = rows_of.get(entry.row, 0) + 1
    cells = len(Manifest.read(FIXTURE_RUN / MANIFEST_FILE).cells)
    assert rows_of == {SampleRow: cells, ReadRow: cells, ClientWriteRow: cells, OriginWriteRow: cells}
    checked, problems = check_folder(FIXTURE_RUN)
    assert problems == [] and sum(path.endswith((".csv", ".csv.gz")) for path in checked) == 4 * cells


def test_samples_csv_writes_the_files_as_they_were_written() -> None:
    """Byte for byte, the fixture's files (the order the sampler's rows once gave), and a target
    with two layers: each layer's hit ratio after the origin's figures, its calls after the 5xx
    rate, the breakers after every layer's calls."""
    for path in sorted(FIXTURE_RUN.rglob(SAMPLES_FILE)):
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
        assert samples_csv(rows) == path.read_bytes().decode(), path
    # The header of a hierarchical target's file, as the sampler once gave it.
    header = (
        "t_s,unix_s,requests_per_s,origin_reads_per_s,origin_writes_per_s,origin_queue_ms_mean,"
        "origin_connections_in_use,l1_hit_ratio,redis_hit_ratio,server_5xx_per_s,l1_hits_per_s,"
        "l1_errors_per_s,l1_bypasses_per_s,l1_open_timeouts_per_s,redis_hits_per_s,redis_errors_per_s,"
        "redis_bypasses_per_s,redis_open_timeouts_per_s,l1_circuit_open_workers,"
        "redis_circuit_open_workers,l1_entries,l1_bytes,target_rss_bytes,target_rss_max_process_bytes,"
        "target_processes,redis_used_memory_bytes,redis_rss_bytes,redis_keys,target_cpu_percent,"
        "generator_cpu_percent,redis_cpu_percent,other_cpu_percent,idle_cpu_percent"
    )
    hierarchical = header.split(",")
    shuffled = dict.fromkeys(sorted(hierarchical), 1.0)
    assert samples_header(shuffled) == hierarchical
    assert samples_csv([shuffled]).splitlines()[0] == header
    assert samples_csv([]) == f"{SAMPLE.t_s}\r\n"


def test_a_layers_columns_are_named_by_one_rule() -> None:
    assert layer_column("redis", LAYER.errors_per_s) == "redis_errors_per_s"
    for figure in LayerSample.model_fields:
        assert split_layer_column(layer_column("l1", figure)) == ("l1", figure)
    assert all(split_layer_column(column) is None for column in SampleRow.columns())
    assert split_layer_column("redis_rss_bytes") is None and split_layer_column("hit_ratio") is None
    row = {"l1_hit_ratio": 0.5, "redis_hit_ratio": None, "l1_hits_per_s": 3.0}
    assert by_layer(row, LAYER.hit_ratio) == {"l1": 0.5, "redis": None}
    with pytest.raises(ValueError, match="not a figure"):
        layer_column("redis", "misses_per_s")
    with pytest.raises(AttributeError, match="no column 'unix'"):
        _ = SAMPLE.unix
    with pytest.raises(ValueError, match="redis_misses_per_s"):
        samples_csv([{SAMPLE.t_s: 1.0, "redis_misses_per_s": 2.0}])


def test_a_csv_header_is_held_against_its_row_model() -> None:
    assert SampleRow.header_problems([SAMPLE.t_s], has_rows=False) == []  # a file without rows
    found = SampleRow.header_problems(
        [column for column in SampleRow.columns() if column != SAMPLE.unix_s] + ["l1_hit_ratio", "unix"], True
    )
    assert found == ["'unix' is not one of its columns", "no column 'unix_s'"]
    assert ReadRow.header_problems(list(ReadRow.columns()), True) == []
    assert ReadRow.header_problems([READ.t_unix_s, READ.item_id, READ.version], True) == [
        "no column 'outcome'"
    ]


def test_schema_check_names_a_csv_file_whose_header_does_not_match(tmp_path: Path, capsys) -> None:
    run = Path(shutil.copytree(FIXTURE_RUN, tmp_path / FIXTURE_RUN.name))
    samples = next(run.glob(f"cells/*/{SAMPLES_FILE}"))
    samples.write_text(samples.read_text().replace(f"{SAMPLE.unix_s},", "unix_seconds,", 1))
    assert main(["schema", "--check", str(run)]) == 1
    out = capsys.readouterr().out
    relative = samples.relative_to(run).as_posix()
    assert f"{relative} does not match SampleRow: 'unix_seconds' is not one of its columns" in out, out
    assert f"{relative} does not match SampleRow: no column 'unix_s'" in out, out


def test_schema_of_one_file_prints_only_that_file_json_or_csv(capsys) -> None:
    assert main(["schema", "samples.csv"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert not printed["files"] and set(printed["csv_files"]) == {
        "cells/<cell>/samples.csv",
        "cells/<cell>/steps/<step>/samples.csv",
    }
    assert main(["schema", "nothing.txt"]) == 2
    assert "samples.csv" in capsys.readouterr().err
