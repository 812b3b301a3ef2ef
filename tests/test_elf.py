"""The ELF reader against GNU nm (and llvm-nm, a second witness) on files real toolchains wrote."""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path

import pytest

from lldbisect.elf.reader import read_symbols
from lldbisect.errors import ElfError, StrippedError
from tests import elfcorpus

MODES = {"": {}, "-a": {"all_symbols": True}, "--special-syms": {"special_symbols": True}}


def _nm(tool: str, path: Path, *flags: str) -> bytes:
    return subprocess.run([tool, "-n", *flags, str(path)], check=True,
                          capture_output=True).stdout


def _diff(want: bytes, got: bytes) -> str:
    return "".join(list(difflib.unified_diff(
        want.decode("latin-1").splitlines(True), got.decode("latin-1").splitlines(True),
        "nm", "lldbisect", n=0))[:20])


@pytest.mark.parametrize("target", [t.name for t in elfcorpus.TARGETS])
def test_listing_equals_gnu_nm(corpus: list[elfcorpus.Built], target: str) -> None:
    files = [b for b in corpus if b.target.name == target]
    assert len(files) >= 8  # object, every lld (some with --pic-veneer), GNU ld, DSOs
    failures = []
    for built in files:
        for flag, kwargs in MODES.items():
            want = _nm(built.target.nm, built.path, *([flag] if flag else []))
            got = read_symbols(built.path, **kwargs).nm_listing()
            if want != got:
                failures.append(f"{built.kind} {flag}:\n{_diff(want, got)}")
    assert not failures, "\n".join(failures)


def test_dynamic_listing_equals_gnu_nm(corpus: list[elfcorpus.Built]) -> None:
    libs = [b for b in corpus if b.kind.startswith("so-")]
    libs += [elfcorpus.Built(elfcorpus.TARGETS[0], "system", Path(p)) for p in (
        "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6")]
    for built in libs:
        want = _nm(built.target.nm, built.path, "-D")
        got = read_symbols(built.path, dynamic=True).nm_listing()
        assert want == got, f"{built.path}:\n{_diff(want, got)}"


def test_thunk_links_are_in_the_corpus(corpus: list[elfcorpus.Built]) -> None:
    """The far-call links really made linker symbols, so the comparison covers them."""
    made = {n for b in corpus if b.kind.startswith("exe")
            for n in read_symbols(b.path).names}
    for name in ("__ARMv4PILongBXThunk_far_func", "__ARMV5PILongThunk_far_func",
                 "__ThumbV7PILongThunk_far_func", "__AArch64ADRPThunk_far_func",
                 "__AArch64AbsLongThunk_far_func", "__long_branch_far_func",
                 "__far_func_veneer", "00000018.plt_branch.far_func"):
        assert name in made


def _thumb_bit_cleared(listing: bytes, names: set[bytes]) -> bytes:
    """llvm-nm's listing with bit 0 of the named symbols' addresses cleared."""
    out = []
    for line in listing.splitlines(True):
        addr, rest = line.split(b" ", 1)
        if rest.split()[-1] in names and addr.strip(b" ").isalnum():
            addr = b"%0*x" % (len(addr), int(addr, 16) & ~1)
        out.append(addr + b" " + rest)
    return b"".join(out)


def test_llvm_nm_differs_only_where_it_is_known_to(corpus: list[elfcorpus.Built]) -> None:
    """llvm-nm is not the reference, but it is a second witness: it must agree with us
    (and so with GNU nm) except where llvm-nm 14 is known to differ. It keeps bit 0 (the
    Thumb bit) of Thumb symbols' addresses, which GNU nm clears; and it lists RISC-V
    mapping symbols (``$x<isa>``, ``$d``), which GNU nm shows only with --special-syms."""
    seen = set()
    for built in corpus:
        llvm = _nm("llvm-nm-14", built.path)
        ours = read_symbols(built.path).nm_listing()
        if llvm == ours:
            continue
        if built.target.name == "thumb":
            odd = {ln.split()[-1] for ln in llvm.splitlines()
                   if ln[:1] != b" " and int(ln.split()[0], 16) & 1}
            llvm = _thumb_bit_cleared(llvm, odd)
            seen.add("thumb bit")
        elif built.target.name == "riscv64":
            llvm = b"".join(ln for ln in llvm.splitlines(True)
                            if not ln.split()[-1].startswith((b"$x", b"$d")))
            seen.add("riscv mapping symbols")
        assert llvm == ours, f"{built.target.name}/{built.kind}:\n{_diff(llvm, ours)}"
    assert seen == {"thumb bit", "riscv mapping symbols"}  # both really compared


