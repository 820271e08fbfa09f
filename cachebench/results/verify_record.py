"""``verify.json``: the HTTP-contract checks a target passed before it was measured."""

from __future__ import annotations

from typing import ClassVar, Literal

from cachebench.results.folder import VERIFY_FILE
from cachebench.results.record import Part, Record


class CheckOutcome(Part):
    name: str
    status: Literal["pass", "warn", "fail"]
    reason: str


class VerifyFile(Record):
    """Every check of ``cachebench verify`` against the cell's target; a failure means not measured."""

    FILE: ClassVar[str] = VERIFY_FILE
    checks: list[CheckOutcome]
