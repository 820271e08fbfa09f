"""The hit-path benchmark's one console: its progress lines and its report are printed to it."""

from __future__ import annotations

import sys

from rich.console import Console

# Wide enough for the summary table when the output is a file or a pipe.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
