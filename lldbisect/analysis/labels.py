"""Names of linker-made symbol families we know, for labelling only.

Detection never depends on this table (a family nobody has listed is found all the
same); it only puts a name on what was found. Facts from the linkers' own output
(shared/reference/linker-symbols.md), checked against Debian's lld and GNU ld here.
"""

from __future__ import annotations

# (rule kind, pattern) -> label
KNOWN: dict[tuple[str, str], str] = {
    ("prefix", "__ARMv7ABSLongThunk_"): "lld ARM thunk (ARMv7, absolute)",
    ("prefix", "__Thumbv7ABSLongThunk_"): "lld Thumb thunk (ARMv7, absolute)",
    ("prefix", "__ARMV7PILongThunk_"): "lld ARM thunk (ARMv7, PIC)",
    ("prefix", "__ThumbV7PILongThunk_"): "lld Thumb thunk (ARMv7, PIC)",
    ("prefix", "__ARMv5ABSLongThunk_"): "lld ARM thunk (ARMv5, absolute; lld <= 15)",
    ("prefix", "__ARMV5PILongThunk_"): "lld ARM thunk (ARMv5, PIC; lld <= 15)",
    ("prefix", "__ARMv5LongLdrPcThunk_"): "lld ARM thunk (ARMv5, absolute; lld >= 16)",
    # Linux 6.1 lets these through; kernel commit a951884d8288 ("kallsyms: ignore ARMv4
    # thunks along with others") hides them.
    ("prefix", "__ARMv4PILongBXThunk_"): "lld ARM thunk (ARMv4T/v5 PIC; lld >= 16)",
    ("prefix", "__ARMv4PILongThunk_"): "lld ARM thunk (ARMv4 PIC; lld >= 16)",
    ("prefix", "__ARMv4ABSLongBXThunk_"): "lld ARM thunk (ARMv4T absolute; lld >= 16)",
    ("prefix", "__Thumbv4PILongBXThunk_"): "lld Thumb thunk (ARMv4T PIC; lld >= 16)",
    ("prefix", "__Thumbv4PILongThunk_"): "lld Thumb thunk (ARMv4T PIC; lld >= 16)",
    ("prefix", "__Thumbv4ABSLongBXThunk_"): "lld Thumb thunk (ARMv4T absolute; lld >= 16)",
    ("prefix", "__Thumbv4ABSLongThunk_"): "lld Thumb thunk (ARMv4T absolute; lld >= 16)",
    ("prefix", "__Thumbv6MABSLongThunk_"): "lld Thumb thunk (ARMv6-M, absolute)",
    ("prefix", "__Thumbv6MPILongThunk_"): "lld Thumb thunk (ARMv6-M, PIC)",
    ("prefix", "__AArch64AbsLongThunk_"): "lld AArch64 thunk (absolute)",
    ("prefix", "__AArch64ADRPThunk_"): "lld AArch64 thunk (ADRP, --pic-veneer)",
    ("prefix", "__LA25Thunk_"): "lld MIPS LA25 thunk (non-PIC to PIC)",
    ("prefix", "__microLA25Thunk_"): "lld microMIPS LA25 thunk",
    ("prefix", "__long_branch_"): "lld PowerPC64 long-branch thunk",
    ("prefix", "__plt_"): "lld PowerPC64 PLT call stub",
    ("prefix", "__LongThunk_"): "lld PowerPC32 long-branch thunk",
    ("prefix", "__hexagon_thunk_"): "lld Hexagon thunk (lld >= 20)",
    ("suffix", "_from_.text.thunk"): "lld Hexagon thunk (lld >= 20)",
    ("suffix", "_veneer"): "GNU ld ARM/AArch64 long-branch veneer",
    ("suffix", "_from_arm"): "GNU ld ARM interworking stub (ARM to Thumb)",
    ("suffix", "_from_thumb"): "GNU ld ARM interworking stub (Thumb to ARM)",
    ("substring", ".long_branch."): "GNU ld PowerPC long-branch stub",
    ("substring", ".plt_branch."): "GNU ld PowerPC PLT branch stub",
    ("substring", ".plt_call."): "GNU ld PowerPC PLT call stub",
    ("substring", ".plt_pic32."): "lld PowerPC32 PIC PLT call stub",
    ("substring", ".plt_call32."): "lld PowerPC32 PLT call stub",
    ("shape", "__CortexA#_#"): "lld Cortex-A53 erratum 843419 patch",
    ("prefix", "__CortexA53843419_"): "lld Cortex-A53 erratum 843419 patch",
    ("prefix", "__CortexA8657417_"): "lld Cortex-A8 erratum 657417 patch",
    ("prefix", ".pic."): "GNU ld MIPS LA25 stub (.pic.<target>)",
    ("exact", "__glink_PLTresolve"): "GNU ld/gold PowerPC64 PLT resolver stub",
    ("exact", "__glink"): "gold PowerPC32 PLT call stubs",
}


def label_for(kind: str, pattern: str) -> str | None:
    """The known family's label, if any."""
    return KNOWN.get((kind, pattern))
