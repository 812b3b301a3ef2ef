"""Differential: our reading of a real tree's rules against its real scripts, run here.

The tree's own scripts/mksysmap runs as the kernel runs it (6.1: the shell with NM set,
6.12: sed -f), and its own kallsyms.c filter is compiled into a small harness of ours
that calls is_ignored_symbol() on each line mksysmap kept. The visible sets must match.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lldbisect.elf.nmlist import parse_nm_listing
from lldbisect.kernel.rules import RuleSet, load_rules
from tests import elfcorpus, symbolshapes

pytestmark = pytest.mark.kernel

HARNESS = r"""
/* lldbisect test harness: the tree's own is_ignored_symbol() on each line. */
#define main kallsyms_main
#include "scripts/kallsyms.c"
#undef main
int main(void)
{
	char line[8192];
	while (fgets(line, sizeof(line), stdin)) {
		char type, name[4096];
		unsigned long long addr;
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%llx %c %4095s", &addr, &type, name) != 3)
			continue;
		if (!is_ignored_symbol(name, type))
			printf("%s\n", line);
	}
	return 0;
}
"""


def _real_mksysmap(tree: Path, listing: Path, tmp: Path) -> str:
    script = tree / "scripts" / "mksysmap"
    if script.read_text().startswith("#!/bin/sed"):
        return subprocess.run(["sed", "-f", str(script), str(listing)], check=True,
                              capture_output=True, text=True).stdout
    nm = tmp / "nm-standin"
    nm.write_text('#!/bin/sh\n# prints the listing we give it, as nm -n would\ncat "$2"\n')
    nm.chmod(0o755)
    out = tmp / "System.map"
    subprocess.run(["sh", str(script), str(listing), str(out)], check=True,
                   env={"NM": str(nm), "PATH": "/usr/bin:/bin"}, capture_output=True)
    return out.read_text()


def _real_kallsyms(tree: Path, sysmap: str, tmp: Path) -> str:
    exe = tmp / "harness"
    if not exe.exists():
        src = tmp / "harness.c"
        src.write_text(HARNESS)
        subprocess.run(["gcc", "-w", "-o", str(exe), f"-I{tree}",
                        f"-I{tree / 'scripts' / 'include'}", str(src)], check=True)
    return subprocess.run([str(exe)], input=sysmap, check=True, capture_output=True,
                          text=True).stdout


def _ours(ruleset: RuleSet, text: str) -> tuple[set[str], set[str]]:
    table = parse_nm_listing(text)
    vis = ruleset.apply(table)
    lines = text.splitlines()
    sysmap = {lines[i] for i in range(len(table)) if vis.in_system_map(i)}
    kallsyms = {lines[i] for i in range(len(table)) if vis.in_kallsyms(i)}
    return sysmap, kallsyms


def _listings(corpus: list[elfcorpus.Built]) -> dict[str, str]:
    out = {"shapes-64": symbolshapes.listing(16), "shapes-32": symbolshapes.listing(8)}
    real = []
    for b in corpus:
        if b.kind.startswith("exe"):
            real.append(subprocess.run([b.target.nm, "-n", str(b.path)], check=True,
                                       capture_output=True, text=True).stdout)
    out["linked-files"] = "".join(real)
    return out


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_visible_sets_equal_the_real_scripts(real_trees: dict[str, Path], version: str,
                                             corpus: list[elfcorpus.Built],
                                             tmp_path: Path) -> None:
    tree = real_trees[version]
    ruleset = load_rules(tree)
    assert ruleset.kallsyms_reads_sysmap
    for label, text in _listings(corpus).items():
        listing = tmp_path / f"{label}.nm"
        listing.write_text(text)
        real_sysmap = _real_mksysmap(tree, listing, tmp_path)
        real_kallsyms = _real_kallsyms(tree, real_sysmap, tmp_path)
        ours_sysmap, ours_kallsyms = _ours(ruleset, text)
        assert set(real_sysmap.splitlines()) == ours_sysmap, label
        assert set(real_kallsyms.splitlines()) == ours_kallsyms, label
        assert 0 < len(ours_kallsyms) < len(text.splitlines())


def test_real_trees_rule_highlights(real_trees: dict[str, Path]) -> None:
    old, new = load_rules(real_trees["6.1"]), load_rules(real_trees["6.12"])
    assert old.version.startswith("6.1.") and new.version.startswith("6.12.")
    assert old.era == "grep mksysmap + F3 (is_ignored_symbol arrays with ignored_matches)"
    assert "M3" in new.era and "F4" in new.era
    # The lld 16 rename: 6.1 lets kallsyms see it, 6.12's generic Thunk_ rule hides it.
    assert old.hiding_rule("__ARMv4PILongBXThunk_printk") is None
    rule = new.hiding_rule("__ARMv4PILongBXThunk_printk")
    assert rule is not None and rule.pattern == " __[[:alnum:]]*Thunk_"
    hid = old.hiding_rule("__ARMV5PILongThunk_printk")
    assert hid is not None and hid.comment == "arm lld" and hid.file == "scripts/kallsyms.c"
    assert not old.warnings and not new.warnings
