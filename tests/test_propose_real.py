"""propose on Debian's real 6.1 and 6.12 trees: checkpatch-clean, git am, and it works."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lldbisect.elf.nmlist import parse_nm_listing
from lldbisect.kernel.model import RuleKind
from lldbisect.kernel.rules import load_rules
from lldbisect.patch.propose import propose
from tests.proposing import ARMV4, AUTHOR, DATE, family, finding, patched_copy
from tests.symbolshapes import listing

pytestmark = pytest.mark.kernel


def checkpatch(tree: Path, patch: str, tmp: Path) -> str:
    mail = tmp / "checkpatch.patch"
    mail.write_text(patch)
    done = subprocess.run(["perl", "scripts/checkpatch.pl", "--strict", "--no-tree",
                           str(mail)], cwd=tree, capture_output=True, text=True)
    return done.stdout


def assert_clean(report: str) -> None:
    assert "total: 0 errors, 0 warnings, 0 checks" in report, report


LONG_BRANCH = family(RuleKind.PREFIX, "__long_branch_", ["__long_branch_memcpy",
                                                          "__long_branch_printk"],
                     label="lld PowerPC64 long-branch thunk")
PLT_CALL = family(RuleKind.SUBSTRING, ".plt_call.", ["00000018.plt_call.memcpy",
                                                      "0000001c.plt_call.printk+10"],
                  label="GNU ld PowerPC PLT call stub")
CASES = {
    "6.1": finding(ARMV4, culprits=["__ARMv4PILongBXThunk_printk"]),
    "6.12": finding(LONG_BRANCH, PLT_CALL, machine="EM_PPC64",
                    culprits=["__long_branch_printk"]),
}


@pytest.mark.parametrize("version", sorted(CASES))
def test_real_tree_patch(real_trees: dict[str, Path], version: str, tmp_path: Path) -> None:
    tree = real_trees[version]
    f = CASES[version]
    proposal = propose(f, load_rules(tree), author=AUTHOR, date=DATE, signoff=True)
    assert proposal.patch is not None
    assert_clean(checkpatch(tree, proposal.patch, tmp_path))
    repo = patched_copy(tree, proposal.patch, tmp_path)
    before, after = load_rules(tree), load_rules(repo)
    assert not after.warnings
    wanted = {n for fam in f.families for n in fam.members}
    text = listing(16) + "".join(f"c0009{k:03x} t {n}\n" for k, n in enumerate(sorted(wanted)))
    table = parse_nm_listing(text)
    vb, va = before.apply(table), after.apply(table)
    changed = {table.name(i) for i in range(len(table))
               if vb.in_kallsyms(i) != va.in_kallsyms(i)}
    # Hidden now: the family's names, and only names of the families' shapes.
    assert wanted <= changed
    assert all(any((fam.kind is RuleKind.PREFIX and n.startswith(fam.pattern))
                   or (fam.kind is RuleKind.SUBSTRING and fam.pattern in n)
                   for fam in f.families) for n in changed)
    assert all(not va.in_kallsyms(i) for i in range(len(table)) if table.name(i) in wanted)


def test_real_6_1_generalized(real_trees: dict[str, Path], tmp_path: Path) -> None:
    tree = real_trees["6.1"]
    f = finding(ARMV4, wide="__[[:alnum:]]*Thunk_")
    proposal = propose(f, load_rules(tree), author=AUTHOR, date=DATE, signoff=True,
                       generalize=True)
    assert proposal.patch is not None
    assert_clean(checkpatch(tree, proposal.patch, tmp_path))
    assert {r.pattern for r in proposal.redundant} == {
        "__AArch64ADRPThunk_", "__ARMV5PILongThunk_", "__ARMV7PILongThunk_",
        "__ThumbV7PILongThunk_", "__LA25Thunk_", "__microLA25Thunk_"}
    repo = patched_copy(tree, proposal.patch, tmp_path)
    rules = load_rules(repo)
    for name in ("__ARMv4PILongBXThunk_x", "__Thumbv6MPILongThunk_y", "__LA25Thunk_z"):
        assert rules.hiding_rule(name) is not None
    assert rules.hiding_rule("__a_Thunk_x") is None
