"""scan-commit on the real thing: lld/ELF of every Debian lld release here, from Debian's
llvm-toolchain-N source packages (fetched at test time, Debian's patches applied), read
release against release, and every answer checked against the linkers themselves: the
strings their binaries hold and the names the probe's links really get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

from lldbisect.analysis.commitscan import PatternChange, patterns_in, scan, tree_changes
from lldbisect.kernel import sources

VERSIONS = tuple(n for n in (13, 14, 15, 16, 19, 22)
                 if Path(f"/usr/lib/llvm-{n}/bin/ld.lld").exists())
pytestmark = [pytest.mark.sources,
              pytest.mark.skipif(len(VERSIONS) < 2, reason="needs two Debian lld releases")]


@pytest.fixture(scope="module")
def trees() -> dict[int, Path]:
    return {n: sources.source_subtree(f"llvm-toolchain-{n}", ("lld/ELF",)) / "lld" / "ELF"
            for n in VERSIONS}


@cache
def _binary(n: int) -> bytes:
    return Path(os.path.realpath(f"/usr/lib/llvm-{n}/bin/ld.lld")).read_bytes()


@cache
def _probe(n: int) -> frozenset[str]:
    done = subprocess.run([sys.executable, "-m", "lldbisect", "probe", "--ld",
                           f"/usr/lib/llvm-{n}/bin/ld.lld", "--json"], capture_output=True,
                          text=True, check=True)
    return frozenset(f["pattern"] for c in json.loads(done.stdout)["cases"]
                     for f in c.get("families", []) if f["pattern"])


def test_every_pattern_read_is_in_the_linker_and_none_is_lost(trees: dict[int, Path]
                                                               ) -> None:
    for n, tree in trees.items():
        found = {f.pattern.text for p in tree.rglob("*.cpp")
                 for f in patterns_in(p.name, p.read_text(errors="replace"))}
        assert {t for t in found if t.encode() not in _binary(n)} == set(), n
        # Names the probe saw this linker make are read from its source.
        probed = {p for p in _probe(n) if not p.startswith(("$", "."))} - {"__"}
        assert {p for p in probed if not any(p.startswith(t) or t in p for t in found)} \
            == set(), n
        assert "__CortexA53843419_" in found  # addSyntheticLocal(ctx, name, ...) too


@pytest.mark.parametrize(("old", "new"), list(pairwise(VERSIONS)))
def test_a_release_pair_is_what_the_two_linkers_hold(trees: dict[int, Path], old: int,
                                                     new: int) -> None:
    items = scan(tree_changes(trees[old], trees[new]))
    was_bin, now_bin = _binary(old), _binary(new)
    for i in items:
        text = i.pattern.text.encode()
        if i.change is PatternChange.REMOVED:
            assert text in was_bin and text not in now_bin, i
            continue
        assert text in now_bin and text not in was_bin, i  # added, or a rename's new name
        if i.change is PatternChange.RENAMED:
            assert i.was is not None
            was = i.was.text.encode()
            assert was in was_bin and was not in now_bin, i
    # Every family the newer linker's probe links show and the older's do not is in
    # the scan, as added or as the new name of a rename (within the family's pattern:
    # a family inferred from real names can hold more, such as Hexagon's
    # "_from_.text.thunk", which ends in a section's name).
    scanned = {i.pattern.text for i in items if i.change is not PatternChange.REMOVED}
    fresh = {p for p in _probe(new) - _probe(old) if p.encode() not in was_bin}
    assert {p for p in fresh if not any(t in p for t in scanned)} == set(), (fresh, scanned)


def test_lld_16_renamed_the_v5_thunks_and_added_the_v4_ones(trees: dict[int, Path]) -> None:
    if 15 not in trees or 16 not in trees:
        pytest.skip("needs lld 15 and 16")
    items = scan(tree_changes(trees[15], trees[16]))
    renamed = {(i.was.text, i.pattern.text) for i in items
               if i.change is PatternChange.RENAMED and i.was is not None}
    # Paired by where lld creates the thunk (the same relocation cases and condition in
    # a creating function that was itself renamed), not by the method every thunk has.
    assert renamed == {("__ARMV5PILongThunk_", "__ARMv4PILongBXThunk_"),
                       ("__ARMv5ABSLongThunk_", "__ARMv5LongLdrPcThunk_")}


# What the probe's corpus does not make yet, measured against lld/ELF of each Debian
# release (2026-12-03): execute-only and v6-M PIC ARM thunks, the Cortex-A8 fix, BTI,
# PPC32 PLT call stubs, the ppc64 TOC-save, global-entry-setup and pcrel stubs.
# A family outside this list that the corpus does not make fails: a new linker brought
# something validation would not see.
KNOWN_GAPS = {".got2.plt_pic32.", ".plt_call32.", ".plt_pic32.", "__CortexA8657417_",
              "__Thumbv6MPILongThunk_", "__Thumbv6MABSXOLongThunk_", "__gep_setup_",
              "__plt_pcrel_", "__toc_save_", "__long_branch_pcrel_",
              "__AArch64AbsXOLongThunk_", "__AArch64BTIThunk_"}


@pytest.mark.parametrize("n", VERSIONS)
def test_probe_coverage_against_the_linkers_own_source(n: int) -> None:
    from tests.schemas import documented

    done = subprocess.run([sys.executable, "-m", "lldbisect", "probe", "--ld",
                           f"/usr/lib/llvm-{n}/bin/ld.lld", "--coverage", "--json"],
                          capture_output=True, text=True, check=True)
    cov = documented(done.stdout)["coverage"]
    assert cov["source"].startswith(f"llvm-toolchain-{n}_")
    kernel = [f for f in cov["families"] if f["kernel_arch"]]
    missing = {f["pattern"] for f in kernel if not f["made_by"]}
    assert missing <= KNOWN_GAPS, f"lld {n}: new families the corpus does not make"
    assert cov["made"] == len(kernel) - len(missing) and cov["of"] == len(kernel)
    made = {f["pattern"] for f in kernel if f["made_by"]}
    assert {"__ARMV7PILongThunk_", "__AArch64ADRPThunk_", "__LA25Thunk_",
            "__long_branch_"} <= made
    # Only AVR is outside the kernel's architectures.
    assert {f["arch"] for f in cov["families"] if not f["kernel_arch"]} <= {"avr"}
    text = subprocess.run([sys.executable, "-m", "lldbisect", "probe", "--ld",
                           f"/usr/lib/llvm-{n}/bin/ld.lld", "--coverage"],
                          capture_output=True, text=True, check=True).stdout
    assert f"coverage: the corpus made {cov['made']} of the {cov['of']} name families" in text
