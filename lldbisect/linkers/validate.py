"""Validate a new linker against a baseline: what the new one brings, and who suffers.

Probes both linkers with the far-call corpus, relinks each given kernel build with both
and judges each with ``check``, then reports what is new: families the baseline did not
make, which kernel trees would let kallsyms see them, and builds that stop converging.
The unit of work is a case (one corpus case, or one kernel build, under both linkers),
so ``--shard I/N`` can spread the cases over machines and each shard's report stands
alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from lldbisect.analysis.convergence import Verdict
from lldbisect.bisect.steps import StepOutcome, judge
from lldbisect.errors import InputError
from lldbisect.kernel.relink import KernelRelinker
from lldbisect.kernel.rules import RuleSet
from lldbisect.linkers.cases import Case
from lldbisect.linkers.identity import version_line
from lldbisect.linkers.probe import CaseResult, CaseStatus, ProbeFamily, probe

__all__ = ["BuildComparison", "CaseChange", "FamilyChange", "Shard", "Validation", "validate"]


class Presence(StrEnum):
    NEW = "new"  # the new linker makes it, the baseline did not
    GONE = "gone"  # the baseline made it, the new linker does not


@dataclass(frozen=True)
class FamilyChange:
    change: Presence
    family: ProbeFamily

    @property
    def visible_to(self) -> list[str]:
        return self.family.visible_to()


@dataclass(frozen=True)
class CaseChange:
    """One corpus case under both linkers."""

    case: Case
    old: CaseResult
    new: CaseResult
    changes: tuple[FamilyChange, ...]

    def regressions(self) -> list[FamilyChange]:
        """New families some given kernel would see."""
        return [c for c in self.changes if c.change is Presence.NEW and c.visible_to]

    def lost_support(self) -> bool:
        return self.old.status is CaseStatus.OK and self.new.status is CaseStatus.UNSUPPORTED

    def crashed(self) -> bool:
        """The new linker crashed on the case (its own line in every report)."""
        return self.new.status is CaseStatus.CRASHED

    def new_crash(self) -> bool:
        """A crash the baseline did not have: a failure. One it shares is no change
        the new release brings (lld <= 16 on s390x objects, say): said, not failed."""
        return self.crashed() and self.old.status is not CaseStatus.CRASHED

    def failed(self) -> bool:
        return bool(self.regressions()) or self.lost_support() or self.new_crash()


# Worse to better, for judging a build: a step down is a regression.
_RANK = {Verdict.CONVERGED: 0, Verdict.AT_RISK: 1, Verdict.DIVERGED_OTHER: 2,
         Verdict.DIVERGED: 3, None: 4}  # None: the kernel did not link


@dataclass(frozen=True)
class BuildComparison:
    """One kernel build relinked with both linkers."""

    build: str
    old: StepOutcome
    new: StepOutcome
    at_risk_bad: bool = True  # else an at-risk build ranks with a converged one

    @staticmethod
    def state(outcome: StepOutcome) -> str:
        if outcome.crash is not None:
            return "crashed"
        return "no-link" if outcome.check_verdict is None else outcome.check_verdict.value

    def _rank(self, outcome: StepOutcome) -> int:
        state = outcome.check_verdict
        if state is Verdict.AT_RISK and not self.at_risk_bad:
            state = Verdict.CONVERGED
        return _RANK[state]

    def regressed(self) -> bool:
        return self._rank(self.new) > self._rank(self.old) or self.crashed()

    def crashed(self) -> bool:
        """The new linker crashed relinking the build (its own line, not "no-link")."""
        return self.new.crash is not None


@dataclass(frozen=True)
class Shard:
    """Case ``index`` of every ``count`` (1-based, as CI runners number their nodes)."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Raises InputError for anything but ``I/N`` with 1 <= I <= N."""
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise InputError(None, f"--shard {text}: expected I/N, e.g. 2/4") from None
        if not 1 <= i <= n:
            raise InputError(None, f"--shard {text}: I must be between 1 and N")
        return cls(i, n)

    def pick(self, k: int) -> bool:
        return k % self.count == self.index - 1


