"""propose: the right file and form for every era, escaping, and no patch when none helps."""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lldbisect.elf.nmlist import parse_nm_listing
from lldbisect.kernel.model import Rule, RuleKind
from lldbisect.kernel.rules import load_rules
from lldbisect.patch.edit import Addition, c_string, edit_kallsyms_c, edit_mksysmap
from lldbisect.patch.propose import propose
from tests.proposing import ARMV4, AUTHOR, DATE, TREES, family, finding, patched_copy

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
PPC = family(RuleKind.SUBSTRING, ".plt_call.", ["00000018.plt_call.memcpy"],
             label="GNU ld PowerPC PLT call stub")
VENEER = family(RuleKind.SUFFIX, "_lngjmp", ["__printk_lngjmp", "__memcpy_lngjmp"])
CASES = {
    "f0-grep": finding(ARMV4),
    "f1-grep": finding(ARMV4, VENEER),
    "f2-nomatches": finding(ARMV4, PPC, machine="EM_PPC64", linker=None),
    "f2-matches": finding(ARMV4, culprits=["__ARMv4PILongBXThunk_printk"]),
    "f3-grep-e": finding(ARMV4, PPC, verdict="at-risk"),
    "f4-m2": finding(ARMV4, VENEER, PPC),
    "f4-m2-kallsyms-object": finding(ARMV4, VENEER, PPC),
    "f4-m3": finding(family(RuleKind.PREFIX, "__long_branch_", ["__long_branch_printk"],
                            label="lld PowerPC64 long-branch thunk"), machine="EM_PPC64"),
    "vendor": finding(ARMV4, VENEER),
}


