"""The bisect policy: endpoints first, ``git bisect`` steps, culprit confirmed, a report.

It talks to the world through two callables — ``build(rev)`` for a linker, ``test(ld)``
for a verdict — so the LLVM and kernel front ends, and the tests, share it; and to git
through ``gitrepo``. State lives in git's own bisect state (in a worktree of ours) plus a
small side-car file, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import filecmp
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from lldbisect.analysis.convergence import Verdict
from lldbisect.bisect.builders.launcher import Launcher, LauncherStats
from lldbisect.bisect.builders.llvm import BuildOutcome
from lldbisect.bisect.gitrepo import (
    BisectState,
    CommitInfo,
    Worktree,
    bisect_active,
    bisect_log,
    bisect_mark,
    bisect_reset,
    bisect_start,
    remaining,
)
from lldbisect.bisect.predict import Event, Prediction
from lldbisect.bisect.steps import StepOutcome
from lldbisect.bisect.verdicts import StepVerdict
from lldbisect.errors import InputError

__all__ = ["BisectResult", "Bisector", "Event", "ReleaseSearch", "Step", "first_bad_release",
           "plain_bisect_builds"]

SIDECAR_SCHEMA = "lldbisect.bisect-state/1"


class StepRole(StrEnum):
    GOOD_ENDPOINT = "good-endpoint"
    BAD_ENDPOINT = "bad-endpoint"
    BISECT = "bisect"
    CONFIRM_PARENT = "confirm-parent"
    CONFIRM_CULPRIT = "confirm-culprit"
    PREDICTED = "predicted"  # the commit the prediction named, built before any bisect
    PREDICTED_PARENT = "predicted-parent"


@dataclass(frozen=True)
class Step:
    revision: str
    role: StepRole
    verdict: StepVerdict
    reason: str
    seconds: float
    cache_hit: bool
    check_verdict: Verdict | None = None
    signature: tuple[tuple[str, str], ...] = ()  # StepOutcome.signature
    launcher: dict[str, Any] | None = None  # name, hits, misses during the step

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Step:
        """A step as ``to_json`` wrote it (the side-car of an interrupted bisect)."""
        check = doc.get("check_verdict")
        return cls(doc["revision"], StepRole(doc["role"]), StepVerdict(doc["verdict"]),
                   doc["reason"], doc["seconds"], doc["cache_hit"],
                   None if check is None else Verdict(check),
                   tuple((str(n), str(t)) for n, t in doc.get("signature", [])),
                   doc.get("launcher"))


@dataclass
class BisectResult:
    """Every outcome a bisect can have, documented by its fields.

    ``culprit`` is set when git named the first bad commit, or the prediction named it
    and its build and its parent's confirmed it (``found_by``: predicted or bisected);
    ``candidates`` when skipped commits hide it; ``confirmed`` when the parent tested
    good and the culprit bad (``confidence``: the share of repeated verdicts that
    agreed); ``noop`` when the culprit's linker is byte-identical to its parent's (the
    change is elsewhere). ``builds``: the revisions built besides the endpoints;
    ``plain_builds``: what a plain bisection of the candidates needs, about
    ceil(log2 N).
    """

    good: str
    bad: str
    pathspec: list[str]
    culprit: CommitInfo | None = None
    candidates: list[str] = field(default_factory=list)
    confirmed: bool = False
    confidence: float = 0.0
    noop: bool = False
    steps: list[Step] = field(default_factory=list)
    log: str = ""
    reproducer: str = ""
    culprit_check: dict[str, object] | None = None
    parent: str = ""  # the culprit's parent, as confirmed
    found_by: str = ""  # predicted | bisected
    prediction: dict[str, Any] | None = None  # Prediction.to_json(); None: not asked
    builds: int = 0
    plain_builds: int = 0

    def to_json(self) -> dict[str, object]:
        doc = asdict(self)
        doc["schema"] = "lldbisect.bisect/1"
        return doc


@dataclass(frozen=True)
class ReleaseSearch:
    """Releases ordered oldest first: the last good and the first bad, and the ones
    that could not be judged (a linker that cannot link the build's objects)."""

    last_good: int
    first_bad: int
    skipped: tuple[int, ...]

    def ambiguous(self) -> list[int]:
        """Skipped releases between the two: any of them may be the first bad."""
        return [k for k in self.skipped if self.last_good < k < self.first_bad]


def first_bad_release(count: int, test: Callable[[int], StepVerdict],
                      names: Callable[[int], str] = str) -> ReleaseSearch:
    """Bisect releases ``0 .. count-1`` (oldest first) as ``git bisect`` would, skips
    included: the endpoints are the oldest and the newest release that can be judged,
    and a skipped midpoint gives way to its nearest judgeable neighbour.

    Raises EndpointError when the oldest judgeable release is not good or the newest
    not bad, naming them (``names``)."""
    verdicts: dict[int, StepVerdict] = {}

    def judged(k: int) -> StepVerdict:
        if k not in verdicts:
            verdicts[k] = test(k)
        return verdicts[k]

    hi = next((k for k in range(count - 1, -1, -1)
               if judged(k) is not StepVerdict.SKIP), None)
    if hi is None or judged(hi) is not StepVerdict.BAD:
        raise EndpointError(None, "no release is bad: nothing to bisect" if hi is None else
                            f"the newest release that links this build, {names(hi)},"
                            " is not bad: nothing to bisect")
    lo = next((k for k in range(hi) if judged(k) is not StepVerdict.SKIP), None)
    if lo is None or judged(lo) is not StepVerdict.GOOD:
        raise NoGoodRelease("no release older than the bad one links this build"
                            if lo is None else f"the oldest release that links this"
                            f" build, {names(lo)}, is not good either", hi)
    while True:
        inside = [k for k in range(lo + 1, hi) if verdicts.get(k) is not StepVerdict.SKIP]
        if not inside:
            break
        middle = (lo + hi) / 2
        k = min(inside, key=lambda j: (abs(j - middle), j))
        v = judged(k)
        if v is StepVerdict.GOOD:
            lo = k
        elif v is StepVerdict.BAD:
            hi = k
    skipped = tuple(k for k, v in sorted(verdicts.items()) if v is StepVerdict.SKIP)
    return ReleaseSearch(lo, hi, skipped)


class EndpointError(InputError):
    """The good endpoint is not good, or the bad one not bad."""


class NoGoodRelease(EndpointError):
    """Every release that links the build is bad: ``newest`` is the newest of them."""

    def __init__(self, problem: str, newest: int) -> None:
        super().__init__(None, problem)
        self.newest = newest


class Bisector:
    def __init__(self, wt: Worktree, build: Callable[[str], BuildOutcome],
                 test: Callable[[str], StepOutcome], events: Callable[[Event], None],
                 sidecar: Path, retries: int = 1, noop_check: bool = True,
                 predict: Callable[[str, str, Step], Prediction] | None = None,
                 launcher: Launcher | None = None) -> None:
        """``noop_check``: compare the culprit's built linker with its parent's (off
        when the linker is fixed and the commits are the kernel's). ``predict(good,
        bad, bad_step)``: rank the candidates from their diffs before any build (None:
        a plain bisection). ``launcher``: the compiler launcher whose own counters
        each step reports."""
        self.wt, self.build, self.test, self.events = wt, build, test, events
        self.launcher = launcher
        self.sidecar = sidecar
        self.retries = max(1, retries)
        self.noop_check = noop_check
        self.predict = predict
        self._predicting = False  # a resumed run stopped during the prediction
        self.build_failed = "the linker did not build" if noop_check else (
            "the kernel did not configure")

    def _judge(self, rev: str, role: StepRole) -> Step:
        start = time.monotonic()
        # Around build and test both: a kernel step compiles in its test's make.
        before = self.launcher.stats() if self.launcher is not None else None
        built = self.build(rev)
        if built.failed or built.linker is None:
            tail = [ln.strip() for ln in built.log.splitlines() if ln.strip()][-1:]
            return Step(rev, role, StepVerdict.SKIP,
                        self.build_failed + (f": {tail[0][-200:]}" if tail else ""),
                        time.monotonic() - start, built.cache_hit,
                        launcher=self._counted(before))
        outcome = self.test(str(built.linker))
        return Step(rev, role, outcome.verdict, outcome.reason,
                    time.monotonic() - start, built.cache_hit, outcome.check_verdict,
                    outcome.signature, self._counted(before))

    def _counted(self, before: LauncherStats | None) -> dict[str, Any] | None:
        if self.launcher is None or self.launcher.path is None:
            return None
        after = self.launcher.stats()
        if before is None or after is None:
            return {"name": self.launcher.name, "hits": None, "misses": None}
        return {"name": self.launcher.name, **after.minus(before).to_json()}

    def _save(self, result: BisectResult, phase: str = "") -> None:
        """Write the side-car atomically: an interruption never leaves half a file.
        ``phase`` "predict": the endpoints are judged, the bisection not yet started."""
        self.sidecar.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.sidecar.with_suffix(".tmp")
        tmp.write_text(json.dumps({**result.to_json(), "schema": SIDECAR_SCHEMA,
                                   "phase": phase}))
        tmp.replace(self.sidecar)

    def _resume(self, good: str, bad: str, pathspec: list[str]) -> BisectResult | None:
        try:
            doc = json.loads(self.sidecar.read_text())
        except (OSError, ValueError):
            return None
        finished = bool(doc.get("culprit") or doc.get("candidates"))
        predicting = doc.get("phase") == "predict"
        if (doc.get("schema") != SIDECAR_SCHEMA or doc.get("good") != good
                or doc.get("bad") != bad or doc.get("pathspec") != pathspec
                or not (finished or predicting or bisect_active(self.wt))):
            return None
        try:
            steps = [Step.from_json(s) for s in doc.get("steps", [])]
        except (KeyError, TypeError, ValueError):
            return None  # another version's side-car: start afresh
        result = BisectResult(good, bad, pathspec, steps=steps, log=doc.get("log", ""),
                              candidates=doc.get("candidates", []),
                              found_by=doc.get("found_by", ""),
                              prediction=doc.get("prediction"),
                              plain_builds=doc.get("plain_builds", 0))
        if doc.get("culprit"):
            result.culprit = CommitInfo(**doc["culprit"])
        self._predicting = predicting and not finished
        return result

    def run(self, good: str, bad: str, pathspec: list[str]) -> BisectResult:
        """Find the first bad commit in good..bad touching ``pathspec``: the predicted
        one when its build and its parent's confirm it, else by bisection, with every
        verdict the prediction cost kept.

        Raises EndpointError when an endpoint does not test as it should, ToolError
        for the machine's failures; KeyboardInterrupt leaves a resumable state.
        """
        good, bad = self.wt.resolve(good), self.wt.resolve(bad)
        result = self._resume(good, bad, pathspec)
        state = BisectState(False, None, [], "")
        if result is not None and not self._predicting:
            self.events(Event("start", f"resuming: {len(result.steps)} steps already done"))
            if result.culprit or result.candidates:  # interrupted while confirming
                state = BisectState(True, None, result.candidates, "")
        else:
            cands = self.wt.candidates(good, bad, pathspec)
            if result is None:
                result = BisectResult(good, bad, pathspec)
                result.plain_builds = plain_bisect_builds(len(cands))
                self.events(Event("start", f"{len(cands)} candidate commits touch"
                                           f" {' '.join(pathspec) or 'the tree'}: about"
                                           f" {result.plain_builds} steps"))
                self._endpoints(result, good, bad)
                self._save(result, phase="predict")
            else:
                self.events(Event("start", f"resuming the prediction: {len(result.steps)}"
                                           " steps already done"))
            bad_step = next(s for s in result.steps if s.role is StepRole.BAD_ENDPOINT)
            known = self._predicted(result, good, bad, bad_step, set(cands))
            if result.culprit is None:
                state = bisect_start(self.wt, bad, good, pathspec)
                for rev, verdict in known:  # what the prediction's builds already told
                    if not state.done:
                        state = bisect_mark(self.wt, verdict, rev)
            else:
                state = BisectState(True, result.culprit.hexsha, [], "")
            self._save(result)
        started = time.monotonic()
        while not state.done:
            rev = self.wt.head()
            step = self._judge(rev, StepRole.BISECT)
            result.steps.append(step)
            state = bisect_mark(self.wt, step.verdict)
            self._save(result)
            cached = ", cached" if step.cache_hit else ""
            cached += launcher_counts(step.launcher)
            self.events(Event("step", f"{rev[:12]} {step.verdict} ({step.seconds:.0f} s"
                                      f"{cached}); elapsed {time.monotonic() - started:.0f} s"
                                      + remaining(state.message)))
        if not (result.culprit or result.candidates):
            result.log = bisect_log(self.wt)
            if state.culprit:
                result.culprit = self.wt.info(state.culprit)
                result.found_by = "bisected"
            else:
                result.candidates = state.candidates
            self._save(result)  # a resume now goes straight to the confirmation
            bisect_reset(self.wt)
        if result.culprit is not None:
            self._confirm(result)
        result.builds = len({s.revision for s in result.steps} - {good, bad})
        self.sidecar.unlink(missing_ok=True)
        self.events(Event("done", "culprit " + (result.culprit.hexsha[:12] + " "
                                                + result.culprit.subject
                                                + f" ({result.found_by}; {result.builds}"
                                                f" build(s) besides the endpoints, a plain"
                                                f" bisection ~{result.plain_builds})"
                                                if result.culprit else "not found")))
        return result

    def _endpoints(self, result: BisectResult, good: str, bad: str) -> None:
        """Judge both endpoints. Raises EndpointError when one is not what it should be."""
        for rev, role, want in ((good, StepRole.GOOD_ENDPOINT, StepVerdict.GOOD),
                                (bad, StepRole.BAD_ENDPOINT, StepVerdict.BAD)):
            step = self._judge(rev, role)
            result.steps.append(step)
            self.events(Event("endpoint", f"{role} {rev[:12]}: {step.verdict}"
                                          f" ({step.reason}{launcher_counts(step.launcher)})"))
            if step.verdict != want:
                raise EndpointError(str(self.wt.repo.working_dir),
                                    f"the {role.split('-')[0]} endpoint {rev[:12]} tests"
                                    f" {step.verdict}, not {want}: {step.reason}")

    def _predicted(self, result: BisectResult, good: str, bad: str, bad_step: Step,
                   cands: set[str]) -> list[tuple[str, StepVerdict]]:
        """Build the predicted culprit and its parent: a bad commit whose parent is good
        is the culprit (``result.culprit``). Returns the verdicts it found, for the
        bisection to start from when it was not."""
        if self.predict is None:
            return []
        prediction = self.predict(good, bad, bad_step)
        # Only what the bisection itself could name (the pathspec's commits).
        kept = [c for c in prediction.candidates if c.hexsha in cands]
        prediction.outside = len(prediction.candidates) - len(kept)
        prediction.candidates = kept
        self.events(Event("predict", prediction.summary()))
        known: list[tuple[str, StepVerdict]] = []
        if not prediction.candidates:
            prediction.outcome = "no-candidate" if prediction.names else "no-names"
        else:
            top = prediction.candidates[0].hexsha
            prediction.tested = top
            parent = self._parent(top)
            endpoints = {good, bad}
            for rev, role in ((top, StepRole.PREDICTED), (parent, StepRole.PREDICTED_PARENT)):
                # A verdict already given (an endpoint, or before an interruption) stands.
                step = next((s for s in result.steps if s.revision == rev), None)
                if step is None:
                    step = self._judge(rev, role)
                    result.steps.append(step)
                    self._save(result, phase="predict")
                if rev not in endpoints:
                    known.append((rev, step.verdict))
                self.events(Event("predict", f"{role} {rev[:12]}: {step.verdict}"
                                             f" ({step.reason}"
                                             f"{launcher_counts(step.launcher)})"))
                if step.verdict is StepVerdict.SKIP:
                    prediction.outcome = "untestable"
                    break
                if step.verdict is not (StepVerdict.BAD if rev == top else StepVerdict.GOOD):
                    prediction.outcome = "refuted"
                    break
            else:
                prediction.outcome = "confirmed"
                result.culprit = self.wt.info(top)
                result.found_by = "predicted"
            self.events(Event("predict", "the predicted commit is the culprit"
                                         if result.culprit else
                                         f"the prediction is {prediction.outcome}: bisecting,"
                                         f" with the {len(known)} verdict(s) it cost kept"))
        result.prediction = prediction.to_json()
        return known

    def _parent(self, rev: str) -> str:
        return str(self.wt.repo.commit(rev).parents[0].hexsha)

    def _confirm(self, result: BisectResult) -> None:
        """Parent good and culprit bad, ``retries`` times each; a prediction's two
        builds count as the first of them."""
        assert result.culprit is not None
        culprit = result.culprit.hexsha
        parent = self._parent(culprit)
        result.parent = parent
        agree = total = 0
        # A predicted culprit was built with its parent already (or they are endpoints):
        # those verdicts are the first confirmation.
        judged = {s.revision: s for s in result.steps if s.role in (
            StepRole.PREDICTED, StepRole.PREDICTED_PARENT, StepRole.GOOD_ENDPOINT,
            StepRole.BAD_ENDPOINT)}
        first = {StepRole.CONFIRM_PARENT: judged.get(parent),
                 StepRole.CONFIRM_CULPRIT: judged.get(culprit)}
        step: Step | None = None
        for rev, role, want in ((parent, StepRole.CONFIRM_PARENT, StepVerdict.GOOD),
                                (culprit, StepRole.CONFIRM_CULPRIT, StepVerdict.BAD)):
            earlier = first[role] if result.found_by == "predicted" else None
            if earlier is not None:
                total += 1
                agree += earlier.verdict == want
                step = earlier
            for _ in range(self.retries - (earlier is not None)):
                step = self._judge(rev, role)
                result.steps.append(step)
                total += 1
                agree += step.verdict == want
        assert step is not None
        # What check found at the culprit: its last confirmation.
        result.culprit_check = {"verdict": step.check_verdict, "reason": step.reason}
        result.confidence = agree / total
        result.confirmed = agree == total
        if self.noop_check:
            a, b = self.build(parent), self.build(culprit)
            result.noop = bool(a.linker and b.linker and filecmp.cmp(a.linker, b.linker,
                                                                      shallow=False))
        self.events(Event("confirm", f"parent good and culprit bad: {agree}/{total}"
                                     + ("; its linker is byte-identical to its parent's"
                                        if result.noop else "")))


def plain_bisect_builds(candidates: int) -> int:
    """The builds a plain bisection of ``candidates`` commits needs: ceil(log2 N)."""
    return max(1, math.ceil(math.log2(max(2, candidates))))


def launcher_counts(counted: dict[str, Any] | None) -> str:
    """", ccache 120 hits 3 misses (98 %)" for a step's launcher counts; "" without."""
    if not counted:
        return ""
    if counted.get("hits") is None:
        return f", {counted['name']}"
    hits, misses = counted["hits"], counted["misses"]
    rate = f" ({100 * hits / (hits + misses):.0f} %)" if hits + misses else ""
    return f", {counted['name']} {hits} hits {misses} misses{rate}"
