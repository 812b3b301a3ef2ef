"""The layout model against the real linkers: far calls of our own across a padding
object of our own, linked by ld.lld and GNU ld with a linker script of our own shaped
like the kernel's (code, page-aligned read-only data, code)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from lldbisect.analysis.convergence import Verdict
from lldbisect.errors import InputError
from lldbisect.kernel.snapshot import kept_build
from lldbisect.layouts.branches import (
    Branch,
    branch_model,
    direct_branches,
    image_branch_model,
    local_entries,
    thunk_targets,
)
from lldbisect.layouts.model import (
    ChainLink,
    LayoutModel,
    PassModel,
    TableFit,
    fit_layout,
    fit_table,
    script_alignments,
)
from lldbisect.layouts.padding import (
    PadSection,
    choose_section,
    landed,
    script_sections,
    write_padding,
)
from lldbisect.layouts.sweep import Layout, SweepPlan, SweepResult
from lldbisect.report.sweep import sweep_json, sweep_text
from tests.conftest import require

LLD = "/usr/lib/llvm-16/bin/ld.lld"
LLD19 = "/usr/lib/llvm-19/bin/ld.lld"  # --be8 came after lld 16
GNU_ARM = "arm-linux-gnueabihf-ld"
CLANG = "/usr/lib/llvm-14/bin/clang"
CALLS = 48
# Our own script, in the shapes a preprocessed vmlinux.lds has: AT(), ALIGN((1 << 12)),
# a location counter, a discarded section.
SCRIPT = """\
SECTIONS
{
  . = 0x10000;
  .text : { _stext = .; *(.text) }
  . = ALIGN(((1 << 12)));
  .rodata : AT(ADDR(.rodata) - 0) { *(.rodata) *(.rodata.*) }
  . = ALIGN((1 << 12));
  .init.text : AT(ADDR(.init.text) - 0) { *(.init.text .init.text.*) }
  /DISCARD/ : { *(.comment) }
}
"""


def _assembly() -> str:
    """Functions 1 KiB apart in .text (so that a page more of padding puts four more out
    of reach), called from .init.text across .rodata."""
    out = [".syntax unified", ".arm", '.section .text,"ax",%progbits']
    for i in range(CALLS):
        out += [f".globl f{i}", f".type f{i},%function", f"f{i}:", "bx lr", ".space 1020"]
    out += ['.section .init.text,"ax",%progbits', ".globl start", ".type start,%function",
            "start:"] + [f"bl f{i}" for i in range(CALLS)] + ["bx lr"]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(CLANG, LLD)
    d = tmp_path_factory.mktemp("layouts")
    (d / "calls.s").write_text(_assembly())
    (d / "link.lds").write_text(SCRIPT)
    subprocess.run([CLANG, "--target=armv5-linux-gnueabi", "-c", str(d / "calls.s"), "-o",
                    str(d / "calls.o")], check=True)
    return d


def _link(d: Path, padding: int, ld: str = LLD, name: str | None = None) -> Path:
    pad = d / f"pad{padding}.o"
    write_padding(pad, padding, d / "calls.o", ".rodata")
    out = d / (name or f"image{padding}-{Path(ld).name}")
    extra = ["--pic-veneer"] if "lld" in ld or "arm" in ld else []
    subprocess.run([ld, *extra, "-T", str(d / "link.lds"), "-o", str(out),
                    str(d / "calls.o"), str(pad)], check=True, capture_output=True)
    return out


# 32 MiB less the .text in front: the calls are at the edge of ARM's +-32 MiB reach.
EDGE = (1 << 25) - 0x1000 - 1024 * CALLS // 2


def test_script_sections_and_alignments() -> None:
    sections = script_sections(SCRIPT)
    assert list(sections) == [".text", ".rodata", ".init.text", "/DISCARD/"]
    assert sections[".rodata"] == [".rodata"]  # .rodata.* is no literal name
    assert sections[".init.text"] == [".init.text"]
    assert script_alignments(SCRIPT) == {4096}
    assert script_alignments(". = ALIGN(0x20); . = ALIGN(ADDR(.x)); . = ALIGN(0);") == {32}


def test_thunk_targets_by_name() -> None:
    """Every reading of a thunk's name, in the shapes lld and GNU ld give them."""
    assert thunk_targets("__ARMv4PILongBXThunk_printk") == ["printk"]
    assert thunk_targets("__AArch64ADRPThunk_do_one") == ["do_one"]
    assert thunk_targets("__LA25Thunk_f") == ["f"]
    assert thunk_targets("__memcpy_veneer") == ["memcpy"]
    assert thunk_targets("__f_from_thumb") == ["f"]
    assert thunk_targets("__long_branch_start_kernel") == ["start_kernel"]
    # a pcrel stub, or the long branch to a function called pcrel_f
    assert thunk_targets("__long_branch_pcrel_f") == ["f", "pcrel_f"]
    assert thunk_targets("__plt_pcrel_f") == ["f", "pcrel_f"]
    assert thunk_targets("__toc_save_f") == ["f"]
    assert thunk_targets("__gep_setup_f") == ["f"]
    assert thunk_targets("0000001a.long_branch.foo+0") == ["foo"]
    assert thunk_targets("00000003.plt_call_notoc.bar") == ["bar"]
    assert thunk_targets("00008000.plt_pic32.baz+8") == ["baz"]
    assert thunk_targets("printk") == []
    assert thunk_targets("__do_softirq") == []


