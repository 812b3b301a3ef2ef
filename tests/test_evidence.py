"""Never a confident wrong answer: what evidence says which names the linker made,
stages that cannot be judged, families that leave out what varies, exit statuses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from lldbisect.analysis.check import check_build, diff_files
from lldbisect.analysis.convergence import EvidenceSource, Verdict, linker_made
from lldbisect.analysis.families import infer_families
from lldbisect.analysis.shapes import made_by_shape
from lldbisect.elf.archive import archive_members, member_files
from lldbisect.elf.reader import read_symbols
from lldbisect.elf.table import SymbolTable
from lldbisect.kernel.model import RuleKind
from lldbisect.kernel.repro import TinyArmBuild
from tests.test_check_layouts import THUNK_BAR, TREES, _build

RUN = [sys.executable, "-m", "lldbisect"]


def _table(names: list[str], letter: str = "t") -> SymbolTable:
    n = len(names)
    return SymbolTable(path="t", elf_class=32, machine="EM_ARM",
                       addresses=array("Q", range(0, 16 * n, 16)), sizes=array("Q", [0] * n),
                       letters=letter * n, infos=bytes(n), shndx=array("I", [1] * n),
                       section_names=(), names=names)


def test_shapes_never_call_kernel_naming_linker_made() -> None:
    """x86's and the kernel's own affixed names share the shape `__<word>_<sym>`."""
    kernel = ["foo", "bar", "baz", "__pfx_foo", "__cfi_foo", "__do_sys_foo", "__se_sys_foo",
              "bar_init", "__baz_exit", "____do_softirq", "__add_preferred_console",
              "__x86_indirect_thunk_rax", "foo.constprop.0", "bar_show", "__UNIQUE_ID_x12"]
    assert made_by_shape(_table(kernel), lambda n: False) == set()
    linker = ["__ARMv4PILongBXThunk_foo", "__ArmNewStyleThunk_bar", "__foo_veneer",
              "00000018.long_branch.bar", "00008000.got2.plt_pic32.baz+8000",
              "__CortexA53843419_101000", "__long_branch_foo"]
    found = made_by_shape(_table(kernel + linker), lambda n: False)
    assert found == set(linker)
    # Only local code: a global or data name of the same shape is the kernel's.
    assert made_by_shape(_table(["foo", "__ARMv4PILongBXThunk_foo"], "T"),
                         lambda n: False) == set()


def test_families_leave_out_addresses_counters_and_addends() -> None:
    made = ["__CortexA53843419_101000", "__CortexA53843419_1FF000", "__CortexA8657417_100FFE",
            "00000000.long_branch.100001", "00000000.long_branch.foo+8000",
            "00008000.got2.plt_pic32.bar", "00000000.plt_call32.baz", "__long_branch_",
            "__long_branch_foo", "stub.0001", "stub.0002", ""]
    got = {(f.kind, f.pattern): f for f in infer_families(made, ["foo", "bar", "baz"])}
    assert set(got) == {
        (RuleKind.PREFIX, "__CortexA53843419_"), (RuleKind.PREFIX, "__CortexA8657417_"),
        (RuleKind.SUBSTRING, ".long_branch."), (RuleKind.SUBSTRING, ".plt_pic32."),
        (RuleKind.SUBSTRING, ".plt_call32."), (RuleKind.PREFIX, "__long_branch_"),
        (RuleKind.PREFIX, "stub.")}
    assert got[(RuleKind.PREFIX, "__CortexA53843419_")].shape == "__CortexA53843419_<hex>"
    # The bare prefix joins its family: one rule, one entry.
    assert got[(RuleKind.PREFIX, "__long_branch_")].members == ("__long_branch_",
                                                               "__long_branch_foo")
    for f in got.values():
        assert not any(c.isdigit() for c in f.pattern.replace("32", "")
                       .replace("843419", "").replace("8657417", "").replace("53", "")), f


def test_bad_stages_get_one_line_errors(tmp_path: Path) -> None:
    tree = str(TREES / "f3-grep-e")
    empty = tmp_path / "empty.syms"
    empty.write_text("")
    blank = tmp_path / "blank.syms"
    blank.write_text("\n\n")
    huge = tmp_path / "huge.syms"
    huge.write_text("100000000000000000000 T foo\n")
    for a, b, what in ((empty, empty, "empty"), ("/dev/null", "/dev/null", "empty"),
                       (blank, blank, "no symbols"), (huge, huge, "does not fit 64 bits")):
        done = subprocess.run([*RUN, "diff", str(a), str(b), "--kernel", tree],
                              capture_output=True, text=True)
        assert done.returncode == 2, (a, done.stderr)
        assert what in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr


def test_stages_of_two_machines_are_refused(tmp_path: Path) -> None:
    objs = []
    for triple in ("armv7a-linux-gnueabihf", "x86_64-linux-gnu"):
        src = tmp_path / "f.c"
        src.write_text("void far_func(void) {}\n")
        obj = tmp_path / f"{triple}.o"
        subprocess.run(["clang", f"--target={triple}", "-c", str(src), "-o", str(obj)],
                       check=True)
        objs.append(str(obj))
    done = subprocess.run([*RUN, "diff", *objs, "--kernel", str(TREES / "f3-grep-e")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "not stages of one link" in done.stderr, done.stderr


def test_one_stage_is_no_verdict(tmp_path: Path) -> None:
    d = _build(tmp_path, "6.1-6.9", "f3-grep-e", [THUNK_BAR], final=None)
    done = subprocess.run([*RUN, "check", str(d)], capture_output=True, text=True)
    assert done.returncode == 4, done.stderr
    assert "nothing to compare" in done.stderr and not done.stdout


def test_streams_are_read_once_whole(tmp_path: Path) -> None:
    listing = "".join(f"c00{k:05x} t fn_{k}\n" for k in range(20000))
    listing += "c0100000 t __ARMv4PILongBXThunk_fn_1\n"
    done = subprocess.run([*RUN, "rules", str(TREES / "f3-grep-e"), "--apply", "/dev/stdin"],
                          input=listing, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("fn_") == 20001  # every line, from the first


def test_unconfirmed_evidence_is_labelled_and_proposes_nothing(tmp_path: Path) -> None:
    d = _build(tmp_path, "6.1-6.9", "f3-grep-e", [[], THUNK_BAR], final=THUNK_BAR)
    r = check_build(d)
    assert r.comparison.evidence.source is EvidenceSource.SHAPES
    assert "unconfirmed" in r.comparison.reason
    text = subprocess.run([*RUN, "check", str(d)], capture_output=True, text=True).stdout
    assert "UNCONFIRMED" in text and "[unconfirmed]" in text
    done = subprocess.run([*RUN, "propose", str(d)], capture_output=True, text=True)
    assert done.returncode == 1 and "--unconfirmed" in done.stderr and not done.stdout


def test_internal_errors_are_one_line_and_their_own_status(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from lldbisect.analysis import check
    from lldbisect.cli import app

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(check, "load_rules", broken)
    monkeypatch.setattr(sys, "argv", ["lldbisect", "rules", str(TREES / "f3-grep-e")])
    monkeypatch.delenv("LLDBISECT_DEBUG", raising=False)
    with pytest.raises(SystemExit) as e:
        app.main()
    err = capsys.readouterr().err
    assert e.value.code == 70 and "internal error: RuntimeError: boom" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setattr(sys, "argv", ["lldbisect", "--debug", "rules", str(TREES / "f3-grep-e")])
    with pytest.raises(SystemExit) as e:
        app.main()
    assert e.value.code == 70 and "Traceback" in capsys.readouterr().err
    os.environ.pop("LLDBISECT_DEBUG", None)


def test_output_errors_name_the_path(tmp_path: Path) -> None:
    d = _build(tmp_path, "6.1-6.9", "f3-grep-e", [[], THUNK_BAR], final=THUNK_BAR)
    for out, what in ((tmp_path, "is a directory"), (tmp_path / "no" / "x.patch",
                                                     "no directory")):
        done = subprocess.run([*RUN, "propose", str(d), "--unconfirmed", "-o", str(out)],
                              capture_output=True, text=True)
        assert done.returncode == 2 and what in done.stderr, done.stderr
    for doc in ("[]", "null", '"str"'):
        report = tmp_path / "r.json"
        report.write_text(doc)
        done = subprocess.run([*RUN, "propose", "--from", str(report), "--kernel",
                               str(TREES / "f3-grep-e")], capture_output=True, text=True)
        assert done.returncode == 2 and "not a report propose reads" in done.stderr, done.stderr


@pytest.mark.kernel
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_no_false_positive_on_a_distribution_kernel(arch: str, real_trees: dict[str, Path]
                                                    ) -> None:
    """Debian's cloud kernel (GCC and GNU ld, ~120k symbols, none made by the linker):
    by shape, nothing is linker-made, and comparing it with itself converges."""
    from lldbisect.kernel.sources import distro_vmlinux

    vmlinux = distro_vmlinux(arch)
    table = read_symbols(vmlinux)
    assert len(table) > 100_000
    assert linker_made(table, None) == set()
    done = subprocess.run([*RUN, "diff", str(vmlinux), str(vmlinux), "--kernel",
                           str(real_trees["6.1"])], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "verdict: converged" in done.stdout


@pytest.mark.kernel
@pytest.mark.realbuild
def test_failing_build_without_vmlinux_o_or_linker_script(tiny_arm: TinyArmBuild,
                                                          tmp_path: Path) -> None:
    """The failing ARMv5 link: without vmlinux.o its archives still confirm the one
    family; without the linker script too; without any object, an honest refusal."""
    found = tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld")
    assert found is not None
    copy = tmp_path / "build"
    # Hard links: the copy costs nothing, and removing files from it leaves the build.
    subprocess.run(["cp", "-al", str(tiny_arm.build_dir), str(copy)], check=True)
    (copy / "vmlinux.o").unlink()
    with member_files(copy / "vmlinux.a") as objs:
        assert len(objs) > 100 and archive_members(copy / "vmlinux.a")[0][1] is None

    def patch_lines() -> tuple[int, list[str], str]:
        done = subprocess.run([*RUN, "propose", str(copy)], capture_output=True, text=True)
        return done.returncode, [ln for ln in done.stdout.splitlines()
                                 if ln.startswith("+") and not ln.startswith("+++")], \
            done.stderr

    r = check_build(copy)
    assert r.comparison.verdict is Verdict.DIVERGED
    assert r.comparison.evidence.source is EvidenceSource.OBJECTS
    assert [f.family.pattern for f in r.comparison.families] == ["__ARMv4PILongBXThunk_"]
    status, added, err = patch_lines()
    assert status == 0 and added == ['+\t\t"__ARMv4PILongBXThunk_",'], err
    (copy / "arch/arm/kernel/vmlinux.lds").unlink()
    status, added, err = patch_lines()
    assert status == 0 and added == ['+\t\t"__ARMv4PILongBXThunk_",'], err
    for a in ("vmlinux.a", "built-in.a"):
        (copy / a).unlink(missing_ok=True)
    r = check_build(copy)
    assert r.comparison.evidence.source is EvidenceSource.SHAPES
    assert [f.family.pattern for f in r.comparison.families] == ["__ARMv4PILongBXThunk_"]
    status, added, err = patch_lines()
    assert status == 1 and not added and "--unconfirmed" in err
    assert (tiny_arm.build_dir / "vmlinux.o").is_file()  # the build itself untouched


def test_scan_commit_in_a_shallow_clone_says_so(tmp_path: Path) -> None:
    src, shallow = tmp_path / "src", tmp_path / "shallow"
    src.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", str(src)], check=True)
    for k in range(2):
        (src / "f").write_text(str(k))
        subprocess.run([*git, "-C", str(src), "add", "f"], check=True)
        subprocess.run([*git, "-C", str(src), "commit", "-qm", f"c{k}"], check=True)
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{src}", str(shallow)],
                   check=True)
    done = subprocess.run([*RUN, "scan-commit", str(shallow), "HEAD"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "shallow" in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1


def _patch_body(text: str) -> str:
    """A patch without its date lines, which name the second it was written."""
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith(("From ", "Date:")))


def test_propose_from_a_report_is_as_faithful_as_from_the_build(tmp_path: Path) -> None:
    final = [*THUNK_BAR, "c0200030 t __ARMv4PILongBXThunk_local_fn"]
    build = _build(tmp_path, "6.1-6.9", "f3-grep-e", [[], THUNK_BAR], final=final)
    direct = subprocess.run([*RUN, "propose", str(build), "--unconfirmed"],
                            capture_output=True, text=True)
    assert direct.returncode == 0, direct.stderr
    for schema, argv in (("check", ["check", str(build)]),
                         ("diff", ["diff", str(build / ".tmp_vmlinux.kallsyms2.syms"),
                                   str(build / "System.map"), "--kernel",
                                   str(TREES / "f3-grep-e")])):
        report = tmp_path / f"{schema}.json"
        report.write_text(subprocess.run([*RUN, *argv, "--json"], capture_output=True,
                                         text=True).stdout)
        done = subprocess.run([*RUN, "propose", "--from", str(report), "--unconfirmed",
                               "--kernel", str(TREES / "f3-grep-e")],
                              capture_output=True, text=True)
        assert done.returncode == 0, (schema, done.stderr)
        if schema == "check":
            assert _patch_body(done.stdout) == _patch_body(direct.stdout)
    # No log said "Inconsistent kallsyms data", so the message does not quote it; it
    # says what the stages show, and how many the last pass really added.
    assert "Inconsistent kallsyms data" not in direct.stdout
    assert "does not converge" in direct.stdout
    words = " ".join(direct.stdout.split())
    assert "From kallsyms pass 1 to kallsyms pass 2, 1 of them appear:" \
           " __ARMv4PILongBXThunk_bar." in words
    assert "From kallsyms pass 2 to vmlinux, 1 of them appear:" \
           " __ARMv4PILongBXThunk_local_fn." in words
    # A target tree whose rules already hide the family gets no patch, either way.
    report = tmp_path / "check.json"
    for argv, why in ((["propose", str(build)], "an ignore rule would not help"),
                      (["propose", "--from", str(report)], "already hidden")):
        done = subprocess.run([*RUN, *argv, "--unconfirmed", "--kernel", str(TREES / "f4-m3")],
                              capture_output=True, text=True)
        assert done.returncode == 1 and why in done.stderr, (argv, done.stderr)
    log = tmp_path / "build.log"
    log.write_text("  KSYMS   .tmp_vmlinux.kallsyms2.S\nInconsistent kallsyms data\n"
                   "Try make KALLSYMS_EXTRA_PASS=1 as a workaround\n")
    done = subprocess.run([*RUN, "propose", str(build), "--unconfirmed", "--log", str(log)],
                          capture_output=True, text=True)
    assert "  Inconsistent kallsyms data" in done.stdout


def test_a_pattern_that_hides_a_real_kernel_symbol_is_not_safe(tmp_path: Path) -> None:
    final = [*THUNK_BAR, "c0200030 t __ARMv4PILongBXThunk_local_fn"]
    build = _build(tmp_path, "6.1-6.9", "f3-grep-e", [[], THUNK_BAR], final=final)
    other = tmp_path / "other-kernel.map"
    other.write_text("c0008000 T __ARMv4PILongBXThunk_is_a_function_there\n")
    r = check_build(build, corpus=[other])
    (fam,) = r.comparison.families
    assert fam.safe_pattern is None and fam.collateral == [
        "__ARMv4PILongBXThunk_is_a_function_there"]
    assert r.comparison.corpus == ("other-kernel.map",)
    done = subprocess.run([*RUN, "propose", str(build), "--unconfirmed", "--corpus",
                           str(other)], capture_output=True, text=True)
    added = [ln for ln in done.stdout.splitlines() if ln.startswith("+\t")]
    assert done.returncode == 0 and all('Thunk_"' not in ln for ln in added), added
    report = tmp_path / "r.json"
    (tmp_path / "none.map").write_text("c0008000 T unrelated\n")
    report.write_text(subprocess.run([*RUN, "check", str(build), "--json", "--corpus",
                                      str(tmp_path / "none.map")], capture_output=True,
                                     text=True).stdout)
    # From a report made without that kernel: --corpus judges the pattern again.
    done = subprocess.run([*RUN, "propose", "--from", str(report), "--kernel",
                           str(TREES / "f3-grep-e"), "--unconfirmed", "--corpus", str(other)],
                          capture_output=True, text=True)
    added = [ln for ln in done.stdout.splitlines() if ln.startswith("+\t")]
    assert done.returncode == 0 and added and all('Thunk_"' not in ln for ln in added), added


def test_a_patch_for_address_bearing_names_says_what_varies(tmp_path: Path) -> None:
    patch_a = ["c0200010 t __CortexA53843419_101000"]
    final = [*patch_a, "c0200020 t __CortexA53843419_1FF000"]
    build = _build(tmp_path, "6.1-6.9", "f3-grep-e", [[], patch_a], final=final)
    done = subprocess.run([*RUN, "propose", str(build), "--unconfirmed"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    added = [ln for ln in done.stdout.splitlines() if ln.startswith("+\t")]
    # One prefix for the erratum patches (the fixture's own thunk family aside), and no
    # address in any entry.
    assert any('"__CortexA53843419_",' in ln for ln in added), added
    assert not any("101000" in ln or "1FF000" in ln for ln in added), added
    words = " ".join(done.stdout.split())
    assert "(__CortexA53843419_<hex>) carry an address, which the next layout changes" in words


@pytest.mark.parametrize(("target", "ld"), [("arm-linux-gnueabihf", "arm-linux-gnueabihf-ld"),
                                           ("mips-linux-gnu", "mips-linux-gnu-ld"),
                                           ("arm-linux-gnueabihf", "ld.lld")])
def test_a_link_without_a_script_of_its_own_has_no_default_symbols_for_thunks(
        tmp_path: Path, target: str, ld: str) -> None:
    """GNU ld's default script (ld --verbose) and lld's reserved symbols define
    __bss_start__, _bss_end__, __end__, _fbss, _fdata, _ftext, _gp...: the linker's, but
    fixed in number, so never a family to hide."""
    lld = sorted(Path("/usr/lib").glob("llvm-*/bin/ld.lld"))
    linker = shutil.which(ld) or (str(lld[-1]) if lld and ld == "ld.lld" else None)
    if linker is None or not shutil.which("clang"):
        pytest.skip(f"needs {ld} and clang")
    src = tmp_path / "a.s"
    src.write_text(".text\n.globl _start\n_start: nop\n.data\n.globl d\nd: .word 1\n")
    obj, out = tmp_path / "a.o", tmp_path / "a.out"
    subprocess.run(["clang", f"--target={target}", "-c", str(src), "-o", str(obj)],
                   check=True)
    subprocess.run([str(linker), str(obj), "-o", str(out)], check=True, capture_output=True)
    c, _checks, _note = diff_files(out, out, TREES / "f4-m3", inputs=[obj])
    assert [s.made for s in c.stages] == [frozenset(), frozenset()], c.stages[0].table.names
    assert c.verdict is Verdict.CONVERGED