@dataclass
class Validation:
    new_ld: str
    old_ld: str
    new_version: str
    old_version: str
    kernels: list[str]
    shard: Shard
    cases: list[CaseChange] = field(default_factory=list)
    builds: list[BuildComparison] = field(default_factory=list)

    def failed(self) -> bool:
        """NEW brings a family a given kernel sees, cannot link a case the baseline
        could, crashes on a case or a build, or a given build stops converging."""
        return any(c.failed() for c in self.cases) or any(b.regressed() for b in self.builds)


def compare_case(old: CaseResult, new: CaseResult) -> CaseChange:
    if new.status is not CaseStatus.OK:  # no link: nothing "gone", only its failure
        return CaseChange(new.case, old, new, ())
    old_keys = {f.key for f in old.families}
    new_keys = {f.key for f in new.families}
    changes = [FamilyChange(Presence.NEW, f) for f in new.families if f.key not in old_keys]
    changes += [FamilyChange(Presence.GONE, f) for f in old.families if f.key not in new_keys]
    return CaseChange(new.case, old, new, tuple(changes))


Progress = Callable[[str], None]


def validate(new_ld: str, old_ld: str, cases: Sequence[Case],
             kernels: Sequence[tuple[str, RuleSet]], builds: Sequence[KernelRelinker], *,
             cache: Path, shard: Shard = Shard(), jobs: int | None = None,
             at_risk_bad: bool = True, progress: Progress | None = None) -> Validation:
    """Probe and relink with both linkers, this shard's cases only.

    Raises InputError for a linker that does not run, ToolError for a machine failure."""
    say = progress or (lambda _msg: None)
    units: list[Case | KernelRelinker] = [*cases, *builds]
    mine = [u for k, u in enumerate(units) if shard.pick(k)]
    my_cases = [u for u in mine if isinstance(u, Case)]
    my_builds = [u for u in mine if isinstance(u, KernelRelinker)]
    result = Validation(new_ld, old_ld, version_line(new_ld), version_line(old_ld),
                        [label for label, _ in kernels], shard)
    total, done = len(mine), 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        say(f"[{done}/{total}] {what}")

    if my_cases:
        olds = probe(old_ld, my_cases, kernels, cache=cache, jobs=jobs)
        news = probe(new_ld, my_cases, kernels, cache=cache, jobs=jobs)
        for o, n in zip(olds, news, strict=True):
            change = compare_case(o, n)
            result.cases.append(change)
            tick(f"{n.case.name}: {_summary(change)}")

    def relink(relinker: KernelRelinker) -> BuildComparison:
        # The new linker first: the build is left linked by the baseline.
        new = judge(relinker, new_ld, at_risk_bad=at_risk_bad)
        old = judge(relinker, old_ld, at_risk_bad=at_risk_bad)
        found = BuildComparison(str(relinker.build_dir), old, new, at_risk_bad)
        tick(f"{relinker.build_dir}: {BuildComparison.state(old)} -> {BuildComparison.state(new)}")
        return found

    with ThreadPoolExecutor(max_workers=max(1, min(len(my_builds),
                                                   jobs or os.cpu_count() or 2))) as pool:
        result.builds = list(pool.map(relink, my_builds))
    return result


def _summary(change: CaseChange) -> str:
    new = [c for c in change.changes if c.change is Presence.NEW]
    if change.crashed():
        return (f"the new linker CRASHED: {change.new.message}"
                + ("" if change.new_crash() else " (so did the baseline)"))
    if change.lost_support():
        return f"the new linker cannot link it ({change.new.message})"
    if not new:
        return "nothing new"
    seen = change.regressions()
    return f"{len(new)} new famil{'y' if len(new) == 1 else 'ies'}" + (
        f", {len(seen)} visible to a given kernel" if seen else "")
