"""Our own fixture trees in every era's format: what we read, and what it hides.

Each fixture's mksysmap is also run for real (the shell with NM set, or sed -f), so
the shell's quote removal and GNU grep/sed's regex dialects are checked, not assumed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lldbisect.elf.nmlist import parse_nm_listing
from lldbisect.kernel.model import Filter, RuleKind
from lldbisect.kernel.rules import RuleSet, load_rules
from tests import symbolshapes

TREES = Path(__file__).parent / "fixtures" / "trees"
ERAS = sorted(p.name for p in TREES.iterdir())


def _rules(name: str) -> RuleSet:
    return load_rules(TREES / name)


def _hidden(rs: RuleSet, name: str, letter: str = "t") -> bool:
    return rs.hiding_rule(name, letter) is not None


@pytest.mark.parametrize(("tree", "era", "version", "reads_sysmap"), [
    ("f0-grep", "grep mksysmap + F0", "3.2.0", False),
    ("f1-grep", "grep mksysmap + F1", "5.4.0", False),
    ("f2-nomatches", "grep mksysmap + F2 (is_ignored_symbol arrays)", "5.6.0", False),
    ("f2-matches", "grep mksysmap + F2 (is_ignored_symbol arrays with ignored_matches)",
     "5.10.0-rc1", False),
    ("f3-grep-e", "grep mksysmap + F3", "6.2.0", True),
    ("f4-m2", "M2 (sed in mksysmap) + F4", "6.6.0", True),
    ("f4-m3", "M3 (sed -f mksysmap) + F4", "6.11.0", True),
    ("vendor", "grep + sed mksysmap + F2", "5.15.0-acme", False),
])
def test_era_detection(tree: str, era: str, version: str, reads_sysmap: bool) -> None:
    rs = _rules(tree)
    assert rs.era.startswith(era) and rs.version == version
    assert rs.kallsyms_reads_sysmap is reads_sysmap


def test_f0_rules_and_inline_checks() -> None:
    rs = _rules("f0-grep")
    kinds = {(r.stage, r.kind, r.pattern) for r in rs.rules}
    assert (Filter.MKSYSMAP, RuleKind.TYPE, "aNUw") in kinds
    assert (Filter.MKSYSMAP, RuleKind.SUBSTRING, "__crc_") in kinds  # no leading space
    assert (Filter.MKSYSMAP, RuleKind.REGEX, " \\$[adt]") in kinds
    assert (Filter.KALLSYMS, RuleKind.EXACT, "_SDA2_BASE_") in kinds
    sda = next(r for r in rs.rules if r.pattern == "_SDA_BASE_")
    assert (sda.line, sda.comment) == (51, "ppc")
    # kallsyms reads nm directly in this era: mksysmap's rules do not hide from it.
    assert not _hidden(rs, "__crc_foo")
    assert _hidden(rs, "$L123") and _hidden(rs, "$a") and _hidden(rs, "x", "U")
    assert _hidden(rs, "debug", "N") and not _hidden(rs, "debug", "n")
    assert not _hidden(rs, "__ARMV5PILongThunk_x") and not _hidden(rs, "foo_veneer")


def test_f1_arrays_and_absolute_allow_list() -> None:
    rs = _rules("f1-grep")
    assert _hidden(rs, "__crc_x") and _hidden(rs, "foo_veneer") and _hidden(rs, "a_from_thumb")
    assert _hidden(rs, ".LASANPC123") and not _hidden(rs, ".LASANP")
    assert _hidden(rs, "some_abs", "A") and _hidden(rs, "some_abs", "a")
    assert not _hidden(rs, "__gp", "A") and not _hidden(rs, "__kernel_syscall_via_break", "a")
    absolute = next(r for r in rs.rules if r.keep)
    assert absolute.keep == {"__gp", "__kernel_syscall_via_break"}


def test_f2_with_and_without_matches() -> None:
    without, with_ = _rules("f2-nomatches"), _rules("f2-matches")
    stub = "00000018.long_branch.memmove"
    assert not _hidden(without, stub) and _hidden(with_, stub)
    assert not any(r.kind is RuleKind.SUBSTRING for r in without.stage(Filter.KALLSYMS))
    thunk = with_.hiding_rule("__ARMV7PILongThunk_foo")
    assert thunk is not None and thunk.comment == "arm lld"  # carried from the group head
    assert not _hidden(with_, "__ARMv4PILongBXThunk_foo")


def test_f3_both_filters_apply() -> None:
    rs = _rules("f3-grep-e")
    rule = rs.hiding_rule("__crc_x")
    assert rule is not None and rule.stage is Filter.MKSYSMAP and rule.line == 13
    assert rs.hiding_rule("L0") is not None and rs.hiding_rule("L0x") is None


def test_m2_and_m3_read_alike() -> None:
    m2, m3 = _rules("f4-m2"), _rules("f4-m3")
    assert not m2.warnings and not m3.warnings
    for name in ("$x", "__kvm_nvhe_$d", "__efistub_foo", "foo_veneer", "_SDA_BASE_",
                 "0000.plt_branch.x"):
        assert _hidden(m2, name) and _hidden(m3, name), name
    assert _hidden(m2, "__ARMV5PILongThunk_x") and not _hidden(m2, "__ARMv4PILongBXThunk_x")
    assert _hidden(m3, "__ARMv4PILongBXThunk_x") and _hidden(m3, "__AArch64ADRPThunk_x")
    assert not _hidden(m3, "__a_Thunk_x")  # '_' is not [[:alnum:]]
    generic = m3.hiding_rule("__Thumbv6MPILongThunk_x")
    assert generic is not None and generic.kind is RuleKind.REGEX
    assert generic.comment == "lld arm/aarch64/mips thunks"


def test_eaten_backslash_is_real_behaviour_with_a_warning() -> None:
    rs = _rules("f4-m2-eaten")
    assert len(rs.warnings) == 2 and "sed receives `/ $/d`" in rs.warnings[0]
    # What sed really does: `$x` is no longer hidden, an empty name is.
    assert not _hidden(rs, "$x") and not _hidden(rs, "__kvm_nvhe_$d")
    assert rs.hiding_rule("__kvm_nvhe_", "t").line == 27  # type: ignore[union-attr]


def test_doubled_backslash_in_a_sed_file() -> None:
    rs = _rules("f4-m3-backslash")
    assert len(rs.warnings) == 1 and "literal backslash" in rs.warnings[0]
    assert not _hidden(rs, "__kvm_nvhe_$d") and _hidden(rs, "__kvm_nvhe_\\")


def test_vendor_variations() -> None:
    rs = _rules("vendor")
    assert _hidden(rs, "__acme_tramp_7") and _hidden(rs, "__acme_hook_x")  # own array
    assert _hidden(rs, "__LA25Thunk_f") and _hidden(rs, "__ARMV5PILongThunk_f")
    assert _hidden(rs, "kallsyms_markers") and _hidden(rs, "_SDA_BASE_")
    sysmap = [r for r in rs.stage(Filter.MKSYSMAP)]
    assert [r.kind for r in sysmap[-2:]] == [RuleKind.REGEX, RuleKind.SUBSTRING]
    assert sysmap[-1].pattern == ".acme_stub."


def test_build_directory_follows_source_link(tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    (build / "source").symlink_to(TREES / "f4-m3")
    assert load_rules(build).version == "6.11.0"


def _kallsyms_object(tmp: Path) -> Path:
    from tests.test_rules_substitution import _kallsyms_object as made

    return made(tmp)


def _real_sysmap(tree: Path, listing: Path, tmp: Path) -> set[str]:
    script = tree / "scripts" / "mksysmap"
    if script.read_text().startswith("#!/bin/sed"):
        out = subprocess.run(["sed", "-f", str(script), str(listing)], check=True,
                             capture_output=True, text=True).stdout
        return set(out.splitlines())
    nm = tmp / "nm"
    nm.write_text(f'#!/bin/sh\n[ "$2" = "{listing}" ] && exec cat "$2"\nexec nm "$@"\n')
    nm.chmod(0o755)
    # 6.4-6.9 take the previous pass's kallsyms object as $3 whenever the image has
    # kallsyms tables (pass 1 has only weak references, which ` [aNUw] ` drops anyway).
    third = [str(_kallsyms_object(tmp))] if "${3}" in script.read_text() else []
    subprocess.run(["sh", str(script), str(listing), str(tmp / "map"), *third], check=True,
                   env={"NM": str(nm), "PATH": "/usr/bin:/bin"}, capture_output=True)
    return set((tmp / "map").read_text().splitlines())


@pytest.mark.parametrize("tree", ERAS)
def test_mksysmap_equals_running_it(tree: str, tmp_path: Path) -> None:
    rs = _rules(tree)
    text = symbolshapes.listing(8) + "00000010 t __acme_trampoline_12\n" \
        "00000020 t 0.acme_stub.x\n00000030 t __kvm_nvhe_\\\n00000040 t name\\\n"
    listing = tmp_path / "listing"
    listing.write_text(text)
    table = parse_nm_listing(text)
    vis = rs.apply(table)
    lines = text.splitlines()
    ours = {lines[i] for i in range(len(lines)) if vis.in_system_map(i)}
    assert ours == _real_sysmap(TREES / tree, listing, tmp_path)


def _hitting(rule_kind: RuleKind, pattern: str) -> str:
    return {RuleKind.PREFIX: pattern + "x", RuleKind.SUFFIX: "x" + pattern,
            RuleKind.SUBSTRING: "x" + pattern + "x"}.get(rule_kind, pattern)


@pytest.mark.parametrize("tree", ERAS)
@pytest.mark.parametrize("where", ["first", "last", "alone"])
def test_table_pass_agrees_with_per_symbol_rules(tree: str, where: str) -> None:
    """``apply`` skips the pass of a pattern no name holds (one search of all names
    joined): a name that holds it at the very start or end of that string still counts."""
    rs = _rules(tree)
    for rule in rs.rules:
        if rule.kind not in (RuleKind.PREFIX, RuleKind.SUFFIX, RuleKind.SUBSTRING,
                             RuleKind.EXACT) or not rule.pattern.isprintable():
            continue
        hit = _hitting(rule.kind, rule.pattern)
        names = {"first": [hit, "plain_name"], "last": ["plain_name", hit],
                 "alone": [hit]}[where]
        table = parse_nm_listing("".join(f"{16 * k:08x} t {n}\n" for k, n in enumerate(names)))
        vis = rs.apply(table)
        for i, name in enumerate(names):
            assert vis.in_kallsyms(i) == (rs.hiding_rule(name) is None), (rule, name)
