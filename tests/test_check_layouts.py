"""check on build directories of every era's layout, built from nm listings of our own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lldbisect.analysis.check import check_build, diff_files
from lldbisect.analysis.convergence import Verdict
from lldbisect.errors import InputError

TREES = Path(__file__).parent / "fixtures" / "trees"
BASE = ["c0008000 T _text", "c0008100 T foo", "c0008200 T bar", "c0008300 t local_fn",
        "c0100000 D some_data", "c0200000 t __ARMv4PILongBXThunk_foo"]


def _listing(extra: list[str]) -> str:
    return "\n".join(sorted(BASE + extra)) + "\n"


LAYOUTS = {
    "3.x-5.6": (".tmp_vmlinux{n}", None, ".tmp_kallsyms{n}.o"),
    "5.7-6.0": (".tmp_vmlinux.kallsyms{n}", None, ".tmp_vmlinux.kallsyms{n}.o"),
    "6.1-6.9": (".tmp_vmlinux.kallsyms{n}", ".tmp_vmlinux.kallsyms{n}.syms",
                ".tmp_vmlinux.kallsyms{n}.o"),
    "6.10+": (".tmp_vmlinux{n}", ".tmp_vmlinux{n}.syms", ".tmp_vmlinux{n}.kallsyms.o"),
}


def _build(tmp: Path, layout: str, tree: str, passes: list[list[str]],
           final: list[str] | None) -> Path:
    d = tmp / layout
    d.mkdir()
    (d / "source").symlink_to(TREES / tree)
    image, syms, obj = LAYOUTS[layout]
    for n, extra in enumerate(passes, start=1):
        (d / image.format(n=n)).write_text(_listing(extra))
        if syms:
            (d / syms.format(n=n)).write_text(_listing(extra))
        (d / obj.format(n=n)).write_bytes(b"\0" * (100 + 10 * len(extra)))
    if not syms:
        (d / ".tmp_System.map").write_text(_listing(passes[-1]))
    if final is not None:
        (d / "vmlinux").write_text(_listing(final))
        (d / "System.map").write_text(_listing(final))
    return d


THUNK_BAR = ["c0200010 t __ARMv4PILongBXThunk_bar"]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_diverges_on_a_new_thunk(tmp_path: Path, layout: str) -> None:
    third = [*THUNK_BAR, "c0200020 t __ARMv4PILongBXThunk_local_fn"]
    d = _build(tmp_path, layout, "f3-grep-e", [[], THUNK_BAR, third], final=THUNK_BAR)
    r = check_build(d)
    assert r.stages.layout == layout and r.stages.third_pass
    assert r.comparison.verdict is Verdict.DIVERGED
    assert r.comparison.culprits == ["__ARMv4PILongBXThunk_local_fn"]
    assert r.system_map_matches is False


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_converges_when_the_tree_hides_thunks(tmp_path: Path,
                                                           layout: str) -> None:
    d = _build(tmp_path, layout, "f4-m3", [[], THUNK_BAR, THUNK_BAR], final=THUNK_BAR)
    r = check_build(d)
    assert r.comparison.verdict is Verdict.CONVERGED, r.comparison.reason
    assert r.system_map_matches is True


def test_diverged_other_blames_no_linker(tmp_path: Path) -> None:
    d = _build(tmp_path, "6.1-6.9", "f4-m3", [[], ["c0300000 T kallsyms_new_thing"]],
               final=["c0300000 T kallsyms_new_thing", "c0300010 T another_new_thing"])
    r = check_build(d)
    assert r.comparison.verdict is Verdict.DIVERGED_OTHER
    # No vmlinux.o here: the reason says what it cannot know.
    assert r.comparison.culprits == [] and "unconfirmed" in r.comparison.reason
    assert not r.comparison.evidence.confirmed


def test_at_risk_when_thunks_are_visible_but_stable(tmp_path: Path) -> None:
    d = _build(tmp_path, "6.1-6.9", "f3-grep-e", [[], THUNK_BAR, THUNK_BAR], final=THUNK_BAR)
    r = check_build(d)
    assert r.comparison.verdict is Verdict.AT_RISK
    (family,) = r.comparison.families
    assert family.family.pattern == "__ARMv4PILongBXThunk_" and len(family.visible) == 2


def test_log_message_is_reported(tmp_path: Path) -> None:
    d = _build(tmp_path, "6.10+", "f3-grep-e", [[], THUNK_BAR], final=None)
    log = ("  LD  vmlinux\nInconsistent kallsyms data\n"
           "Try \"make KALLSYMS_EXTRA_PASS=1\" as a workaround\n")
    r = check_build(d, log=log)
    assert r.failure_message is not None and "KALLSYMS_EXTRA_PASS" in r.failure_message
    assert r.comparison.verdict is Verdict.DIVERGED


def test_diff_two_listings(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(_listing([]))
    b.write_text(_listing(THUNK_BAR))
    c, _checks, _note = diff_files(a, b, TREES / "f3-grep-e")
    assert c.verdict is Verdict.DIVERGED and c.culprits == ["__ARMv4PILongBXThunk_bar"]
    assert diff_files(a, b, TREES / "f4-m3")[0].verdict is Verdict.CONVERGED
    done = subprocess.run([sys.executable, "-m", "lldbisect", "diff", str(a), str(b),
                           "--kernel", str(TREES / "f3-grep-e")], capture_output=True,
                          text=True)
    assert done.returncode == 1 and "culprit: __ARMv4PILongBXThunk_bar" in done.stdout


def test_no_stages_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no link stages"):
        check_build(tmp_path)
    done = subprocess.run([sys.executable, "-m", "lldbisect", "check", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1


@pytest.mark.kernel
def test_layouts_are_the_ones_the_real_scripts_write(real_trees: dict[str, Path]) -> None:
    """The table above is ours; the real link-vmlinux.sh of Debian's 6.1 and 6.12 are
    the witnesses: each name of the era's row is one the script really writes (its
    pass number is the script's ``$1``/``${1}``, or written out for pass 1)."""
    from lldbisect.kernel.rules import load_rules

    witness = {"6.1": ["kallsyms_vmlinux=.tmp_vmlinux.kallsyms${1}",
                       "kallsymso=${kallsyms_vmlinux}.o",
                       "mksysmap ${kallsyms_vmlinux} ${kallsyms_vmlinux}.syms"],
               "6.12": ["vmlinux_link .tmp_vmlinux1", 'mksysmap "${1}" "${1}.syms"',
                        'kallsyms "${1}.syms" "${1}.kallsyms"', "kallsymso=${2}.o"]}
    rows = {"6.1": "6.1-6.9", "6.12": "6.10+"}
    for key, tree in real_trees.items():
        script = (tree / "scripts" / "link-vmlinux.sh").read_text()
        assert load_rules(tree).version.startswith(key + ".")
        for line in witness[key]:
            assert line in script, (key, line)
        image, syms, obj = LAYOUTS[rows[key]]
        assert syms == image + ".syms"
        if key == "6.1":
            assert (image, obj) == (".tmp_vmlinux.kallsyms{n}", image + ".o")
        else:  # kallsyms "$1.syms" "$1.kallsyms" makes $1.kallsyms.S, built to .o
            assert (image, obj) == (".tmp_vmlinux{n}", image + ".kallsyms.o")
