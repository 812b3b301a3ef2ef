"""The model checked against the real thing: each tree's own mksysmap (sh or sed) and its
kallsyms.c compiled with the host cc, on the same symbols, must keep the same names."""

from __future__ import annotations

import json
import subprocess
import sys
from array import array
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lldbisect.analysis.check import verify_stages
from lldbisect.analysis.convergence import StageSymbols
from lldbisect.elf.table import SymbolTable
from lldbisect.kernel.model import RuleKind
from lldbisect.kernel.repro import TinyArmBuild
from lldbisect.kernel.rules import load_rules

TREES = Path(__file__).parent / "fixtures" / "trees"
FIXTURES = sorted(p.name for p in TREES.iterdir() if (p / "scripts" / "mksysmap").exists())

# Names built from what the rules of every era look at, and anything else.
_AFFIXES = ["", "__crc_", "$", "$x", ".L", "L0", "__kstrtab_", "__kstrtabns_", "__efistub_",
            "__kvm_nvhe_", "__kvm_nvhe_$", "__kvm_nvhe_.L", "__ARMv4PILongBXThunk_",
            "__AArch64ADRPThunk_", "__LA25Thunk_", "__long_branch_", "kallsyms_",
            "__start_", "__stop_", "_SDA_BASE_", "__typeid__", "__pfx_", "__cfi_"]
_TAILS = ["", "_veneer", ".long_branch.", ".plt_call.", "_from_arm", ".cfi_jt", "$", "."]
names = st.builds(lambda a, w, t: a + w + t, st.sampled_from(_AFFIXES),
                  st.text("abcdefxyz_0123456789.$", min_size=0, max_size=8),
                  st.sampled_from(_TAILS)).filter(bool)
symbols = st.lists(st.tuples(names, st.sampled_from("tTdDrRbBaANUwWvV")),
                   min_size=1, max_size=40)


def _table(symbols: list[tuple[str, str]]) -> SymbolTable:
    n = len(symbols)
    return SymbolTable(path="random", elf_class=32, machine="nm listing",
                       addresses=array("Q", [0xC0008000 + 16 * k for k in range(n)]),
                       sizes=array("Q", [0] * n), letters="".join(t for _, t in symbols),
                       infos=bytes(n), shndx=array("I", [1] * n), section_names=(),
                       names=[name for name, _ in symbols])


def _agree(tree: Path, symbols: list[tuple[str, str]]) -> None:
    rules = load_rules(tree)
    table = _table(symbols)
    stage = StageSymbols("random", "random", table, rules.apply(table), frozenset())
    _, checks, note = verify_stages([stage], rules, tree)
    assert checks, note
    assert checks[0].agrees, checks[0].describe()


@pytest.mark.parametrize("tree", FIXTURES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(symbols=symbols)
def test_model_and_real_mksysmap_agree_on_every_fixture_era(tree: str,
                                                            symbols: list[tuple[str, str]]
                                                            ) -> None:
    _agree(TREES / tree, symbols)


@pytest.mark.kernel
def test_model_and_real_tools_agree_on_debians_trees(real_trees: dict[str, Path]) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(symbols=symbols)
    def agree(symbols: list[tuple[str, str]]) -> None:
        for tree in real_trees.values():
            _agree(tree, symbols)

    agree()


@pytest.mark.kernel
def test_a_broken_model_is_caught_and_the_real_answer_used(real_trees: dict[str, Path]
                                                           ) -> None:
    tree = real_trees["6.1"]
    rules = load_rules(tree)
    crc = next(r for r in rules.rules if r.kind is RuleKind.PREFIX and r.pattern == "__crc_")
    broken = replace(rules, rules=tuple(r for r in rules.rules if r is not crc))
    table = _table([("_text", "T"), ("__crc_printk", "A"), ("__crc_memcpy", "r"),
                    ("printk", "T")])
    stage = StageSymbols("t", "t", table, broken.apply(table), frozenset())
    assert stage.visibility.in_system_map(2)  # the broken model keeps __crc_memcpy
    (used,), (check,), _ = verify_stages([stage], broken, tree)
    assert not check.agrees and check.map_model_only == ["__crc_memcpy", "__crc_printk"]
    assert "a reading error of lldbisect's" in check.describe()
    assert not used.visibility.in_system_map(2) and not used.visibility.in_kallsyms(2)
    assert used.visibility.in_kallsyms(3)  # printk is still in the table


def test_rules_apply_runs_the_scripts_only_when_asked(tmp_path: Path) -> None:
    listing = tmp_path / "syms"
    listing.write_text("c0008000 T _text\nc0008100 t __crc_x\n")
    run = [sys.executable, "-m", "lldbisect", "rules", str(TREES / "f3-grep-e"), "--apply",
           str(listing), "--json"]
    doc = json.loads(subprocess.run(run, capture_output=True, text=True, check=True).stdout)
    assert doc["cross_check"]["ran"] is False
    doc = json.loads(subprocess.run([*run, "--run-scripts"], capture_output=True, text=True,
                                    check=True).stdout)
    assert doc["cross_check"]["ran"] is True and doc["cross_check"]["agrees"] is True


@pytest.mark.kernel
@pytest.mark.realbuild
def test_check_cross_checks_the_real_build(tiny_arm: TinyArmBuild) -> None:
    found = tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld")
    assert found is not None
    done = subprocess.run([sys.executable, "-m", "lldbisect", "check", "--json",
                           str(tiny_arm.build_dir)], capture_output=True, text=True)
    doc = json.loads(done.stdout)
    cross = doc["cross_check"]
    assert cross["ran"] and cross["agrees"], cross
    assert len(cross["stages"]) == 4 and "kallsyms.c (compiled with cc)" in cross["how"]
    assert doc["verdict"] == "diverged"


@pytest.mark.kernel
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_model_and_real_tools_agree_on_a_distribution_kernel(arch: str,
                                                             real_trees: dict[str, Path]
                                                             ) -> None:
    """~120k real symbols of every kind, through both Debian trees' pipelines."""
    from lldbisect.elf.reader import read_symbols
    from lldbisect.kernel.sources import distro_vmlinux

    table = read_symbols(distro_vmlinux(arch))
    for tree in real_trees.values():
        rules = load_rules(tree)
        stage = StageSymbols(arch, arch, table, rules.apply(table), frozenset())
        _, checks, note = verify_stages([stage], rules, tree)
        assert checks and checks[0].agrees, note or checks[0].describe()
        assert not checks[0].table_note  # kallsyms.c compiled and ran


def test_a_partial_check_says_what_it_left_out(tmp_path: Path) -> None:
    """Our fixtures' kallsyms.c are no whole programs: mksysmap is checked, and the
    report says the table was not."""
    listing = tmp_path / "syms"
    listing.write_text("c0008000 T _text\nc0008100 t __crc_x\n")
    run = [sys.executable, "-m", "lldbisect", "rules", str(TREES / "f3-grep-e"), "--apply",
           str(listing), "--run-scripts"]
    text = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "cross-check: kallsyms table not checked: " in text and "does not compile" in text
    doc = json.loads(subprocess.run([*run, "--json"], capture_output=True, text=True,
                                    check=True).stdout)
    assert doc["cross_check"]["agrees"] is True
    assert doc["cross_check"]["note"].startswith("kallsyms table not checked")
