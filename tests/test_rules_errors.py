"""Trees we cannot read: one clear error naming the file, the line and what was expected."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lldbisect.errors import RulesError
from lldbisect.kernel.rules import load_rules

TREES = Path(__file__).parent / "fixtures" / "trees"


def _tree(tmp_path: Path, base: str = "f3-grep-e") -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(TREES / base, tree)
    return tree


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


CASES = {
    "conflict-kallsyms": ("scripts/kallsyms.c", '\t\t"__efistub_",',
                          '<<<<<<< HEAD\n\t\t"__efistub_",\n=======\n\t\t"__x_",\n>>>>>>> b\n',
                          "scripts/kallsyms.c:25: merge-conflict marker '<<<<<<<'"),
    "conflict-mksysmap": ("scripts/mksysmap", "$NM -n $1", "=======\n$NM -n $1",
                          "scripts/mksysmap:9: merge-conflict marker '======='"),
    "no-null": ("scripts/kallsyms.c", '\t\t"_veneer",\t\t/* arm */\n\t\tNULL',
                '\t\t"_veneer",\t\t/* arm */\n', "does not end with NULL"),
    "unknown-array": ("scripts/kallsyms.c", "static const char * const ignored_suffixes[]",
                      "static const char * const odd_list[]", "array odd_list[]: cannot tell"),
    "no-filter-function": ("scripts/kallsyms.c", "bool is_ignored_symbol(", "bool other(",
                           "no is_ignored_symbol()"),
    "odd-condition": ("scripts/kallsyms.c", "if (type == 'U' || type == 'u')",
                      "if (type == 'U' || weird(name))", "cannot evaluate the condition"
                      " `weird(name)`"),
    "no-pipeline": ("scripts/mksysmap", "$NM -n $1 | grep -v", "cat $1 | grep -v",
                    "no `$NM -n` pipeline"),
    "grep-keeps": ("scripts/mksysmap", "grep -v", "grep", "expected grep -v"),
    "unquoted": ("scripts/mksysmap", "-e ' \\.L'", "-e ' \\.L", "Unterminated quoted string"),
    "odd-command": ("scripts/mksysmap", "> $2", "| sort > $2", "unexpected command `sort`"),
    "bad-bracket": ("scripts/mksysmap", "-e ' [aNUw] '", "-e ' [aNUw '", "unterminated ["),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unreadable_rules(tmp_path: Path, case: str) -> None:
    file, old, new, expect = CASES[case]
    tree = _tree(tmp_path)
    _edit(tree / file, old, new)
    with pytest.raises(RulesError) as err:
        load_rules(tree)
    assert expect in err.value.message and "\n" not in err.value.message


def test_sed_command_we_cannot_evaluate(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "f4-m3")
    _edit(tree / "scripts/mksysmap", "/ __crc_/d", "s/ __crc_/ crc_/")
    with pytest.raises(RulesError, match=r"scripts/mksysmap:\d+: unsupported sed command"):
        load_rules(tree)


@pytest.mark.parametrize(("setup", "expect"), [
    ("missing", "no such directory"),
    ("file", "not a directory"),
    ("empty", "not a kernel tree"),
    ("neither", "neither mksysmap nor kallsyms.c"),
    ("no-mksysmap", "scripts/mksysmap: missing"),
    ("bad-makefile", "no VERSION and PATCHLEVEL"),
])
def test_not_a_tree(tmp_path: Path, setup: str, expect: str) -> None:
    path = tmp_path / "k"
    if setup == "file":
        path.write_text("x")
    elif setup != "missing":
        path.mkdir()
    if setup in ("neither", "no-mksysmap", "bad-makefile"):
        (path / "scripts").mkdir()
        (path / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\n")
    if setup == "no-mksysmap":
        shutil.copy(TREES / "f4-m3/scripts/kallsyms.c", path / "scripts")
    if setup == "bad-makefile":
        (path / "Makefile").write_text("all:\n")
        shutil.copy(TREES / "f4-m3/scripts/kallsyms.c", path / "scripts")
        shutil.copy(TREES / "f4-m3/scripts/mksysmap", path / "scripts")
    with pytest.raises(RulesError, match=expect):
        load_rules(path)


def test_cli_error_is_one_line_exit_2(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    _edit(tree / "scripts/kallsyms.c", '\t\t"_veneer",', '<<<<<<< ours\n\t\t"_veneer",')
    done = subprocess.run([sys.executable, "-m", "lldbisect", "rules", str(tree)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"lldbisect: {tree}/scripts/kallsyms.c:")
