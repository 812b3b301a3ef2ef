"""A bisect over released linkers: relink the build with each, judge, record.

``bisect versions`` and ``hunt`` both run it; each release is ordered by what its
``--version`` says, and each step is recorded with the check that judged it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from packaging.version import Version

from lldbisect.analysis.convergence import Verdict
from lldbisect.bisect.policy import NoGoodRelease, first_bad_release
from lldbisect.bisect.steps import judge
from lldbisect.bisect.verdicts import StepVerdict
from lldbisect.kernel.relink import KernelRelinker
from lldbisect.kernel.snapshot import kept_build

__all__ = ["ReleaseBisect", "ReleaseStep", "bisect_releases"]


@dataclass(frozen=True)
class ReleaseStep:
    linker: str
    version: Version
    verdict: StepVerdict
    check: Verdict | None  # None: the kernel did not link
    visible_families: tuple[str, ...]
    seconds: float
    reason: str
    number: int = 0  # this step's number, of about ``about`` (the endpoints included)
    about: int = 0
    elapsed: float = 0.0  # since the bisect began

    def progress_line(self) -> str:
        """The step as progress shows it: where the bisect is, and the verdict."""
        return (f"[step {self.number} of about {self.about}, {self.elapsed:.0f} s]"
                f" {self.linker} ({self.version}): {self.verdict.value} - {self.reason}")


@dataclass
class ReleaseBisect:
    """The last good and the first bad release (linker, version), every step taken, the
    releases that could not link the build, and those the first bad may hide among.
    ``last_good`` is None when every release that links the build is bad: then
    ``first_bad`` is the newest, and ``no_good`` says why."""

    last_good: tuple[str, Version] | None
    first_bad: tuple[str, Version]
    steps: list[ReleaseStep] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    no_good: str = ""

    @property
    def new_visible_families(self) -> list[str]:
        """What the first bad release lets kallsyms see that the last good did not."""
        seen = {s.linker: set(s.visible_families) for s in self.steps}
        good = seen.get(self.last_good[0], set()) if self.last_good else set()
        return sorted(seen.get(self.first_bad[0], set()) - good)


def bisect_releases(relinker: KernelRelinker, linkers: Sequence[tuple[Version, str]], *,
                    at_risk_bad: bool, progress: Callable[[ReleaseStep], None]
                    ) -> ReleaseBisect:
    """Bisect ``linkers`` ((version, path), in any order) on the build.

    Raises EndpointError (an InputError) when the newest linker that links the build is
    not bad; when none is good, says so in the result.
    """
    ordered = sorted(linkers)
    steps: list[ReleaseStep] = []
    about = 2 + max(0, math.ceil(math.log2(max(1, len(ordered) - 1))))
    began = time.monotonic()

    def test(k: int) -> StepVerdict:
        version, ld = ordered[k]
        outcome = judge(relinker, ld, at_risk_bad=at_risk_bad)
        step = ReleaseStep(ld, version, outcome.verdict, outcome.check_verdict,
                           outcome.visible_families, outcome.seconds, outcome.reason,
                           len(steps) + 1, max(about, len(steps) + 1),
                           time.monotonic() - began)
        steps.append(step)
        progress(step)
        return outcome.verdict

    with kept_build(relinker.build_dir):  # the user's last link, put back after
        try:
            search = first_bad_release(len(ordered), test, lambda k: ordered[k][1])
        except NoGoodRelease as e:
            bad_v, bad_ld = ordered[e.newest]
            skipped = [s.linker for s in steps if s.verdict is StepVerdict.SKIP]
            return ReleaseBisect(None, (bad_ld, bad_v), steps, skipped, [], e.problem)
    (good_v, good_ld), (bad_v, bad_ld) = ordered[search.last_good], ordered[search.first_bad]
    return ReleaseBisect((good_ld, good_v), (bad_ld, bad_v), steps,
                         [ordered[k][1] for k in search.skipped],
                         [ordered[k][1] for k in search.ambiguous()])
