"""The whole job: find the first bad linker, diagnose its build, write and prove the patch.

Given a kernel build and released linkers (or the demo's tiny ARMv5 6.1 and every lld
installed here), ``hunt`` bisects the releases, runs ``check`` on the first bad one,
writes the patch with ``propose``, and — where the tree is ours to touch — applies it,
relinks and checks that the build now converges, before reverting.
"""

from __future__ import annotations

import email.utils
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from lldbisect.bisect import first_bad_release
from lldbisect.check import CheckResult, check_build
from lldbisect.errors import InputError, ToolError
from lldbisect.gitrepo import identity
from lldbisect.propose import Finding, Proposal, propose
from lldbisect.steps import KernelRelinker, StepVerdict, judge

__all__ = ["HuntResult", "hunt", "installed_lld"]


@dataclass
class HuntResult:
    last_good: tuple[str, str] | None = None  # (linker, version)
    first_bad: tuple[str, str] | None = None
    tested: list[tuple[str, str, str]] = field(default_factory=list)  # linker, version, verdict
    diagnosis: CheckResult | None = None
    proposal: Proposal | None = None
    verified: bool | None = None  # the patched tree converged (None: not tried)
    verify_detail: str = ""


def installed_lld() -> list[str]:
    """Every ``/usr/lib/llvm-N/bin/ld.lld`` here (Debian installs them side by side)."""
    return [str(p) for p in sorted(Path("/usr/lib").glob("llvm-*/bin/ld.lld"))]


def hunt(relinker: KernelRelinker, linkers: list[tuple[Version, str]], *,
         progress: Callable[[str], None], tree_is_ours: bool, signoff: bool = True,
         at_risk_bad: bool = True) -> HuntResult:
    """Bisect ``linkers`` (ordered oldest first) on the build, then diagnose and propose.

    Raises InputError when the oldest linker is not good or the newest not bad.
    """
    result = HuntResult()
    ordered = sorted(linkers)

    def test(k: int) -> StepVerdict:
        version, ld = ordered[k]
        outcome = judge(relinker, ld, at_risk_bad=at_risk_bad)
        result.tested.append((ld, str(version), outcome.verdict.value))
        progress(f"{ld} ({version}): {outcome.verdict.value} - {outcome.reason}")
        if outcome.verdict is StepVerdict.SKIP:
            raise ToolError(f"{ld} could not be judged: {outcome.reason}")
        return outcome.verdict

    lo, hi = 0, len(ordered) - 1
    if hi < 1:
        raise InputError(None, "a hunt needs at least two linkers")
    if test(hi) is not StepVerdict.BAD:
        raise InputError(None, f"the newest linker {ordered[hi][1]} builds this kernel"
                               " fine: nothing to hunt")
    if test(lo) is not StepVerdict.GOOD:
        raise InputError(None, f"the oldest linker {ordered[lo][1]} is not good either")
    lo, hi = first_bad_release(len(ordered), lambda k: test(k) is StepVerdict.GOOD)
    result.last_good = (ordered[lo][1], str(ordered[lo][0]))
    result.first_bad = (ordered[hi][1], str(ordered[hi][0]))
    progress(f"first bad release: {ordered[hi][1]} ({ordered[hi][0]});"
             f" last good: {ordered[lo][1]} ({ordered[lo][0]})")
    # Diagnose the first bad linker's build, as it stands after a relink with it.
    _status, log = relinker.relink(ordered[hi][1])
    result.diagnosis = found = check_build(relinker.build_dir, log=log)
    finding = Finding.from_check(found, found.linker())
    result.proposal = proposal = propose(
        finding, found.rules, author=identity(Path(found.rules.tree)),
        date=email.utils.formatdate(localtime=True), signoff=signoff)
    progress(f"diagnosis: {found.comparison.verdict.value}; patch: "
             + ("written" if proposal.patch else proposal.reason))
    if proposal.patch and tree_is_ours:
        result.verified, result.verify_detail = _verify(relinker, ordered[hi][1],
                                                        Path(found.rules.tree),
                                                        proposal.patch, progress)
    return result


def _verify(relinker: KernelRelinker, ld: str, tree: Path, patch: str,
            progress: Callable[[str], None]) -> tuple[bool, str]:
    """Apply the patch to the tree, relink, check, and revert, whatever happens."""
    if shutil.which("git") is None:
        raise ToolError("git not found: needed to apply the patch")
    with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False) as f:
        f.write(patch)
    mail = Path(f.name)
    try:
        subprocess.run(["git", "apply", "--check", str(mail)], cwd=tree, check=True,
                       capture_output=True)
        subprocess.run(["git", "apply", str(mail)], cwd=tree, check=True, capture_output=True)
    except subprocess.CalledProcessError as e:
        mail.unlink()
        return False, f"the patch does not apply: {e.stderr.decode()[-300:]}"
    try:
        progress("verifying: patched the tree, relinking")
        status, log = relinker.relink(ld)
        after = check_build(relinker.build_dir, log=log)
        ok = status == 0 and after.comparison.verdict.value == "converged"
        detail = (f"with the patch, {ld} links in {len(after.stages.passes)} passes:"
                  f" {after.comparison.verdict.value}")
        progress(detail)
        return ok, detail
    finally:
        subprocess.run(["git", "apply", "-R", str(mail)], cwd=tree, check=True,
                       capture_output=True)
        mail.unlink()
