"""A symbol list that exercises every rule: linker-made names of every known shape, the
names the kernel filters, awkward characters, and every nm type letter."""

from __future__ import annotations

from itertools import cycle

LLD_PREFIXES = [
    "__ARMv7ABSLongThunk_", "__Thumbv7ABSLongThunk_", "__ARMV7PILongThunk_",
    "__ThumbV7PILongThunk_", "__ARMv5ABSLongThunk_", "__ARMV5PILongThunk_",
    "__ARMv5LongLdrPcThunk_", "__ARMv4PILongBXThunk_", "__ARMv4PILongThunk_",
    "__ARMv4ABSLongBXThunk_", "__Thumbv4PILongBXThunk_", "__Thumbv4PILongThunk_",
    "__Thumbv4ABSLongBXThunk_", "__Thumbv4ABSLongThunk_", "__Thumbv6MABSLongThunk_",
    "__Thumbv6MPILongThunk_", "__AArch64AbsLongThunk_", "__AArch64ADRPThunk_",
    "__LA25Thunk_", "__microLA25Thunk_", "__long_branch_", "__plt_", "__LongThunk_",
]
KERNEL_PREFIXES = [
    "__efistub_", "__kvm_nvhe_$", "__kvm_nvhe_.L", "__kvm_nvhe_", "__pi_$", "__pi_.L",
    "__pi_", "__kcfi_typeid_", "__kvm_nvhe___kcfi_typeid_", "__pi___kcfi_typeid_",
    "__crc_", "__kstrtab_", "__kstrtabns_", "$", "$a", "$a.", "$t.", "$x", "$d.", "$L",
    ".L", ".LBB", ".LASANPC", "L0", "__Thunk_", "__a_Thunk_", "__9Thunk_", "Thunk_",
    "_Thunk_", "___Thunk_", "__ARMv4PILongBXThunk", "__x-Thunk_", "xx__ARMThunk_",
]
TARGETS = ["printk", "memcpy", "x", "", "_start", "foo.bar", "foo$bar", "a\\b", "L0"]
EXACT = [
    "kallsyms_addresses", "kallsyms_offsets", "kallsyms_relative_base", "kallsyms_num_syms",
    "kallsyms_names", "kallsyms_markers", "kallsyms_token_table", "kallsyms_token_index",
    "kallsyms_seqs_of_names", "_SDA_BASE_", "_SDA2_BASE_", "L0", "L0x", "xL0", "__gp",
    "__kernel_sigtramp", "__kernel_syscall_via_break", "__kernel_syscall_via_epc",
    "_text", "_stext", "$", "$$", "foo$", "\\$x", "x\\", "_veneer", "veneer",
]
LETTERS = "AaBbCcDdGgiINnpRrSsTtUuVvWw?"


def names() -> list[str]:
    out: list[str] = []
    for prefix in LLD_PREFIXES + KERNEL_PREFIXES:
        out += [prefix + t for t in TARGETS]
    for t in TARGETS:
        out += [f"__{t}_veneer", f"{t}_from_arm", f"{t}_from_thumb", f"{t}_veneer_x",
                f"00000018.long_branch.{t}", f"00000018.plt_branch.{t}+10",
                f"0000001c.plt_call.{t}", f"long_branch.{t}", f"{t}.long_branch",
                f"{t}.plt_branch.", f"0.long_branch.{t}"]
    out += EXACT
    return [n for n in dict.fromkeys(out) if n and " " not in n]


def listing(width: int = 16) -> str:
    """``nm -n``-style lines: every name with several letters, every letter used."""
    lines = []
    letters = cycle(LETTERS)
    for k, name in enumerate(names()):
        for _ in range(3):
            c = next(letters)
            addr = " " * width if c in "Uwv" else f"{0xc0008000 + 16 * k:0{width}x}"
            lines.append(f"{addr} {c} {name}")
    return "\n".join(lines) + "\n"