def _propose(tree: str, **kw: object):  # type: ignore[no-untyped-def]
    return propose(CASES[tree], load_rules(TREES / tree), author=AUTHOR, date=DATE,
                   signoff=True, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("tree", sorted(CASES))
def test_golden_patch(tree: str) -> None:
    proposal = _propose(tree)
    assert proposal.patch is not None
    golden = GOLDEN / f"{tree}.patch"
    if os.environ.get("LLDBISECT_REGOLD"):
        golden.write_text(proposal.patch)
    assert proposal.patch == golden.read_text()


@pytest.mark.parametrize("tree", sorted(CASES))
def test_patched_tree_hides_the_family_and_nothing_else(tree: str, tmp_path: Path) -> None:
    proposal = _propose(tree)
    assert proposal.patch is not None
    repo = patched_copy(TREES / tree, proposal.patch, tmp_path)
    before, after = load_rules(TREES / tree), load_rules(repo)
    assert not after.warnings
    wanted = {n for f in CASES[tree].families for n in f.members}
    names = sorted(wanted | {"printk", "memcpy", "__ARMv4PILongBXThunk", "x.plt_call",
                             "_lngjmp_x", "__long_branch", "a_from_arm", "$x", "foo_veneer"})
    listing = "".join(f"c0008{k:03x} t {n}\n" for k, n in enumerate(names))
    table = parse_nm_listing(listing)
    vb, va = before.apply(table), after.apply(table)
    newly_hidden = {names[i] for i in range(len(names))
                    if vb.in_kallsyms(i) and not va.in_kallsyms(i)}
    assert newly_hidden == wanted - {names[i] for i in range(len(names))
                                     if not vb.in_kallsyms(i)}
    assert all(not va.in_kallsyms(names.index(n)) for n in wanted)


def test_f3_goes_into_the_arm_lld_group() -> None:
    proposal = _propose("f2-matches")
    assert proposal.patch is not None
    assert '\t\t"__ThumbV7PILongThunk_",\n+\t\t"__ARMv4PILongBXThunk_",\n' in proposal.patch
    assert ("From kallsyms pass 2 to kallsyms pass 3, 1 of them appear:\n"
            "__ARMv4PILongBXThunk_printk.") in proposal.patch


def test_f0_has_only_exact_names() -> None:
    proposal = _propose("f0-grep")
    assert proposal.patch is not None
    assert all(a.kind is RuleKind.EXACT for a in proposal.additions)
    assert len(proposal.additions) == 2


def test_m2_escapes_for_the_shell() -> None:
    hostile = family(RuleKind.PREFIX, "__$x`y\"z_", ["__$x`y\"z_printk"])
    f = finding(hostile, machine="EM_ARM")
    proposal = propose(f, load_rules(TREES / "f4-m2"), author=AUTHOR, date=DATE)
    assert proposal.patch is not None and '+/ __\\\\\\$x\\`y\\"z_/d' in proposal.patch


def test_generalize_proposes_the_family_wide_rule(tmp_path: Path) -> None:
    f = finding(ARMV4, wide="__[[:alnum:]]*Thunk_")
    proposal = propose(f, load_rules(TREES / "f3-grep-e"), author=AUTHOR, date=DATE,
                       generalize=True)
    assert proposal.patch is not None
    assert "+\t-e ' __[[:alnum:]]*Thunk_'\t\\" in proposal.patch
    assert {r.pattern for r in proposal.redundant} >= {"__ARMV5PILongThunk_",
                                                        "__AArch64ADRPThunk_"}
    assert "makes redundant" in proposal.patch
    repo = patched_copy(TREES / "f3-grep-e", proposal.patch, tmp_path)
    rules = load_rules(repo)
    assert rules.hiding_rule("__Thumbv6MPILongThunk_x") is not None


def test_no_patch_when_already_hidden_or_not_the_linker() -> None:
    rules = load_rules(TREES / "f3-grep-e")
    real = rules.hiding_rule("__ARMV5PILongThunk_x")
    assert real is not None
    # The finding says another line: the target tree's own rules are what count.
    hidden = family(RuleKind.PREFIX, "__ARMV5PILongThunk_", ["__ARMV5PILongThunk_x"],
                    visible=False, hidden_by="scripts/kallsyms.c:135")
    p = propose(finding(hidden, verdict="converged"), rules, author=AUTHOR, date=DATE)
    assert p.patch is None and f"{real.file}:{real.line}" in p.reason
    p = propose(finding(verdict="diverged-other"), rules, author=AUTHOR, date=DATE)
    assert p.patch is None and "an ignore rule would not help" in p.reason


NAME_CHARS = string.ascii_letters + string.digits + "_.$[]*^\\/&\"?`'#{}()+|-"
hostile = st.text(NAME_CHARS, min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(name=hostile, kind=st.sampled_from([RuleKind.PREFIX, RuleKind.SUFFIX, RuleKind.EXACT,
                                           RuleKind.SUBSTRING]),
       tree=st.sampled_from(["f2-matches", "f4-m2", "f4-m3"]))
def test_hostile_names_round_trip(name: str, kind: RuleKind, tree: str) -> None:
    """The rule added for a hostile name, read back through the parser, hides exactly
    the names it is meant to."""
    src = TREES / tree
    target = "scripts/kallsyms.c" if tree == "f2-matches" else "scripts/mksysmap"
    add = Addition(kind, name, "arm lld")
    text = (src / target).read_text()
    new = (edit_kallsyms_c if target.endswith(".c") else edit_mksysmap)(text, [add])
    with tempfile.TemporaryDirectory() as tmp:
        tree_copy = Path(tmp)
        (tree_copy / "scripts").mkdir()
        for rel in ("Makefile", "scripts/kallsyms.c", "scripts/mksysmap"):
            (tree_copy / rel).write_text((src / rel).read_text())
        (tree_copy / target).write_text(new)
        rules = load_rules(tree_copy)
    def key(r: Rule) -> tuple[object, ...]:
        return (r.kind, r.pattern, r.stage, r.regex, r.keep)

    # As multisets: a hostile name may repeat an entry the tree has ("$" in f2's arrays).
    new_keys = Counter(key(r) for r in rules.rules) - Counter(
        key(r) for r in load_rules(src).rules)
    assert sum(new_keys.values()) == 1, new_keys  # the one rule added, nothing else changed
    added = [r for r in rules.rules if key(r) in new_keys]
    assert len(rules.rules) == len(load_rules(src).rules) + 1
    meant = {RuleKind.PREFIX: name + "Zq", RuleKind.SUFFIX: "Zq" + name,
             RuleKind.EXACT: name, RuleKind.SUBSTRING: "Zq" + name + "Zq"}[kind]
    assert added[0].hides(meant, "t", f"00000000 t {meant}")
    assert rules.hiding_rule(meant) is not None
    # Siblings differ from the meant name by characters no hostile name has.
    sibling = {RuleKind.PREFIX: "\x02" + meant, RuleKind.EXACT: "\x02" + meant,
               RuleKind.SUFFIX: meant + "\x02",
               RuleKind.SUBSTRING: "\x02" + name[:-1] + "\x01\x02"}[kind]
    before = load_rules(src).hiding_rule(sibling)
    assert (rules.hiding_rule(sibling) is None) == (before is None)


def test_c_string_escapes() -> None:
    assert c_string('a"b\\c??=') == '"a\\"b\\\\c?\\?="'


def test_cli_propose_from_report(tmp_path: Path) -> None:
    from tests.test_check_layouts import THUNK_BAR, _build

    final = [*THUNK_BAR, "c0200030 t __ARMv4PILongBXThunk_local_fn"]
    build = _build(tmp_path, "6.1-6.9", "f3-grep-e", [[], THUNK_BAR], final=final)
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "lldbisect", "check", "--json", str(build)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    report.write_text(done.stdout)
    out = tmp_path / "0001.patch"
    # The fixture has no vmlinux.o: without --unconfirmed, no patch.
    argv = [sys.executable, "-m", "lldbisect", "propose", "--from", str(report),
            "--kernel", str(TREES / "f3-grep-e"), "-o", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 1 and "--unconfirmed" in done.stderr and not out.exists()
    done = subprocess.run([*argv, "--unconfirmed"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '+\t\t"__ARMv4PILongBXThunk_",' in out.read_text()
    report.write_text(json.dumps({"schema": "other"}))
    done = subprocess.run([sys.executable, "-m", "lldbisect", "propose", "--from", str(report),
                           "--kernel", str(TREES / "f3-grep-e")], capture_output=True, text=True)
    assert done.returncode == 2 and "not a report propose reads" in done.stderr
