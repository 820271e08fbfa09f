"""``cachebench schema``: the JSON Schema of every results file, or a folder checked against them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cachebench.results.schema import check_folder, json_schemas

#: The two tables ``json_schemas`` prints: JSON records, and CSV files (the schema of one row).
SECTIONS = ("files", "csv_files")


def cmd_schema(args: argparse.Namespace) -> int:
    if args.check is not None:
        checked, problems = check_folder(args.check)
        for problem in problems:
            print(problem)
        print(f"schema: {len(checked)} files match, {len(problems)} do not")
        return 1 if problems else 0
    schemas = json_schemas()
    if args.file is not None:
        patterns = [pattern for section in SECTIONS for pattern in schemas[section]]
        if not any(pattern.endswith(args.file) for pattern in patterns):
            raise ValueError(f"no results file matches {args.file!r}; the files are: {', '.join(patterns)}")
        for section in SECTIONS:
            schemas[section] = {p: s for p, s in schemas[section].items() if p.endswith(args.file)}
    print(json.dumps(schemas, indent=2))
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    schema = commands.add_parser(
        "schema",
        help="print the schema of every results file",
        description="Print the JSON Schema of every file a results folder holds (one document: a schema per "
        "JSON file pattern under 'files', the schema of one row per CSV file under 'csv_files'), to load "
        "runs with your own tools; or check a folder against them.",
    )
    schema.add_argument(
        "file", nargs="?", help="only the files whose pattern ends so, e.g. summary.json or samples.csv"
    )
    schema.add_argument(
        "--check", type=Path, metavar="RUN_DIR", help="check every file of a results folder against them"
    )
    schema.set_defaults(func=cmd_schema)
