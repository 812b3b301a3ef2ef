"""The shape heuristic against the truth, on what every linker here really makes.

Every probe case (ARM, Thumb, ARMv4T/v5/v6-M, arm64 with the erratum 843419 patch, MIPS
and microMIPS LA25, ppc64 and ppc32) linked by every Debian lld and by GNU ld and gold for
its architecture: the names found without inputs, by shape, are exactly those found
against the inputs; no input symbol is ever called linker-made.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lldbisect.analysis.convergence import linker_made
from lldbisect.analysis.families import infer_families
from lldbisect.elf.reader import read_symbols
from lldbisect.linkers.cases import CASES
from lldbisect.linkers.probe import Assembler, link_case

LLD = [f"/usr/lib/llvm-{v}/bin/ld.lld" for v in (13, 14, 15, 16, 19, 22)]
GNU = {"arm": "arm-linux-gnueabihf", "arm64": "aarch64-linux-gnu", "mips": "mips-linux-gnu",
       "powerpc": "powerpc64le-linux-gnu"}


def _linkers(arch: str) -> list[tuple[str, bool]]:
    out = [(ld, False) for ld in LLD if Path(ld).exists()]
    for suffix in ("ld", "ld.gold"):
        gnu = shutil.which(f"{GNU[arch]}-{suffix}")
        if gnu:
            out.append((gnu, True))
    return out


@pytest.mark.parametrize("arch", sorted(GNU))
def test_shapes_find_what_inputs_find(arch: str, tmp_path: Path) -> None:
    objects = Assembler(tmp_path / "cache")
    linked = 0
    for ld, gnu in _linkers(arch):
        for case in (c for c in CASES if c.arch == arch):
            work = tmp_path / f"{Path(ld).parent.parent.name}-{Path(ld).name}-{case.name}"
            done, out, inputs = link_case(ld, gnu, case, objects, work)
            if done.returncode or not out.exists():
                continue  # this linker cannot do the case: probe reports it unsupported
            table = read_symbols(out)
            known = {n for o in inputs for n in read_symbols(o).names}
            truth = linker_made(table, known)
            by_shape = linker_made(table, None)
            where = f"{ld} {case.name}"
            assert by_shape <= truth, f"{where}: input symbols called linker-made:" \
                                      f" {sorted(by_shape - truth)}"
            assert by_shape == truth, f"{where}: not found by shape: {sorted(truth - by_shape)}"
            # Every family's pattern leaves out what varies: no address in a rule.
            for f in infer_families([n for n in table.names if n in truth], table.names):
                assert f.kind.value != "exact" or not any(c.isdigit() for c in f.pattern), \
                    f"{where}: an exact name with digits: {f.pattern}"
            linked += 1
    assert linked >= len(_linkers(arch))  # most linkers link most cases
