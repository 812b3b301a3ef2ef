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

from lldbisect.analysis.check import CheckResult, check_build
from lldbisect.analysis.commitscan import ScanItem, annotate, scan
from lldbisect.analysis.convergence import Verdict
from lldbisect.bisect.gitrepo import commit_changes, identity
from lldbisect.bisect.llvm import LlvmBisectOptions, llvm_bisect
from lldbisect.bisect.policy import BisectResult
from lldbisect.bisect.releases import ReleaseStep, bisect_releases
from lldbisect.errors import InputError, ToolError
from lldbisect.kernel.overlay import patched_tree
from lldbisect.kernel.relink import KernelRelinker
from lldbisect.kernel.snapshot import kept_build
from lldbisect.patch.propose import Finding, Proposal, propose

__all__ = ["SWEEP_RANGE", "SWEEP_RELINKS", "HuntResult", "diagnose", "hunt", "hunt_llvm"]

SWEEP_RANGE = 16384  # bytes of padding --verify sweeps: four 4 KiB pages
SWEEP_RELINKS = 4  # relinks --verify may spend on other layouts, each way


@dataclass
class HuntResult:
    last_good: tuple[str, str] | None = None  # (linker, version; or commit with LLVM)
    first_bad: tuple[str, str] | None = None
    tested: list[ReleaseStep] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # linkers that cannot link the build
    diagnosis: CheckResult | None = None
    proposal: Proposal | None = None
    verified: bool | None = None  # the patched tree converged (None: not tried)
    verify_detail: str = ""
    bisect: BisectResult | None = None  # with --llvm-src: the commit bisect
    scan: list[ScanItem] = field(default_factory=list)  # the culprit commit's patterns
    no_good_release: str = ""  # every linker given was bad: why this is still an answer


def hunt(relinker: KernelRelinker, linkers: list[tuple[Version, str]], *,
         progress: Callable[[str], None], verify: bool, signoff: bool = True,
         at_risk_bad: bool = True) -> HuntResult:
    """Bisect ``linkers`` on the build, then diagnose the first bad one and propose.

    When no linker given is good, the newest is diagnosed all the same: the patch is
    the answer, though it is no regression among them (``no_good_release`` says so).
    Raises InputError when the newest linker that links the build is not bad.
    """
    if len(linkers) < 2:
        raise InputError(None, "a hunt needs at least two linkers")
    found = bisect_releases(relinker, linkers, at_risk_bad=at_risk_bad,
                            progress=lambda step: progress(step.progress_line()))
    bad_ld, bad_v = found.first_bad
    result = HuntResult(first_bad=(bad_ld, str(bad_v)), tested=found.steps,
                        skipped=found.skipped)
    if found.last_good is None:
        result.no_good_release = (
            f"no linker given is good ({found.no_good}): this is no regression among"
            f" them, maybe a gap in the kernel's rules; diagnosing the newest, {bad_ld}")
        progress(result.no_good_release)
    else:
        good_ld, good_v = found.last_good
        result.last_good = (good_ld, str(good_v))
        progress(f"first bad release: {bad_ld} ({bad_v}); last good: {good_ld} ({good_v})"
                 + (f"; could not link this build: {', '.join(result.skipped)}"
                    if result.skipped else ""))
    diagnose(result, relinker, bad_ld, progress=progress, verify=verify, signoff=signoff)
    return result


def hunt_llvm(relinker: KernelRelinker, llvm_src: Path, good: str, bad: str, *,
              cache_root: Path, options: LlvmBisectOptions, progress: Callable[[str], None],
              verify: bool, signoff: bool = True) -> HuntResult:
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
    parent = bisected.parent
    if parent and (parent_ld := builder.linker_for(parent).linker) is not None:
        result.last_good = (str(parent_ld), parent)
    diagnose(result, relinker, str(built.linker), progress=progress,
             verify=verify, signoff=signoff)
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
             progress: Callable[[str], None], verify: bool, signoff: bool) -> None:
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
    if proposal.patch and verify:
        result.verified, result.verify_detail = _verify(relinker, bad_ld, found,
                                                        proposal.patch, progress)


def _verify(relinker: KernelRelinker, ld: str, found: CheckResult, patch: str,
            progress: Callable[[str], None]) -> tuple[bool, str]:
    """Relink with the patched tree and check, at the build's layout and then at the
    other layouts a sweep relinks (the failing one included); the tree and the build's
    last link are as they were afterwards, whatever happens (see ``kernel.overlay``).
    ``found``: the unpatched build's check, which the sweep starts from."""
    tree = Path(found.rules.tree)
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
    if not ok:
        return ok, detail
    # One layout proves little: the next may fail. The build as it is (its last link is
    # ``ld``'s, from the diagnosis) is swept, and the patch proven where it was.
    from lldbisect.layouts.verify import prove_on_layouts

    try:
        proof = prove_on_layouts(relinker, ld, found, tree, patch,
                                 lo=0, hi=SWEEP_RANGE, step=1024,
                                 max_relinks=SWEEP_RELINKS,
                                 # each relink has --timeout; the sweep, as many
                                 timeout=relinker.timeout * SWEEP_RELINKS,
                                 relink_first=False, progress=progress)
    except (InputError, ToolError, ValueError) as e:
        return False, f"{detail}; not proven on other layouts: {e}"
    progress(proof.detail())
    return proof.ok, f"{detail}; {proof.detail()}"
