"""Linker-made symbols and their families on far-call links by every Debian linker."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from lldbisect.analysis.convergence import linker_made
from lldbisect.analysis.families import infer_families
from lldbisect.elf.reader import read_symbols
from lldbisect.kernel.model import RuleKind
from tests import elfcorpus

OLD_LLD = ("llvm-13", "llvm-14", "llvm-15")


def expected(target: str, kind: str) -> tuple[RuleKind, str] | None:
    """The one family each far-call link must show (None: the target needs no thunk)."""
    if kind == "exe-gnu":
        return {"arm": (RuleKind.SUFFIX, "_veneer"), "thumb": (RuleKind.SUFFIX, "_veneer"),
                "armv5": (RuleKind.SUFFIX, "_veneer"), "aarch64": (RuleKind.SUFFIX, "_veneer"),
                "ppc64le": (RuleKind.SUBSTRING, ".plt_branch.")}.get(target)
    pic = kind.endswith("-pic")
    old = kind.split("-")[1] + "-" + kind.split("-")[2] in OLD_LLD
    prefix = {
        "arm": "__ARMV7PILongThunk_" if pic else "__ARMv7ABSLongThunk_",
        "thumb": "__ThumbV7PILongThunk_" if pic else "__Thumbv7ABSLongThunk_",
        "armv5": ("__ARMV5PILongThunk_" if pic else "__ARMv5ABSLongThunk_") if old else
                 ("__ARMv4PILongBXThunk_" if pic else "__ARMv5LongLdrPcThunk_"),
        "aarch64": "__AArch64ADRPThunk_" if pic else "__AArch64AbsLongThunk_",
        "ppc64le": "__long_branch_", "ppc32": "__LongThunk_",
    }.get(target)
    return None if prefix is None else (RuleKind.PREFIX, prefix)


def _inputs(path: Path) -> set[str]:
    return set(read_symbols(path.parent / "kinds.o").names) | set(
        read_symbols(path.parent / "defs.o").names)


@pytest.mark.parametrize("target", [t.name for t in elfcorpus.TARGETS])
def test_every_linker_made_symbol_found_and_grouped(corpus: list[elfcorpus.Built],
                                                    target: str) -> None:
    links = [b for b in corpus if b.target.name == target and b.kind.startswith("exe")]
    assert links
    for built in links:
        table = read_symbols(built.path)
        made = linker_made(table, _inputs(built.path))
        families = infer_families([n for n in table.names if n in made], table.names)
        want = expected(target, built.kind)
        got = [(f.kind, f.pattern) for f in families]
        assert got == ([want] if want else []), built.kind
        if want and want[0] is RuleKind.SUBSTRING:
            # GNU ld's ppc64 stubs: <8 hex digits of the stub group>.plt_branch.<callee>
            members = families[0].members
            assert members and all(re.fullmatch(
                r"[0-9a-f]{8}" + re.escape(want[1]) + r"(_start|far_func)", m)
                for m in members), members
        elif want:
            assert families[0].members == tuple(sorted(
                want[1] + t if want[0] is RuleKind.PREFIX else f"__{t}{want[1]}"
                for t in ("_start", "far_func")))
        if want:
            assert families[0].label is not None
            # Found by name structure alone, too.
            assert linker_made(table, None) >= made


def test_renamed_thunks_are_found_and_grouped(corpus: list[elfcorpus.Built],
                                              tmp_path: Path) -> None:
    """Names no list contains: detection depends on the inputs and the structure only."""
    src = next(b.path for b in corpus if b.target.name == "armv5"
               and b.kind == "exe-llvm-16-pic")
    renamed = tmp_path / "renamed"
    subprocess.run(["arm-linux-gnueabihf-objcopy",
                    "--redefine-sym", "__ARMv4PILongBXThunk_far_func=__ZorkHop9_far_func",
                    "--redefine-sym", "__ARMv4PILongBXThunk__start=__ZorkHop9__start",
                    str(src), str(renamed)], check=True)
    table = read_symbols(renamed)
    made = linker_made(table, _inputs(src))
    assert made == {"__ZorkHop9_far_func", "__ZorkHop9__start"}
    # By shape alone `__<word>_<sym>` proves nothing (the kernel's __do_sys_foo is
    # built so): without inputs such a naming is not claimed.
    assert linker_made(table, None) == set()
    (family,) = infer_families(sorted(made), table.names)
    assert (family.kind, family.pattern, family.label) == (RuleKind.PREFIX, "__ZorkHop9_", None)
    # An lld-style naming nobody has listed yet is found by its shape, though.
    lldlike = tmp_path / "lldlike"
    subprocess.run(["arm-linux-gnueabihf-objcopy",
                    "--redefine-sym", "__ARMv4PILongBXThunk_far_func=__ARMv9ZorkThunk_far_func",
                    "--redefine-sym", "__ARMv4PILongBXThunk__start=__ARMv9ZorkThunk__start",
                    str(src), str(lldlike)], check=True)
    table = read_symbols(lldlike)
    assert linker_made(table, None) == linker_made(table, _inputs(src)) == {
        "__ARMv9ZorkThunk_far_func", "__ARMv9ZorkThunk__start"}
    numbered = tmp_path / "numbered"
    subprocess.run(["arm-linux-gnueabihf-objcopy",
                    "--redefine-sym", "__ARMv4PILongBXThunk_far_func=stub.0001",
                    "--redefine-sym", "__ARMv4PILongBXThunk__start=stub.0002",
                    str(src), str(numbered)], check=True)
    table = read_symbols(numbered)
    made = linker_made(table, _inputs(src))
    (family,) = infer_families(sorted(made), table.names)
    # The counter varies: the family is what stays, never a prefix with digits in it.
    assert (family.kind, family.pattern, family.count) == (RuleKind.PREFIX, "stub.", 2)
