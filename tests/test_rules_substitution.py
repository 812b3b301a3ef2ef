"""6.4-6.9's mksysmap builds one line of its sed program from its third argument, the
previous pass's kallsyms object: `$(if [ $# -ge 3 ]; then ${NM} ${3} | sed -n ...; fi)`.
The model's reading is checked against the fixture script run by the real sh, sed and nm
on a real object."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lldbisect.elf.nmlist import parse_nm_listing
from lldbisect.errors import RulesError
from lldbisect.kernel.model import Filter, RuleKind
from lldbisect.kernel.rules import load_rules
from tests.conftest import require

TREE = Path(__file__).parent / "fixtures" / "trees" / "f4-m2-kallsyms-object"
LABELS = ["kallsyms_num_syms", "kallsyms_names", "kallsyms_markers", "kallsyms_token_table",
          "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base",
          "kallsyms_seqs_of_names"]


def _kallsyms_object(tmp: Path) -> Path:
    """What scripts/kallsyms writes, in miniature: each table's label, and a reference
    to a symbol it does not define (nm's ` U `, which the sed program skips)."""
    src = tmp / "kallsyms.S"
    src.write_text("".join(f"\t.globl {n}\n{n}:\n\t.byte 0\n" for n in LABELS)
                   + "\t.quad _text\n")
    obj = tmp / "kallsyms.o"
    subprocess.run(["clang", "--target=x86_64-linux-gnu", "-c", str(src), "-o", str(obj)],
                   check=True)
    return obj


def test_the_substitution_is_read_as_the_objects_symbols() -> None:
    rules = [r for r in load_rules(TREE).rules if r.source.startswith("$(")]
    assert [r.pattern for r in rules] == LABELS  # from the tree's own kallsyms.c
    assert {(r.kind, r.stage, r.line) for r in rules} == {
        (RuleKind.EXACT, Filter.MKSYSMAP, 75)}


def test_the_model_agrees_with_the_real_script(tmp_path: Path) -> None:
    require("clang", "nm", "sed", "sh")
    obj = _kallsyms_object(tmp_path)
    names = [*LABELS, "kallsyms_lookup_name", "_text", "printk", "__ARMV5PILongThunk_printk",
             "__ARMv4PILongBXThunk_printk", "my_kallsyms_names", "kallsyms_names2"]
    listing = tmp_path / "vmlinux.nm"
    listing.write_text("".join(f"c0{k:06x} T {n}\n" for k, n in enumerate(names)))
    # The script runs `${NM} -n $1` and `${NM} $3`: nm itself on the object, our listing
    # for the image.
    nm = tmp_path / "nm"
    nm.write_text(f'#!/bin/sh\n[ "$2" = "{listing}" ] && exec cat "$2"\nexec nm "$@"\n')
    nm.chmod(0o755)
    out = tmp_path / "System.map"
    subprocess.run(["sh", str(TREE / "scripts" / "mksysmap"), str(listing), str(out),
                    str(obj)], check=True, cwd=tmp_path,
                   env={"PATH": os.environ["PATH"], "NM": str(nm)})
    real = {line.split()[-1] for line in out.read_text().splitlines()}
    table = parse_nm_listing(listing.read_text())
    seen = load_rules(TREE).apply(table)
    model = {table.name(i) for i in range(len(table)) if seen.in_system_map(i)}
    assert model == real
    assert not real & set(LABELS) and "kallsyms_lookup_name" in real


def test_other_substitutions_are_refused(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    (tree / "Makefile").write_text((TREE / "Makefile").read_text())
    (tree / "scripts" / "kallsyms.c").write_text((TREE / "scripts" / "kallsyms.c").read_text())
    text = (TREE / "scripts" / "mksysmap").read_text()
    (tree / "scripts" / "mksysmap").write_text(
        text.replace("${NM} ${3}", "cat /etc/hostname"))
    with pytest.raises(RulesError, match="command substitution we cannot evaluate"):
        load_rules(tree)