def _by_name(path: Path) -> dict[str, object]:
    return {s.name: s for s in read_symbols(path)}


def test_typed_symbols_of_an_object(corpus: list[elfcorpus.Built]) -> None:
    obj = next(b.path for b in corpus if b.target.name == "x86_64" and b.kind == "object")
    s = _by_name(obj)
    assert s["ifunc_sym"][3:7] == ("i", "GLOBAL", "GNU_IFUNC", s["ifunc_sym"].section_index)
    assert s["ifunc_sym"].section == ".text"
    common = s["common_obj"]
    assert (common.type, common.section, common.address, common.size) == ("C", "*COM*", 16, 16)
    assert s["weak_undef_obj"].type == "v" and s["weak_undef_obj"].section == "*UND*"
    assert s["weak_undef_func"].type == "w"
    assert (s["unique_obj"].type, s["unique_obj"].binding) == ("u", "GNU_UNIQUE")
    assert (s["tls_data"].type, s["tls_data"].elf_type) == ("D", "TLS")
    assert (s["tls_bss"].type, s["tls_bss"].section) == ("b", ".tbss")
    assert (s["abs_sym"].type, s["abs_sym"].address, s["abs_sym"].section) == (
        "A", 0x1234, "*ABS*")
    assert s["local_func"].binding == "LOCAL" and s["local_func"].type == "t"
    assert s["debug_label"].type == "N" and s["note_label"].type == "n"
    assert s["odd_rw_label"].type == "?"


def test_thumb_addresses_drop_the_thumb_bit(corpus: list[elfcorpus.Built]) -> None:
    exe = next(b.path for b in corpus if b.target.name == "thumb" and b.kind == "exe-gnu")
    start = _by_name(exe)["_start"]
    assert start.address % 2 == 0 and start.elf_type == "FUNC"


def test_section_symbols_take_their_section_name_with_all(corpus: list[elfcorpus.Built]) -> None:
    obj = next(b.path for b in corpus if b.target.name == "arm" and b.kind == "object-gas")
    names = {s.name for s in read_symbols(obj, all_symbols=True) if s.elf_type == "SECTION"}
    assert ".text" in names and ".debug_info" in names
    assert not {s.name for s in read_symbols(obj) if s.elf_type in ("SECTION", "FILE")}


# --- bad input: one clear error naming the file ------------------------------------

@pytest.fixture()
def exe(corpus: list[elfcorpus.Built]) -> bytes:
    return next(b.path for b in corpus if b.target.name == "arm" and b.kind == "exe-gnu"
                ).read_bytes()


@pytest.mark.parametrize("case, expect", [
    ("missing", "no such file"),
    ("directory", "is a directory"),
    ("text", "not an ELF file"),
    ("empty", "empty file"),
    ("header-only", "truncated"),
    ("half", "truncated"),
    ("bad-entsize", "corrupt section header table"),
    ("bad-shstrndx", "corrupt section header table"),
    ("bad-class", "not a valid ELF file"),
])
def test_bad_input_is_one_clear_error(tmp_path: Path, exe: bytes, case: str,
                                      expect: str) -> None:
    path = tmp_path / case
    data = bytearray(exe)
    if case == "directory":
        path.mkdir()
    elif case == "text":
        path.write_text("hello\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "header-only":
        path.write_bytes(exe[:52])
    elif case == "half":
        path.write_bytes(exe[: len(exe) // 2])
    elif case == "bad-entsize":
        data[46:48] = (7).to_bytes(2, "little")  # e_shentsize of ELF32
        path.write_bytes(data)
    elif case == "bad-shstrndx":
        data[50:52] = (900).to_bytes(2, "little")  # e_shstrndx
        path.write_bytes(data)
    elif case == "bad-class":
        data[4] = 9
        path.write_bytes(data)
    with pytest.raises(ElfError) as err:
        read_symbols(path)
    assert str(path) in err.value.message and expect in err.value.message
    assert "\n" not in err.value.message


def test_stripped_files_say_so_and_offer_dynamic(tmp_path: Path,
                                                 corpus: list[elfcorpus.Built]) -> None:
    for kind, hint in (("exe-gnu", "no .dynsym either"), ("so-gnu", "try --dynamic")):
        src = next(b.path for b in corpus if b.target.name == "x86_64" and b.kind == kind)
        dst = tmp_path / kind
        subprocess.run(["strip", "-o", str(dst), str(src)], check=True)
        with pytest.raises(StrippedError, match=hint):
            read_symbols(dst)
    assert len(read_symbols(tmp_path / "so-gnu", dynamic=True)) > 5