PPC_CALL = """\
.abiversion 2
.section .text.callee,"ax",@progbits
.globl f
.type f,@function
f:
0: addis 2,12,.TOC.-0b@ha
   addi 2,2,.TOC.-0b@l
.localentry f, .-f
   blr
.section .text.caller,"ax",@progbits
.globl start
.type start,@function
start:
0: addis 2,12,.TOC.-0b@ha
   addi 2,2,.TOC.-0b@l
.localentry start, .-start
   bl f
   nop
   blr
"""


@pytest.mark.parametrize("gap", [0x1000, 0x3000000])
def test_ppc64_elfv2_calls_land_on_the_local_entry(tmp_path: Path, gap: int) -> None:
    """A bl within one TOC lands 8 bytes into its callee (after the TOC set-up): the
    call is found there, directly when near, through lld's __long_branch_ stub when
    past the 32 MiB reach."""
    require(CLANG, LLD)
    (tmp_path / "c.s").write_text(PPC_CALL)
    (tmp_path / "c.lds").write_text(
        f"SECTIONS {{ . = 0x10000; .text.callee : {{ *(.text.callee) }}"
        f" . = 0x10000 + {gap:#x}; .text.caller : {{ *(.text.caller) }} }}\n")
    subprocess.run([CLANG, "--target=powerpc64le-linux-gnu", "-c", str(tmp_path / "c.s"),
                    "-o", str(tmp_path / "c.o")], check=True)
    image = tmp_path / "image"
    subprocess.run([LLD, "-T", str(tmp_path / "c.lds"), "-o", str(image),
                    str(tmp_path / "c.o")], check=True, capture_output=True)
    with open(image, "rb") as f:
        assert local_entries(ELFFile(f)) == {"f": 0x10008, "start": 0x10000 + gap + 8}
    branches, _code, unknown = direct_branches(image, "EM_PPC64")
    assert unknown == 0
    (call,) = [b for b in branches if b.callee == "f"]
    assert call.target == 0x10008 and call.site == 0x10000 + gap + 8
    if gap < 1 << 25:
        assert call.thunk is None and call.margin > 0
    else:
        assert call.thunk is not None and call.thunk.startswith("__long_branch_")
        assert call.margin < 0


def test_ppc64_elfv1_has_no_branch_model(tmp_path: Path) -> None:
    """ELFv1's function symbols are descriptors in .opd, which no bl reaches: the model
    says it has nothing rather than seeing no branch."""
    require(CLANG)
    (tmp_path / "a.c").write_text("int g(void); int f(void) { return g() + 1; }\n")
    obj = tmp_path / "a.o"
    subprocess.run([CLANG, "--target=powerpc64-linux-gnu", "-mabi=elfv1", "-O2", "-c",
                    str(tmp_path / "a.c"), "-o", str(obj)], check=True)
    with open(obj, "rb") as f:
        model, why = branch_model(ELFFile(f), "EM_PPC64")
    assert model is None and "ELFv1" in why
    with pytest.raises(InputError, match="ELFv1"):
        direct_branches(obj, "EM_PPC64")


