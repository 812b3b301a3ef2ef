"""Shell functions read as the shell runs them; what the model cannot read at all is
answered by running the tree's own scripts, and said to be."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lldbisect.analysis.check import check_build
from lldbisect.analysis.convergence import Verdict
from lldbisect.errors import InputError, RulesError
from lldbisect.kernel.model import RuleKind
from lldbisect.kernel.rules import load_rules
from lldbisect.patch.propose import propose
from tests.proposing import ARMV4, finding
from tests.test_check_layouts import THUNK_BAR, _build
from tests.test_crosscheck import _agree
from tests.test_rules_errors import _edit, _tree

TREES = Path(__file__).parent / "fixtures" / "trees"
# A vendor tree whose mksysmap reads its patterns from a file it finds by `$(dirname $0)`:
# the model cannot read it, so it is no era fixture (those the model reads whole).
UNREAD = Path(__file__).parent / "fixtures" / "unread" / "vendor-sed-file"
RUN = [sys.executable, "-m", "lldbisect"]
SYMBOLS = [("foo", "T"), ("__ARMV5PILongThunk_foo", "t"), ("__ARMv4PILongBXThunk_foo", "t"),
           ("kallsyms_names", "T"), ("$a", "t"), ("bar_veneer", "t"), ("__crc_x", "A")]


def _exact(tree: Path) -> set[str]:
    return {r.pattern for r in load_rules(tree).rules if r.kind is RuleKind.EXACT}


def _kinds(tree: Path) -> list[tuple[RuleKind, str]]:
    return [(r.kind, r.pattern) for r in load_rules(tree).rules]


def test_a_function_gets_its_own_arguments(tmp_path: Path) -> None:
    """vendor-functions runs the sed program in a function called without arguments:
    there `$#` is 0, so the kallsyms object's line drops nothing, as the real sh says."""
    tree = TREES / "vendor-functions"
    assert "__ARMV5PILongThunk_" in {r.pattern for r in load_rules(tree).rules}
    assert "kallsyms_names" not in _exact(tree)
    assert "kallsyms_names" in _exact(TREES / "f4-m2-kallsyms-object")
    _agree(tree, SYMBOLS)
    # The same function given the script's arguments, and written on one line.
    copy = _tree(tmp_path, "vendor-functions")
    script = copy / "scripts" / "mksysmap"
    _edit(script, "filter_names()\n{\n\tsed", "filter_names() { sed")
    _edit(script, '"\n}\n', '"; }\n')
    _edit(script, "| filter_names >${2}", '| filter_names "$1" "$2" "$3" >${2}')
    assert "kallsyms_names" in _exact(copy)
    _agree(copy, SYMBOLS)


def test_a_whole_pipeline_in_a_function_writes_system_map(tmp_path: Path) -> None:
    copy = _tree(tmp_path, "f4-m2-kallsyms-object")
    script = copy / "scripts" / "mksysmap"
    _edit(script, '${NM} -n ${1} | sed >${2} -e "', 'make_map () {\n\t${NM} -n "$1" | sed -e "')
    script.write_text(script.read_text().rstrip("\n")
                      + ' > "$2"\n}\n\nmake_map "$1" "$2" "$3"\n')
    assert _kinds(copy) == _kinds(TREES / "f4-m2-kallsyms-object")
    _agree(copy, SYMBOLS)
    _edit(script, "\n}\n", "\n")
    with pytest.raises(RulesError, match=r"mksysmap:\d+: shell syntax error \(sh -n\)"):
        load_rules(copy)


def test_what_the_model_cannot_read_is_refused_or_left_to_the_real_scripts() -> None:
    tree = UNREAD
    with pytest.raises(RulesError, match=r"mksysmap:\d+: `\$\(dirname \$0\)"):
        load_rules(tree)
    partial = load_rules(tree, partial=True)
    assert partial.unread and partial.unread[0].startswith("scripts/mksysmap:")
    assert not [r for r in partial.rules if r.file == "scripts/mksysmap"]


