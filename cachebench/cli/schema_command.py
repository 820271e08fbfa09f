"""``cachebench schema``: the JSON Schema of every results file, or a folder checked against them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cachebench.results.schema import RESULT_FILES, check_folder, json_schemas


def cmd_schema(args: argparse.Namespace) -> int:
    if args.check is not None:
        checked, problems = check_folder(args.check)
        for problem in problems:
            print(problem)
        print(f"schema: {len(checked)} files match, {len(problems)} do not")
        return 1 if problems else 0
    schemas = json_schemas()
    if args.file is not None:
        wanted = [pattern for pattern in schemas["files"] if pattern.endswith(args.file)]
        if not wanted:
            names = ", ".join(entry.pattern for entry in RESULT_FILES)
            raise ValueError(f"no results file matches {args.file!r}; the files are: {names}")
        schemas["files"] = {pattern: schemas["files"][pattern] for pattern in wanted}
    print(json.dumps(schemas, indent=2))
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of every results file",
        description="Print the JSON Schema of every JSON file a results folder holds (one document, a "
        "schema per file pattern), to load runs with your own tools; or check a folder against them.",
    )
    schema.add_argument("file", nargs="?", help="only the files whose pattern ends so, e.g. summary.json")
    schema.add_argument(
        "--check", type=Path, metavar="RUN_DIR", help="check every JSON file of a results folder against them"
    )
    schema.set_defaults(func=cmd_schema)