@pytest.mark.parametrize("ld, flags, note", [
    (LLD19, [], "BE32"), (LLD19, ["--be8"], "BE8"),
    (GNU_ARM, ["-EB", "--pic-veneer"], "BE32"),
    (GNU_ARM, ["-EB", "--be8", "--pic-veneer"], "BE8")])
def test_big_endian_arm_in_both_code_orders(tmp_path: Path, ld: str, flags: list[str],
                                            note: str) -> None:
    """Big-endian ARM stores code big-endian (BE32) or little-endian (BE8, the flag in
    the header says): the calls and their thunks are found in either. (lld 16 writes
    the instructions it relocates little-endian into a BE32 image: big-endian ARM came
    in lld 17.)"""
    require(CLANG, ld)
    (tmp_path / "calls.s").write_text(_assembly())
    (tmp_path / "link.lds").write_text(SCRIPT)
    subprocess.run([CLANG, "--target=armebv5-linux-gnueabi", "-c", str(tmp_path / "calls.s"),
                    "-o", str(tmp_path / "calls.o")], check=True)
    write_padding(tmp_path / "pad.o", EDGE, tmp_path / "calls.o", ".rodata")
    image = tmp_path / "image"
    subprocess.run([ld, *flags, "-T", str(tmp_path / "link.lds"), "-o", str(image),
                    str(tmp_path / "calls.o"), str(tmp_path / "pad.o")], check=True,
                   capture_output=True)
    model, why = image_branch_model(image, "EM_ARM")
    assert model is not None and why.endswith(note) and model.little is (note == "BE8")
    branches, _code, unknown = direct_branches(image, "EM_ARM")
    crossing = {b.callee for b in branches if b.site > b.target}
    assert unknown == 0 and crossing == {f"f{i}" for i in range(CALLS)}
    far = {b.callee for b in branches if b.margin < 0}
    assert far == {b.callee for b in branches if b.thunk} and 0 < len(far) < CALLS


@pytest.mark.parametrize("ld", [LLD, GNU_ARM])
def test_branches_and_thunks_of_a_real_link(objects: Path, ld: str) -> None:
    """Every call across the padding is found with its margin; those out of reach are
    exactly those the linker gave a thunk (lld) or a veneer (GNU ld)."""
    require(ld)
    image = _link(objects, EDGE, ld)
    branches, _code, unknown = direct_branches(image, "EM_ARM")
    pad = choose_section(image, objects / "link.lds", [(b.site, b.target) for b in branches])
    assert (pad.output, pad.input) == (".rodata", ".rodata")
    assert landed(image, pad, EDGE) is True
    crossing = [b for b in branches if (b.site < pad.start) != (b.target < pad.start)]
    assert unknown == 0 and {b.callee for b in crossing} == {f"f{i}" for i in range(CALLS)}
    far = {b.callee for b in crossing if b.margin < 0}
    thunked = {b.callee for b in crossing if b.thunk}
    assert far == thunked and 0 < len(far) < CALLS, (len(far), len(thunked))


def test_the_padding_lands_only_where_the_script_sends_it(objects: Path) -> None:
    """An input section the script does not name is an orphan elsewhere: landed says no."""
    image = _link(objects, EDGE)
    pad = PadSection(".text", ".text", 0, 0)
    assert landed(image, pad, EDGE) is False
    assert landed(image, pad, 8) is None  # too small to tell
    assert landed(objects / 'nothing', pad, EDGE) is None  # unreadable: unchecked


@pytest.mark.parametrize("target, ld", [("armv5-linux-gnueabi", GNU_ARM),
                                        ("x86_64-linux-gnu", "x86_64-linux-gnu-ld")])
