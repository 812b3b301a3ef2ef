"""The shell and C the real rule files use, read as the real shell, sed and cc read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lldbisect.errors import RulesError
from lldbisect.kernel.model import RuleKind
from lldbisect.kernel.rules import load_rules
from tests.test_rules_errors import _edit, _tree

TREES = Path(__file__).parent / "fixtures" / "trees"


@pytest.mark.parametrize("shebang", ["#!/usr/bin/env -S sed -f", "#!/usr/bin/sed -f",
                                     "#!/bin/sed -f"])
def test_any_interpreter_line_that_runs_sed_on_the_file(tmp_path: Path, shebang: str) -> None:
    tree = _tree(tmp_path, "f4-m3")
    script = tree / "scripts" / "mksysmap"
    lines = script.read_text().split("\n")
    script.write_text("\n".join([shebang, *lines[1:]]))
    assert load_rules(tree).rules == load_rules(TREES / "f4-m3").rules


def test_sed_options_the_reader_does_not_model_are_refused(tmp_path: Path) -> None:
    """`sed -n` prints only what `p` asks for (a /d-only program prints nothing), -E
    reads EREs: never read as the plain /d program they are not."""
    for shebang in ("#!/bin/sed -nf", "#!/usr/bin/env -S sed -E -f"):
        tree = _tree(tmp_path / shebang.split()[-2].strip("-"), "f4-m3")
        script = tree / "scripts" / "mksysmap"
        lines = script.read_text().split("\n")
        script.write_text("\n".join([shebang, *lines[1:]]))
        with pytest.raises(RulesError, match=r"mksysmap:1: sed option -\w+ on the"):
            load_rules(tree)
        assert load_rules(tree, partial=True).unread


_PIPE = '${NM} -n ${1} | sed >${2} -e "'


@pytest.mark.parametrize(("change", "to"), [
    (_PIPE, 'if [ -n "$3" ]; then :; fi\n' + _PIPE),
    (_PIPE, "exit 0\n" + _PIPE),
    (_PIPE, _PIPE.replace("-e", "-E -e")),
    ("/ __crc_/d", "/ $CRC/d"),
])
def test_control_flow_variables_and_sed_options_are_left_to_the_shell(
        tmp_path: Path, change: str, to: str) -> None:
    tree = _tree(tmp_path, "f4-m2-kallsyms-object")
    _edit(tree / "scripts" / "mksysmap", change, to)
    with pytest.raises(RulesError, match=r"mksysmap:\d+: .*(control flow|variable|option)"):
        load_rules(tree)
    assert load_rules(tree, partial=True).unread


def test_a_version_that_is_no_number_is_refused(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "f3-grep-e")
    text = (tree / "Makefile").read_text()
    version = next(ln for ln in text.splitlines() if ln.startswith("VERSION"))
    _edit(tree / "Makefile", version, "VERSION = banana")
    with pytest.raises(RulesError, match=r"Makefile:\d+: VERSION = banana: not a number"):
        load_rules(tree)


def test_a_shell_syntax_error_is_an_error_with_its_line(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "f3-grep-e")
    script = tree / "scripts" / "mksysmap"
    script.write_text(script.read_text() + "\nif [ -n \"$3\" ]; then\n\t:\n")
    lines = script.read_text().count("\n") + 1
    with pytest.raises(RulesError, match=rf"mksysmap:{lines}: shell syntax error \(sh -n\)"):
        load_rules(tree)


def test_a_missing_continuation_leaves_system_map_to_another_command(tmp_path: Path) -> None:
    """The pipeline then ends early and writes to standard output; the next line runs
    `-e` (not found) with `> $2`: the real script writes an empty System.map."""
    tree = _tree(tmp_path, "f3-grep-e")
    script = tree / "scripts" / "mksysmap"
    text = script.read_text()
    line = next(ln for ln in text.splitlines() if "__crc_" in ln)
    _edit(script, line, line.rstrip("\t\\"))
    with pytest.raises(RulesError, match=r"written last by `-e`, not by the `\$NM -n`"):
        load_rules(tree)


def test_the_last_writer_of_system_map_wins(tmp_path: Path) -> None:
    """A vendor tree that kept a second, older nm line: the shell keeps its output only."""
    tree = _tree(tmp_path, "f3-grep-e")
    script = tree / "scripts" / "mksysmap"
    script.write_text(script.read_text() + "\n$NM -n $1 | grep -v ' [aNUw] ' > $2\n")
    rules = load_rules(tree)
    sysmap = [r for r in rules.rules if r.file == "scripts/mksysmap"]
    assert [(r.kind, r.pattern) for r in sysmap] == [(RuleKind.TYPE, "aNUw")]
    assert any("only the last" in w for w in rules.warnings)
    appended = _tree(tmp_path / "b", "f3-grep-e")
    script = appended / "scripts" / "mksysmap"
    script.write_text(script.read_text() + "\n$NM -n $1 | grep -v ' [aNUw] ' >> $2\n")
    with pytest.raises(RulesError, match=r"append \(>>\) to \$2"):
        load_rules(appended)


def test_every_string_test_of_symbol_valid(tmp_path: Path) -> None:
    """strstr, strcmp, strncmp and memcmp on the name, however the name is spelt."""
    tree = _tree(tmp_path, "f0-grep")
    _edit(tree / "scripts" / "kallsyms.c", "\tif (s->addr < 0x1000)\n\t\treturn 0;\n",
          "\tif (s->addr < 0x1000)\n\t\treturn 0;\n"
          "\t/* Exclude symbols which vary between passes. */\n"
          "\tif (strstr((char *)s->sym + 1, \"_compiled.\"))\n\t\treturn 0;\n"
          "\tif (strcmp(sym_name, \"__gnu_lto_v1\") == 0 ||\n"
          "\t    !strncmp(sym_name, \"__crc_mod\", 9) ||\n"
          "\t    memcmp(sym_name, \"$xx\", sizeof(\"$xx\") - 1) == 0)\n\t\treturn 0;\n")
    rules = load_rules(tree)
    got = {(r.kind, r.pattern) for r in rules.rules if r.file == "scripts/kallsyms.c"}
    assert {(RuleKind.SUBSTRING, "_compiled."), (RuleKind.EXACT, "__gnu_lto_v1"),
            (RuleKind.PREFIX, "__crc_mod"), (RuleKind.PREFIX, "$xx")} <= got
    assert rules.hiding_rule("gcc2_compiled.") is not None
    _edit(tree / "scripts" / "kallsyms.c", "memcmp(sym_name,", "weird(sym_name,")
    with pytest.raises(RulesError, match="cannot evaluate the condition"):
        load_rules(tree)


def test_conflict_markers_and_a_missing_file_are_named(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "f3-grep-e")
    script = tree / "scripts" / "mksysmap"
    script.write_text(script.read_text() + "<<<<<<< HEAD\n=======\n>>>>>>> other\n")
    with pytest.raises(RulesError, match="merge-conflict marker '<<<<<<<'"):
        load_rules(tree)
    tree = _tree(tmp_path / "m", "f3-grep-e")
    _edit(tree / "Makefile", "PATCHLEVEL", "<<<<<<< HEAD\nPATCHLEVEL")
    with pytest.raises(RulesError, match=r"Makefile:\d+: merge-conflict marker"):
        load_rules(tree)
    tree = _tree(tmp_path / "k", "f4-m2-kallsyms-object")
    (tree / "scripts" / "kallsyms.c").unlink()
    with pytest.raises(RulesError, match=r"kallsyms.c: missing"):
        load_rules(tree)
