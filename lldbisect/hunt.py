"""The whole job: find the first bad linker, diagnose its build, write and prove the patch.

Given a kernel build and released linkers (or the demo's tiny ARMv5 6.1 and every lld
installed here), ``hunt`` bisects the releases, runs ``check`` on the first bad one,
writes the patch with ``propose``, and — where the tree is ours to touch — applies it,
relinks and checks that the build now converges, before reverting. Given two LLVM
revisions instead, it bisects the commits and also scans the culprit commit for the
symbol-name patterns it introduced.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from lldbisect.bisect import BisectResult, first_bad_release
from lldbisect.check import CheckResult, check_build
from lldbisect.commitscan import ScanItem, annotate, scan
from lldbisect.convergence import Verdict
from lldbisect.errors import InputError, ToolError
from lldbisect.gitrepo import commit_changes, identity
from lldbisect.kernel.overlay import patched_tree
from lldbisect.kernel.snapshot import kept_build
from lldbisect.llvmbisect import LlvmBisectOptions, llvm_bisect
from lldbisect.propose import Finding, Proposal, propose
from lldbisect.steps import KernelRelinker, StepVerdict, judge

__all__ = ["HuntResult", "diagnose", "hunt", "hunt_llvm"]


@dataclass
class HuntResult:
    last_good: tuple[str, str] | None = None  # (linker, version; or commit with LLVM)
    first_bad: tuple[str, str] | None = None
    tested: list[tuple[str, str, str]] = field(default_factory=list)  # linker, version, verdict
    skipped: list[str] = field(default_factory=list)  # linkers that cannot link the build
    diagnosis: CheckResult | None = None
    proposal: Proposal | None = None
    verified: bool | None = None  # the patched tree converged (None: not tried)
    verify_detail: str = ""
    bisect: BisectResult | None = None  # with --llvm-src: the commit bisect
    scan: list[ScanItem] = field(default_factory=list)  # the culprit commit's patterns


def hunt(relinker: KernelRelinker, linkers: list[tuple[Version, str]], *,
         progress: Callable[[str], None], tree_is_ours: bool, signoff: bool = True,
         at_risk_bad: bool = True) -> HuntResult:
    """Bisect ``linkers`` (ordered oldest first) on the build, then diagnose and propose.

    Raises InputError when the oldest linker that links the build is not good or the
    newest not bad.
    """
    result = HuntResult()
    ordered = sorted(linkers)

    def test(k: int) -> StepVerdict:
        version, ld = ordered[k]
        outcome = judge(relinker, ld, at_risk_bad=at_risk_bad)
        result.tested.append((ld, str(version), outcome.verdict.value))
        progress(f"{ld} ({version}): {outcome.verdict.value} - {outcome.reason}")
        return outcome.verdict

    if len(ordered) < 2:
        raise InputError(None, "a hunt needs at least two linkers")
    found_at = first_bad_release(len(ordered), test, lambda k: ordered[k][1])
    lo, hi = found_at.last_good, found_at.first_bad
    result.last_good = (ordered[lo][1], str(ordered[lo][0]))
    result.first_bad = (ordered[hi][1], str(ordered[hi][0]))
    result.skipped = [ordered[k][1] for k in found_at.skipped]
    progress(f"first bad release: {ordered[hi][1]} ({ordered[hi][0]});"
             f" last good: {ordered[lo][1]} ({ordered[lo][0]})"
             + (f"; could not link this build: {', '.join(result.skipped)}"
                if result.skipped else ""))
    diagnose(result, relinker, ordered[hi][1], progress=progress, tree_is_ours=tree_is_ours,
             signoff=signoff)
    return result


def hunt_llvm(relinker: KernelRelinker, llvm_src: Path, good: str, bad: str, *,
              cache_root: Path, options: LlvmBisectOptions, progress: Callable[[str], None],
              tree_is_ours: bool, signoff: bool = True) -> HuntResult:
    """Bisect LLVM commits, then diagnose the culprit's build, scan the culprit commit
    for the name patterns it introduced, and propose. Raises as ``llvm_bisect``."""
    result = HuntResult()
    bisected, builder = llvm_bisect(llvm_src, good, bad, relinker, cache_root, options,
                                    lambda e: progress(e.message))
    result.bisect = bisected
    if bisected.culprit is None:
        return result
    culprit = bisected.culprit.hexsha
    built = builder.linker_for(culprit)
    if built.linker is None:  # it built when tested: the cache or the machine failed
        raise ToolError(f"the culprit {culprit[:12]}'s linker no longer builds")
    result.first_bad = (str(built.linker), culprit)
    parent = next((s.revision for s in bisected.steps if s.role == "confirm-parent"), None)
    if parent is not None and (parent_ld := builder.linker_for(parent).linker) is not None:
        result.last_good = (str(parent_ld), parent)
    diagnose(result, relinker, str(built.linker), progress=progress,
             tree_is_ours=tree_is_ours, signoff=signoff)
    _info, changes = commit_changes(llvm_src, culprit)
    found = result.diagnosis
    assert found is not None
    observed = {n for f in found.comparison.families for n in f.family.members}
    result.scan = annotate(
        scan(changes),
        [(found.rules.version, found.rules)], observed)
    progress(f"culprit {culprit[:12]}: {len(result.scan)} symbol-name pattern change(s)")
    return result


def diagnose(result: HuntResult, relinker: KernelRelinker, bad_ld: str, *,
             progress: Callable[[str], None], tree_is_ours: bool, signoff: bool) -> None:
    """Relink with the first bad linker, check, write the patch, and prove it where the
    tree is ours to touch; fills ``result``."""
    _status, log = relinker.relink(bad_ld)
    result.diagnosis = found = check_build(relinker.build_dir, log=log)
    finding = Finding.from_check(found, found.linker())
    result.proposal = proposal = propose(
        finding, found.rules, author=identity(Path(found.rules.tree)),
        date=email.utils.formatdate(localtime=True), signoff=signoff)
    progress(f"diagnosis: {found.comparison.verdict.value}; patch: "
             + ("written" if proposal.patch else proposal.reason))
    if proposal.patch and tree_is_ours:
        result.verified, result.verify_detail = _verify(relinker, bad_ld,
                                                        Path(found.rules.tree),
                                                        proposal.patch, progress)


def _verify(relinker: KernelRelinker, ld: str, tree: Path, patch: str,
            progress: Callable[[str], None]) -> tuple[bool, str]:
    """Relink with the patched tree and check; the tree and the build's last link are
    as they were afterwards, whatever happens (see ``kernel.overlay``)."""
    with kept_build(relinker.build_dir):
        try:
            with patched_tree(tree, patch) as patched:
                progress("verifying: relinking with the patched tree"
                         + (" (patched in place, reverted after)" if patched.in_place else ""))
                status, log = relinker.relink(ld, patched)
                after = check_build(relinker.build_dir, log=log, kernel=patched.rules_tree)
        except ValueError as e:
            return False, f"the patch does not apply: {e}"
    ok = status == 0 and after.comparison.verdict is Verdict.CONVERGED
    detail = (f"with the patch, {ld} links in {len(after.stages.passes)} passes:"
              f" {after.comparison.verdict.value}")
    progress(detail)
    return ok, detail