def test_gnu_ld_takes_the_padding_without_a_warning(tmp_path: Path, target: str,
                                                    ld: str) -> None:
    """GNU ld >= 2.39 warns of an executable stack for an object without
    .note.GNU-stack; a build linking with --fatal-warnings would fail because of us."""
    require(CLANG, ld)
    (tmp_path / "a.s").write_text('.text\n.globl _start\n_start: nop\n'
                                  '.section .note.GNU-stack,"",%progbits\n')
    subprocess.run([CLANG, f"--target={target}", "-c", str(tmp_path / "a.s"), "-o",
                    str(tmp_path / "a.o")], check=True)
    write_padding(tmp_path / "pad.o", 4096, tmp_path / "a.o", ".rodata")
    done = subprocess.run([ld, "--fatal-warnings", "-o", str(tmp_path / "out"),
                           str(tmp_path / "a.o"), str(tmp_path / "pad.o")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr, done.stderr
    pad = PadSection(".rodata", ".rodata", 0, 0)
    assert landed(tmp_path / "out", pad, 4096) is True
    assert landed(tmp_path / "out", pad, 16) is True  # one marker is enough to tell


def test_the_model_predicts_the_real_linker(objects: Path) -> None:
    """Fitted on one link (and checked on a second), the model says how many callees are
    out of reach at other paddings: the real linker's thunks agree, page by page."""
    reference = _link(objects, EDGE)
    other = _link(objects, EDGE - 3 * 4096 + 100)
    branches, _code, _ = direct_branches(reference, "EM_ARM")
    pad = choose_section(reference, objects / "link.lds", [(b.site, b.target) for b in branches])
    crossing = [b for b in branches if (b.site < pad.start) != (b.target < pad.start)]
    layout = fit_layout(reference, pad, {b.moving_section for b in crossing},
                        script_alignments(SCRIPT), [("other", other)])
    assert not layout.mismatch and layout.checked == ["other"]
    model = PassModel(layout, crossing, TableFit(0, 0.0, False), 0, 0, 0, 1.0)
    seen = set()
    for delta in (-20000, -8192, -4096 + 17, -1, 1, 2000, 4096, 4097, 9000, 20000):
        image = _link(objects, EDGE + delta, name="probe")
        found, _, _ = direct_branches(image, "EM_ARM")
        thunked = {b.callee for b in found if b.thunk}
        assert model.far(delta) == len(thunked), delta
        seen.add(len(thunked))
    assert len(seen) >= 5  # the count changes along the way


def _model(margins: list[int], per_name: float) -> PassModel:
    pad = PadSection(".rodata", ".rodata", 0x1000, 0x2000)
    layout = LayoutModel(pad, [ChainLink(".init.text", 0x3000, 0x100, 4096, 0x1000,
                                         (4096, 0))])
    branches = [Branch(0x3000 + 4 * i, 0, f"f{i}", m, ".init.text", None)
                for i, m in enumerate(margins)]
    far = sum(m < 0 for m in margins)
    return PassModel(layout, branches, TableFit(10_000, per_name, True), far,
                     10_000 + round(per_name * far), -8192, 1.0)


def test_the_passes_played_through_the_model() -> None:
    """Pass 1 has no table (8 KiB less), pass 2 the table of pass 1's thunks, pass 3 the
    next: the kernel fails when the last two tables differ."""
    hidden = _model([-5000, 100, 4000, 9000], 0.0)
    assert not any(hidden.passes(p)[1] for p in range(0, 20000, 64))  # nothing sizes it
    visible = _model([-5000, 100, 4000, 9000], 40.0)
    assert visible.passes(0) == ([0, 1, 1], False)
    windows = visible.failing(0, 20000, 16)
    assert windows and all(visible.passes(a)[1] for a, _ in windows)
    assert not visible.passes(windows[0][0] - 16)[1]


def test_table_fit() -> None:
    assert fit_table([(72, 169148), (105, 170228)], [], False).per_name == 1080 / 33
    assert fit_table([(10, 5000)], ["__x_veneer"], True).per_name == 0
    estimated = fit_table([(10, 5000)], ["__ARMv4PILongBXThunk_printk"], False)
    assert not estimated.measured and estimated.per_name > 5


def test_kept_build_puts_back_files_links_and_directories(tmp_path: Path) -> None:
    (tmp_path / "vmlinux").write_bytes(b"old")
    os.symlink("/nowhere", tmp_path / "source")
    before = {p.name: (p.lstat().st_mtime_ns, p.lstat().st_size) for p in tmp_path.iterdir()}
    with kept_build(tmp_path):
        (tmp_path / "vmlinux").write_bytes(b"new, longer")
        (tmp_path / ".tmp_vmlinux1").write_bytes(b"x")
        (tmp_path / ".lldbisect").mkdir()
        (tmp_path / ".lldbisect" / "ld").write_text("#!/bin/sh\n")
        (tmp_path / "source").unlink()
        os.symlink("/elsewhere", tmp_path / "source")
    after = {p.name: (p.lstat().st_mtime_ns, p.lstat().st_size) for p in tmp_path.iterdir()}
    assert after == before
    assert (tmp_path / "vmlinux").read_bytes() == b"old"
    assert os.readlink(tmp_path / "source") == "/nowhere"


def test_kept_build_recreates_a_deleted_link_and_removes_new_ones(tmp_path: Path) -> None:
    os.symlink("/nowhere", tmp_path / "source")
    with kept_build(tmp_path):
        (tmp_path / "source").unlink()
        os.symlink("/x", tmp_path / "made-by-the-relink")
        (tmp_path / "vmlinux").write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source"]
    assert os.readlink(tmp_path / "source") == "/nowhere"


@pytest.mark.parametrize("args, said", [
    ([], "not a kernel build directory"),
    (["--range", "9:3"], "give FROM:TO with 0 <= FROM < TO"),
    (["--range", "x"], "give FROM:TO in bytes"),
])
def test_sweep_refuses_bad_input(tmp_path: Path, args: list[str], said: str) -> None:
    done = subprocess.run([sys.executable, "-m", "lldbisect", "sweep", str(tmp_path), *args],
                          capture_output=True, text=True)
    assert done.returncode == 2 and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def _layout_at(padding: int, verdict: str, status: int = 0,
               failure: str | None = None) -> Layout:
    return Layout(padding, Verdict(verdict), status, 2, (), failure, 1.0, False)


def test_a_relink_that_says_nothing_leaves_the_range_uncovered(tmp_path: Path) -> None:
    plan = SweepPlan(tmp_path, PadSection(".text", ".text.pad", 0, 0), tmp_path / "x.o",
                     0, 2048, 1024, [], [0, 1024, 2048], None, "no model")
    clean = [_layout_at(0, "converged"), _layout_at(1024, "at-risk")]
    broken = _layout_at(2048, "converged", status=2)  # make failed, not the kallsyms check
    other = _layout_at(2048, "diverged-other")
    assert broken.undecided and "make exit 2" in broken.undecided
    assert other.undecided and not _layout_at(0, "diverged", 2, "Inconsistent").undecided

    assert SweepResult(plan, "ld.lld", [*clean, _layout_at(2048, "converged")]).covered
    assert not SweepResult(plan, "ld.lld", clean).covered  # one padding not relinked
    result = SweepResult(plan, "ld.lld", [*clean, broken])
    assert not result.covered and result.undecided == [broken]
    text = sweep_text(result)
    assert "no failing layout at the 2 padding(s) relinked and judged in 0..2048 B" in text
    assert "UNDECIDED at padding 2048 B: make exit 2" in text
    assert "NOT COVERED: no verdict for the range: 1 relink(s) undecided" in text
    doc = sweep_json(result)
    assert doc["covered"] is False and doc["undecided"][0]["padding"] == 2048

    failing = _layout_at(2048, "diverged", 2, "Inconsistent kallsyms data")
    failed = SweepResult(plan, "ld.lld", [*clean, failing])
    assert failed.covered and "FAILING LAYOUT at padding 2048 B" in sweep_text(failed)
