"""A patch proven on every layout: sweep the build as it is until a layout fails, then
relink the patched tree at every padding swept, the failing one included."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lldbisect.analysis.check import CheckResult
from lldbisect.analysis.convergence import Verdict
from lldbisect.kernel.overlay import patched_tree
from lldbisect.kernel.relink import KernelRelinker
from lldbisect.layouts.sweep import SweepResult, sweep, verify_at

__all__ = ["LayoutProof", "prove_on_layouts"]


@dataclass(frozen=True)
class LayoutProof:
    before: SweepResult  # the build as it is
    after: SweepResult  # the patched tree, at every padding ``before`` relinked

    @property
    def converged(self) -> int:
        return sum(x.status == 0 and x.verdict is Verdict.CONVERGED
                   for x in self.after.layouts)

    @property
    def ok(self) -> bool:
        n = len(self.after.layouts)
        return bool(n) and self.converged == n and not self.after.stopped

    def detail(self) -> str:
        n = len(self.after.layouts)
        failed_before = [x.padding for x in self.before.layouts if x.fails]
        predicted = [x.padding for x in self.after.layouts
                     if x.padding not in {y.padding for y in self.before.layouts}]
        bad = [x.padding for x in self.after.layouts
               if not (x.status == 0 and x.verdict is Verdict.CONVERGED)]
        text = (f"with the patch, converges at {self.converged} of {n} layouts"
                f" (paddings {', '.join(str(x.padding) for x in self.after.layouts)} B in"
                f" {self.before.plan.pad.output}")
        text += (f"; without it, {', '.join(map(str, failed_before))} B failed" if failed_before
                 else "; without it none of those swept failed")
        if predicted:
            text += f"; {', '.join(map(str, predicted))} B not relinked without it"
        text += ")"
        if bad:
            text += f"; does not converge at {', '.join(map(str, bad))} B"
        if self.after.stopped:
            text += f"; stopped: {self.after.stopped}"
        return text


def prove_on_layouts(relinker: KernelRelinker, ld: str, result: CheckResult, tree: Path,
                     patch: str, *, lo: int, hi: int, step: int, max_relinks: int,
                     timeout: float, relink_first: bool,
                     progress: Callable[[str], None]) -> LayoutProof:
    """Sweep, then relink the patched tree at each padding swept, at the build's own
    at the other paddings the model says fail, then the uniform sweep's (``max_relinks``
    in all). Raises ValueError
    when the patch does not apply; the tree and the build are as they were after."""
    before = sweep(relinker, ld, result, lo=lo, hi=hi, step=step, max_relinks=max_relinks,
                   timeout=timeout, relink_first=relink_first, progress=progress)
    # The layouts swept, the build's own, the other layouts the model says fail (the
    # risky ones), then the uniform sweep's, up to the limit.
    paddings = [x.padding for x in before.layouts]
    for extra in [0, *before.plan.predicted, *before.plan.uniform]:
        if extra not in paddings and len(paddings) < max_relinks:
            paddings.append(extra)
    with patched_tree(tree, patch) as patched:
        progress(f"proving the patch at {len(paddings)} layout(s)"
                 + (" (patched in place, reverted after)" if patched.in_place else ""))
        after = verify_at(relinker, ld, before.plan, paddings, patched, timeout=timeout,
                          progress=progress)
    return LayoutProof(before, after)
