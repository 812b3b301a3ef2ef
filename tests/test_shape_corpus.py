"""The shape heuristic against the truth, on what every linker here really makes.

Every probe case (ARM, Thumb, ARMv4T/v5/v6-M, arm64 with the erratum 843419 patch, MIPS
and microMIPS LA25, ppc64 and ppc32) linked by every Debian lld and by GNU ld and gold for
its architecture: the names found without inputs, by shape, are exactly those found
against the inputs; no input symbol is ever called linker-made; and what each Debian
tree's rules let kallsyms see of every output is what its own scripts let through.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lldbisect.analysis.check import verify_stages
from lldbisect.analysis.convergence import StageSymbols, linker_made
from lldbisect.analysis.families import infer_families
from lldbisect.elf.reader import read_symbols
from lldbisect.elf.table import SymbolTable
from lldbisect.kernel.rules import load_rules
from lldbisect.linkers.cases import CASES
from lldbisect.linkers.probe import Assembler, link_case

LLD = [f"/usr/lib/llvm-{v}/bin/ld.lld" for v in (13, 14, 15, 16, 19, 22)]
GNU = {"arm": "arm-linux-gnueabihf", "arm64": "aarch64-linux-gnu", "mips": "mips-linux-gnu",
       "powerpc": "powerpc64le-linux-gnu"}


@dataclass(frozen=True)
class Output:
    where: str  # linker and case
    table: SymbolTable
    inputs: frozenset[str]


def _linkers(arch: str) -> list[tuple[str, bool]]:
    out = [(ld, False) for ld in LLD if Path(ld).exists()]
    for suffix in ("ld", "ld.gold"):
        gnu = shutil.which(f"{GNU[arch]}-{suffix}")
        if gnu:
            out.append((gnu, True))
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Output]]:
    tmp = tmp_path_factory.mktemp("shapes")
    objects = Assembler(tmp / "cache")
    found: dict[str, list[Output]] = {}
    for arch in GNU:
        found[arch] = []
        for ld, gnu in _linkers(arch):
            for case in (c for c in CASES if c.arch == arch):
                work = tmp / f"{Path(ld).parent.parent.name}-{Path(ld).name}-{case.name}"
                done, out, inputs = link_case(ld, gnu, case, objects, work)
                if done.returncode or not out.exists():
                    continue  # this linker cannot do the case: probe says unsupported
                known = frozenset(n for o in inputs for n in read_symbols(o).names)
                found[arch].append(Output(f"{ld} {case.name}", read_symbols(out), known))
        assert len(found[arch]) >= len(_linkers(arch))  # most linkers link most cases
    return found


@pytest.mark.parametrize("arch", sorted(GNU))
def test_shapes_find_what_inputs_find(arch: str, outputs: dict[str, list[Output]]) -> None:
    for o in outputs[arch]:
        truth = linker_made(o.table, o.inputs)
        by_shape = linker_made(o.table, None)
        assert by_shape <= truth, f"{o.where}: input symbols called linker-made:" \
                                  f" {sorted(by_shape - truth)}"
        assert by_shape == truth, f"{o.where}: not found by shape: {sorted(truth - by_shape)}"
        # Every family's pattern leaves out what varies: no address in a rule.
        for f in infer_families([n for n in o.table.names if n in truth], o.table.names):
            assert f.kind.value != "exact" or not any(c.isdigit() for c in f.pattern), \
                f"{o.where}: an exact name with digits: {f.pattern}"


@pytest.mark.kernel
@pytest.mark.parametrize("arch", sorted(GNU))
def test_what_kallsyms_sees_is_what_the_trees_scripts_let_through(
        arch: str, outputs: dict[str, list[Output]], real_trees: dict[str, Path]) -> None:
    for label, tree in real_trees.items():
        rules = load_rules(tree)
        stages = [StageSymbols(o.where, o.where, o.table, rules.apply(o.table),
                               linker_made(o.table, o.inputs)) for o in outputs[arch]]
        _, checks, note = verify_stages(stages, rules, tree)
        assert len(checks) == len(stages), note
        for c in checks:
            assert c.agrees and not c.table_note, f"{label}: {c.describe()} {c.table_note}"
