"""One bisect step's verdict: relink the kernel with a linker, then ``check`` it.

Verdicts follow ``git bisect run``: good, bad, skip (the kernel did not link for another
reason, or its passes differ for a reason no linker name explains). Anything that is
lldbisect's or the machine's fault raises, so the caller aborts instead of judging.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lldbisect.analysis.check import check_build
from lldbisect.analysis.convergence import Comparison, Verdict
from lldbisect.bisect.verdicts import StepVerdict
from lldbisect.kernel.relink import KernelRelinker, RelinkTimeout
from lldbisect.linkers.crash import crash_in_log

__all__ = ["StepOutcome", "StepVerdict", "judge"]


@dataclass(frozen=True)
class StepOutcome:
    verdict: StepVerdict
    reason: str
    seconds: float
    check_verdict: Verdict | None = None  # None: the kernel did not link
    culprits: tuple[str, ...] = ()
    visible_families: tuple[str, ...] = ()  # the patterns of families kallsyms sees
    # The names that mark this verdict, with their nm letters: the culprits, else (an
    # at-risk build) the linker-made names kallsyms sees. What a prediction looks for.
    signature: tuple[tuple[str, str], ...] = ()
    crash: str | None = None  # the linker crashed: how (a skip for git bisect, but said)


def judge(relinker: KernelRelinker, ld: str, *, at_risk_bad: bool = True) -> StepOutcome:
    """Relink with ``ld`` and judge the result."""
    start = time.monotonic()
    try:
        status, log = relinker.relink(ld)
    except RelinkTimeout as e:
        # Not the linker's verdict: git bisect run must skip it, never call it bad.
        return StepOutcome(StepVerdict.SKIP, f"timed out: {e.message}",
                           time.monotonic() - start)
    if status and "Inconsistent kallsyms data" not in log:
        tail = " / ".join(ln for ln in log.splitlines()[-3:] if ln.strip())
        crash = crash_in_log(log)
        if crash is not None:
            return StepOutcome(StepVerdict.SKIP, f"the linker crashed ({crash}): {tail[-300:]}",
                               time.monotonic() - start, crash=crash)
        return StepOutcome(StepVerdict.SKIP, f"the kernel did not link: {tail[-300:]}",
                           time.monotonic() - start)
    found = check_build(relinker.build_dir, log=log).comparison
    visible = tuple(f.family.pattern for f in found.families if f.visible)
    verdict = {Verdict.CONVERGED: StepVerdict.GOOD, Verdict.DIVERGED: StepVerdict.BAD,
               Verdict.DIVERGED_OTHER: StepVerdict.SKIP,
               Verdict.AT_RISK: StepVerdict.BAD if at_risk_bad else StepVerdict.GOOD,
               }[found.verdict]
    return StepOutcome(verdict, found.reason, time.monotonic() - start,
                       found.verdict, tuple(found.culprits), visible, _signature(found))


def _signature(found: Comparison) -> tuple[tuple[str, str], ...]:
    names = set(found.culprits) or {n for f in found.families for n in f.visible}
    letters: dict[str, str] = {}
    for stage in reversed(found.stages):  # a culprit that vanished: an earlier stage has it
        if len(letters) == len(names):
            break
        table = stage.table
        for i, n in enumerate(table.names):
            if n in names and n not in letters:
                letters[n] = table.letters[i]
    return tuple((n, letters.get(n, "t")) for n in sorted(names))
