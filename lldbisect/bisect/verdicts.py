"""A bisect step's verdict, as ``git bisect run`` knows them (no heavy imports: the CLI's
exit statuses are built from it at start-up)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["StepVerdict"]


class StepVerdict(StrEnum):
    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"