def test_rules_apply_answers_by_running_what_it_cannot_read(tmp_path: Path) -> None:
    listing = tmp_path / "l.txt"
    listing.write_text("".join(f"{0x1000 + 4 * k:08x} {t} {n}\n"
                               for k, (n, t) in enumerate(SYMBOLS)))
    tree = str(UNREAD)
    refused = subprocess.run([*RUN, "rules", tree, "--apply", str(listing)],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "--run-scripts takes the answer" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    done = subprocess.run([*RUN, "rules", tree, "--apply", str(listing), "--run-scripts",
                           "--json"], capture_output=True, text=True, check=True)
    doc = json.loads(done.stdout)
    seen = {s["name"]: s["in_kallsyms"] for s in doc["symbols"]}
    # The names file hides the old thunk name, the veneer and $a; the kallsyms object's
    # line (the shell's $3) hides kallsyms_names; the new lld 16 name stays visible.
    assert seen == {"foo": True, "__ARMV5PILongThunk_foo": False,
                    "__ARMv4PILongBXThunk_foo": True, "kallsyms_names": False, "$a": False,
                    "bar_veneer": False, "__crc_x": False}
    assert doc["cross_check"]["answer"] == "real tools" and doc["unread"]
    text = subprocess.run([*RUN, "rules", tree, "--run-scripts"], capture_output=True,
                          text=True, check=True).stdout
    assert "not read by the model: scripts/mksysmap:" in text


def test_check_and_propose_on_a_tree_the_model_cannot_read(tmp_path: Path) -> None:
    third = [*THUNK_BAR, "c0200020 t __ARMv4PILongBXThunk_local_fn"]
    d = _build(tmp_path, "6.1-6.9", str(UNREAD), [[], THUNK_BAR, third], THUNK_BAR)
    r = check_build(d)  # the build's own tree: its scripts run
    assert r.comparison.verdict is Verdict.DIVERGED
    assert r.comparison.culprits == ["__ARMv4PILongBXThunk_local_fn"]
    assert r.cross_checks and all(c.answer == "real tools" for c in r.cross_checks)
    with pytest.raises(RulesError, match="--run-scripts takes the answer"):
        check_build(d, run_scripts=False)
    # The rule belongs in the names file, which no edit of ours knows: said, not guessed.
    with pytest.raises(InputError, match=r"cannot place the rule .* add by hand, where the"
                                         r" tree keeps its name patterns: / __ARMv4PILongBX"):
        propose(finding(ARMV4), r.rules, author="A <a@b>", date="now")


def test_an_edit_to_an_unread_mksysmap_is_proved_by_running_it(tmp_path: Path) -> None:
    """Where the edit can be made, the patched script is run on the family's names."""
    tree = _tree(tmp_path, "f4-m2-kallsyms-object")
    script = tree / "scripts" / "mksysmap"
    # The same line in backquotes, which double quotes keep for the shell to run.
    line = next(ln for ln in script.read_text().splitlines() if ln.startswith("$(if"))
    _edit(script, line, "`" + line[2:-1].replace("\\", "\\\\") + "`")
    rules = load_rules(tree, partial=True)
    assert rules.unread
    proposal = propose(finding(ARMV4), rules, author="A <a@b>", date="now")
    assert proposal.patch is not None and "+/ __ARMv4PILongBXThunk_/d" in proposal.patch


def test_an_edit_that_breaks_the_script_is_not_proved(tmp_path: Path) -> None:
    """A patched script that no longer runs writes an empty System.map, which would
    'hide' every family: an ordinary function kept visible is the proof's control."""
    from lldbisect.patch.edit import FileEdit
    from lldbisect.patch.propose import _prove_unread

    tree = _tree(tmp_path, "f4-m2-kallsyms-object")
    script = tree / "scripts" / "mksysmap"
    line = next(ln for ln in script.read_text().splitlines() if ln.startswith("$(if"))
    _edit(script, line, "`" + line[2:-1].replace("\\", "\\\\") + "`")
    rules = load_rules(tree, partial=True)
    empty = FileEdit("scripts/mksysmap", script.read_text(), '#!/bin/sh\n: > "$2"\n')
    with pytest.raises(InputError, match="hides even an ordinary function"):
        _prove_unread(rules, empty, finding(ARMV4))
    failing = FileEdit("scripts/mksysmap", script.read_text(), "#!/bin/sh\nexit 3\n")
    with pytest.raises(InputError, match=r"the tree's own scripts do not run .*exited 3"):
        _prove_unread(rules, failing, finding(ARMV4))


def test_a_function_given_the_scripts_own_arguments(tmp_path: Path) -> None:
    """`f "$@"` passes the script's arguments: $# and $3 inside are the script's, so the
    6.4-6.9 kallsyms-object line still drops the object's names, as the real sh does."""
    copy = _tree(tmp_path, "vendor-functions")
    _edit(copy / "scripts" / "mksysmap", "| filter_names >${2}", '| filter_names "$@" >${2}')
    assert "kallsyms_names" in _exact(copy)
    _agree(copy, SYMBOLS)
    _edit(copy / "scripts" / "mksysmap", '"$@"', '"$@" extra')
    with pytest.raises(RulesError, match=r'called with "\$@" among other'):
        load_rules(copy)
