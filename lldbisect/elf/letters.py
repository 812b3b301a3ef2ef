"""GNU nm's type letters for ELF symbols (binutils 2.40), as pure functions.

``bfd_decode_symclass`` over the section flags that ``_bfd_elf_make_section_from_shdr``
derives, plus the back-end quirks that change what nm prints: ARM and AArch64 mapping
symbols and RISC-V local labels are "special" (hidden), MIPS small commons are 'c'.
"""

from __future__ import annotations

from dataclasses import dataclass

SHN_UNDEF = 0
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHN_XINDEX = 0xFFFF
SHN_MIPS_ACOMMON = 0xFF00
SHN_MIPS_TEXT = 0xFF01
SHN_MIPS_DATA = 0xFF02
SHN_MIPS_SCOMMON = 0xFF03
SHN_MIPS_SUNDEFINED = 0xFF04
SHN_X86_64_LCOMMON = 0xFF02

SHT_NULL, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 2, 3, 4
SHT_NOBITS, SHT_REL, SHT_DYNSYM, SHT_SYMTAB_SHNDX = 8, 9, 11, 18
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4

STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_COMMON = 1, 2, 3, 4, 5
STT_GNU_IFUNC = 10

EM_MIPS, EM_ARM, EM_X86_64, EM_AARCH64, EM_RISCV = 8, 40, 62, 183, 243
SPECIAL_MACHINES = frozenset((EM_ARM, EM_AARCH64, EM_RISCV))


@dataclass(frozen=True, slots=True)
class Section:
    """The section header fields the letters depend on."""

    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class SectionLetters:
    """GNU nm's lower-case letter for a symbol defined in each section index."""

    def __init__(self, sections: list[Section], relocatable: bool, machine: int,
                 shstrndx: int, symtab: int, strtab: int) -> None:
        self.sections = sections
        self.machine = machine
        self.relocatable = relocatable
        # Sections BFD makes no asection for: their symbols fall into *ABS*.
        no_bfd = {0, shstrndx, symtab, strtab}
        for i, s in enumerate(sections):
            unlinked_relocs = (relocatable and s.type in (SHT_REL, SHT_RELA)
                               and not s.flags & SHF_ALLOC)
            if s.type in (SHT_SYMTAB, SHT_SYMTAB_SHNDX, SHT_NULL) or unlinked_relocs:
                no_bfd.add(i)
        self.letters = ["a" if i in no_bfd else decode_section_type(s)
                        for i, s in enumerate(sections)]

    def letter(self, shndx: int) -> str:
        if shndx < len(self.letters):
            return self.letters[shndx]
        if self.machine == EM_MIPS:
            if shndx == SHN_MIPS_ACOMMON:
                return "b"
            if shndx in (SHN_MIPS_TEXT, SHN_MIPS_DATA):
                want = ".text" if shndx == SHN_MIPS_TEXT else ".data"
                for s, c in zip(self.sections, self.letters):
                    if s.name == want:
                        return c
        return "a"


_COFF_TYPES = ((".drectve", "i"), (".edata", "e"), (".idata", "i"), (".pdata", "p"))
_DEBUG_PREFIXES = (".debug", ".gnu.debuglto_.debug_", ".gnu.linkonce.wi.", ".zdebug",
                   ".line", ".stab")


def decode_section_type(s: Section) -> str:
    # No ELF back end we read sets SEC_SMALL_DATA on sections (MIPS .sdata and
    # SHF_MIPS_GPREL .got read as 'd' in nm 2.40), so 'g' and 's' never arise here.
    name = s.name
    for prefix, c in _COFF_TYPES:
        if name.startswith(prefix) and name[len(prefix):len(prefix) + 1] in (".", "$"):
            return c
    has_contents = s.type != SHT_NOBITS
    alloc = bool(s.flags & SHF_ALLOC)
    load = alloc and has_contents
    readonly = not s.flags & SHF_WRITE
    debugging = not alloc and (name.startswith(_DEBUG_PREFIXES) or name == ".gdb_index")
    if s.flags & SHF_EXECINSTR:
        return "t"
    if load:
        return "r" if readonly else "d"
    if not has_contents:
        return "b"
    if debugging:
        return "N"
    if readonly:
        return "n"
    return "?"


def is_special(name: str, machine: int) -> bool:
    """``bfd_is_target_special_symbol``: names nm hides unless asked (mapping symbols)."""
    if machine == EM_ARM:
        return (len(name) >= 2 and name[0] == "$" and "a" <= name[1] <= "z"
                and (len(name) == 2 or name[2] == "."))
    if machine == EM_AARCH64:
        return (len(name) >= 2 and name[0] == "$" and name[1] in "xdmfp"
                and (len(name) == 2 or name[2] == "."))
    if machine == EM_RISCV:
        return (name in ("", "$d", "$x") or name.startswith("$xrv")
                or is_local_label(name))
    return False


def is_local_label(name: str) -> bool:
    """``_bfd_elf_is_local_label_name``, whose digit loop only ever accepts ``L<d>\\1``."""
    if name.startswith((".L", "..", "_.L_")):
        return True
    return len(name) > 2 and name[0] == "L" and name[1].isdigit() and name[2] == "\x01"


def letter(info: int, shndx: int, sl: SectionLetters) -> str:
    """``bfd_decode_symclass`` for one (st_info, st_shndx) pair."""
    bind, stype = info >> 4, info & 0xF
    machine = sl.machine
    if shndx == SHN_COMMON or (machine == EM_X86_64 and shndx == SHN_X86_64_LCOMMON):
        return "C"
    if machine == EM_MIPS and shndx == SHN_MIPS_SCOMMON:
        return "c"
    if shndx == SHN_UNDEF or (machine == EM_MIPS and shndx == SHN_MIPS_SUNDEFINED):
        if bind == STB_WEAK:
            return "v" if stype in (STT_OBJECT, STT_COMMON) else "w"
        return "U"
    if stype == STT_GNU_IFUNC:
        return "i"
    if bind == STB_WEAK:
        return "V" if stype in (STT_OBJECT, STT_COMMON) else "W"
    if bind == STB_GNU_UNIQUE:
        return "u"
    if bind not in (STB_LOCAL, STB_GLOBAL):
        return "?"
    c = "a" if shndx == SHN_ABS else sl.letter(shndx)
    return c.upper() if bind == STB_GLOBAL else c
