"""One bisect step's verdict: relink the kernel with a linker, then ``check`` it.

Verdicts follow ``git bisect run``: good, bad, skip (the kernel did not link for another
reason, or its passes differ for a reason no linker name explains). Anything that is
lldbisect's or the machine's fault raises, so the caller aborts instead of judging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lldbisect.check import check_build
from lldbisect.convergence import Verdict
from lldbisect.errors import ToolError

__all__ = ["KernelRelinker", "StepOutcome", "StepVerdict", "judge"]


class StepVerdict(StrEnum):
    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"


@dataclass(frozen=True)
class StepOutcome:
    verdict: StepVerdict
    reason: str
    seconds: float
    check_verdict: str | None = None
    culprits: tuple[str, ...] = ()


class KernelRelinker:
    """Relinks an existing kernel build with another linker: the objects stay, only the
    link stages rerun (``make vmlinux`` with ``LD=``)."""

    def __init__(self, build_dir: Path, make_args: list[str] | None = None) -> None:
        """``make_args`` default to what ``lldbisect repro`` recorded in the build dir."""
        self.build_dir = build_dir
        if make_args is None:
            recorded = build_dir / "lldbisect.make-args"
            make_args = recorded.read_text().splitlines() if recorded.exists() else []
        self.make_args = make_args

    def relink(self, ld: str) -> tuple[int, str]:
        if shutil.which("make") is None:
            raise ToolError("make not found: relinking the kernel needs it")
        (self.build_dir / "vmlinux").unlink(missing_ok=True)
        argv = ["make", "-C", str(self.build_dir), f"-j{os.cpu_count() or 2}",
                *self.make_args, f"LD={ld}", "vmlinux"]
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace")
        return done.returncode, done.stdout + done.stderr


def judge(relinker: KernelRelinker, ld: str, *, at_risk_bad: bool = True) -> StepOutcome:
    """Relink with ``ld`` and judge the result."""
    start = time.monotonic()
    status, log = relinker.relink(ld)
    if status and "Inconsistent kallsyms data" not in log:
        tail = " / ".join(ln for ln in log.splitlines()[-3:] if ln.strip())
        return StepOutcome(StepVerdict.SKIP, f"the kernel did not link: {tail[-300:]}",
                           time.monotonic() - start)
    found = check_build(relinker.build_dir, log=log).comparison
    verdict = {Verdict.CONVERGED: StepVerdict.GOOD, Verdict.DIVERGED: StepVerdict.BAD,
               Verdict.DIVERGED_OTHER: StepVerdict.SKIP,
               Verdict.AT_RISK: StepVerdict.BAD if at_risk_bad else StepVerdict.GOOD,
               }[found.verdict]
    return StepOutcome(verdict, found.reason, time.monotonic() - start,
                       found.verdict.value, tuple(found.culprits))
