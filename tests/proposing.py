"""Helpers for the propose tests: findings made by hand, and patched tree copies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lldbisect.analysis.convergence import Verdict
from lldbisect.kernel.model import RuleKind
from lldbisect.patch.propose import FamilyFinding, Finding

TREES = Path(__file__).parent / "fixtures" / "trees"
AUTHOR = "A Developer <dev@example.org>"
DATE = "Thu, 26 Nov 2026 06:00:00 +0000"


def family(kind: RuleKind, pattern: str, members: list[str], *, label: str | None = None,
           visible: bool = True, hidden_by: str | None = None) -> FamilyFinding:
    return FamilyFinding(kind, pattern, label, len(members), members,
                         len(members) if visible else 0, True, [], hidden_by)


def finding(*families: FamilyFinding, verdict: str = "diverged", machine: str = "EM_ARM",
            linker: str | None = "Debian LLD 16.0.6", culprits: list[str] | None = None,
            wide: str | None = None) -> Finding:
    # Culprits, as check finds them: names the last pass added.
    changes = [("pass 2", "pass 3", list(culprits), [])] if culprits else []
    return Finding(Verdict(verdict), "test", list(families), culprits or [], wide,
                   "Inconsistent kallsyms data\nTry make KALLSYMS_EXTRA_PASS=1 as a workaround",
                   machine, linker, changes=changes)


ARMV4 = family(RuleKind.PREFIX, "__ARMv4PILongBXThunk_",
               ["__ARMv4PILongBXThunk_printk", "__ARMv4PILongBXThunk_memcpy"],
               label="lld ARM thunk (ARMv4T/v5 PIC; lld >= 16)")


def patched_copy(tree: Path, patch: str, dest: Path) -> Path:
    """A git repository holding a copy of ``tree``'s rule files, with ``patch`` applied
    by ``git am`` (as a maintainer would)."""
    repo = dest / "repo"
    (repo / "scripts").mkdir(parents=True)
    for rel in ("Makefile", "scripts/kallsyms.c", "scripts/mksysmap",
                "scripts/link-vmlinux.sh"):
        if (tree / rel).exists():
            shutil.copy(tree / rel, repo / rel)
    git = ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    mail = dest / "0001.patch"
    mail.write_text(patch)
    subprocess.run([*git, "apply", "--check", str(mail)], check=True, capture_output=True)
    subprocess.run([*git, "am", "-q", str(mail)], check=True, capture_output=True)
    return repo
