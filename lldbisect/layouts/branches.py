"""The direct branches of a linked image that cross a point, and how far each is from
its range limit.

A padding added at that point moves everything after it: each branch that crosses it
gets longer by the shift, and a linker adds a range-extension thunk once a branch is
out of reach. The branches are decoded from the final image itself (its code, not its
relocations: vmlinux.o may be gone and GNU ld's images look the same): a word is a
branch when it decodes as one and lands on a function's first byte, or on a thunk of
the linker, whose name says the function it reaches.
"""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from lldbisect.elf.reader import read_symbols
from lldbisect.errors import InputError

__all__ = ["BRANCH_MODELS", "Branch", "BranchModel", "CodeSection", "branch_model",
           "crossing_branches", "direct_branches", "image_branch_model", "local_entries",
           "thunk_targets"]


@dataclass(frozen=True)
class BranchModel:
    """One architecture's direct branch: how it is encoded and how far it reaches."""

    machine: str
    forward: int  # the largest offset it reaches, from the site plus ``bias``
    backward: int  # the largest negative offset, as a positive number
    bias: int  # what the offset counts from, past the site (ARM's PC is 8 ahead)
    little: bool | None  # instruction byte order; None: the image's own (branch_model)
    arch_note: str

    def decode(self, word: int) -> int | None:
        """The offset of the branch ``word`` encodes, or None when it is none."""
        if self.machine == "EM_ARM":
            # B and BL, any condition but 0xF (BLX, which changes to Thumb).
            if word >> 28 != 0xF and (word >> 25) & 7 == 0b101:
                return _signed(word & 0xFFFFFF, 24) << 2
            return None
        if self.machine == "EM_AARCH64":
            if (word >> 26) & 0x1F == 0b00101:  # B (000101) and BL (100101)
                return _signed(word & 0x3FFFFFF, 26) << 2
            return None
        # Power: b, bl (primary opcode 18), not absolute (AA = 0).
        if word >> 26 == 18 and not word & 2:
            return _signed(word & 0x3FFFFFC, 26)
        return None


BRANCH_MODELS: dict[str, BranchModel] = {
    "EM_ARM": BranchModel("EM_ARM", (1 << 25) - 4, 1 << 25, 8, True,
                          "ARM-state B/BL, +-32 MiB (Thumb code is not decoded)"),
    "EM_AARCH64": BranchModel("EM_AARCH64", (1 << 27) - 4, 1 << 27, 0, True,
                              "B/BL, +-128 MiB"),
    "EM_PPC64": BranchModel("EM_PPC64", (1 << 25) - 4, 1 << 25, 0, None, "b/bl, +-32 MiB"),
    "EM_PPC": BranchModel("EM_PPC", (1 << 25) - 4, 1 << 25, 0, None, "b/bl, +-32 MiB"),
}


EF_ARM_BE8 = 0x00800000  # code little-endian in a big-endian image (ARMv6+ BE8)
EF_PPC64_ABI = 0x3  # 1: ELFv1 (function descriptors), 2: ELFv2


def branch_model(elf: ELFFile, machine: str) -> tuple[BranchModel | None, str]:
    """The branch model for the image ``elf`` with its own instruction byte order, or
    None and why there is none."""
    base = BRANCH_MODELS.get(machine)
    if base is None:
        return None, f"no branch model for {machine}"
    flags = elf.header["e_flags"]
    if machine == "EM_PPC64":
        abi = flags & EF_PPC64_ABI
        # ELFv1: a function's symbol is its descriptor in .opd, not its code, so no bl
        # lands on one; the model would see no branch at all and say so wrongly.
        if abi == 1 or (abi == 0 and elf.get_section_by_name(".opd") is not None):
            return None, "no branch model for ppc64 ELFv1 (function descriptors in .opd)"
    if machine == "EM_ARM":
        # BE32 (big-endian ARMv5) stores code big-endian; BE8 stores it little-endian.
        little = elf.little_endian or bool(flags & EF_ARM_BE8)
        note = base.arch_note if elf.little_endian else (
            base.arch_note + (", BE8" if little else ", BE32"))
        return replace(base, little=little), note
    little = elf.little_endian if base.little is None else base.little
    return replace(base, little=little), base.arch_note


def image_branch_model(image: Path, machine: str) -> tuple[BranchModel | None, str]:
    """branch_model of the file ``image``. Raises InputError when it is no ELF file."""
    try:
        with open(image, "rb") as f:
            return branch_model(ELFFile(f), machine)
    except (OSError, ELFError) as e:
        raise InputError(image, f"cannot read the image: {e}") from None


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


# A linker's thunk, stub or veneer, by what its name says it reaches. A pattern may
# read a name two ways (a ppc64 stub's _pcrel suffix or a function called pcrel_f):
# every reading is returned, and the caller keeps the first that names a function.
_THUNK_NAMES = (
    re.compile(r"^__[A-Za-z0-9]*?(?:Thunk|Veneer|Trampoline)_(.+)$"),  # lld: __ARMv7ABSLongThunk_f
    re.compile(r"^__(.+?)_(?:veneer|from_arm|from_thumb)$"),  # GNU ld: __f_veneer
    # lld's ppc stubs: __long_branch_f, __plt_pcrel_f, __toc_save_f, __gep_setup_f
    re.compile(r"^__(?:long_branch|plt_branch|plt_call|plt|toc_save|gep_setup)"
               r"(?:_pcrel|_notoc|_pic32)?_(.+)$"),
    re.compile(r"^__(?:long_branch|plt_branch|plt_call|plt|toc_save|gep_setup)_(.+)$"),
    # GNU ld's ppc stubs: 00000001.long_branch.f+0, 0000000a.plt_call_notoc.f, .plt_pic32.
    re.compile(r"^[0-9a-f]+\.(?:x\.)?(?:long_branch|plt_branch|plt_call|plt_pic32)"
               r"[a-z0-9_]*\.(.+?)(?:\+[0-9a-f]+)?$"),
)


def thunk_targets(name: str) -> list[str]:
    """The functions a linker-made thunk named ``name`` may reach, by its name: every
    reading, most likely first; empty when the name is no thunk's."""
    readings: list[str] = []
    for pattern in _THUNK_NAMES:
        m = pattern.match(name)
        if m and m.group(1) not in readings:
            readings.append(m.group(1))
    return readings


_STT_FUNC = 2


def local_entries(elf: ELFFile) -> dict[str, int]:
    """ppc64 ELFv2: the local entry of each function that has one apart from its global
    entry (st_other bits 5-7), which is where a bl from the same TOC lands."""
    symtab = elf.get_section_by_name(".symtab")
    strtab = elf.get_section_by_name(".strtab")
    if symtab is None or strtab is None or elf.elfclass != 64:
        return {}
    strings = strtab.data()
    fmt = ("<" if elf.little_endian else ">") + "IBBHQQ"
    found: dict[str, int] = {}
    for st_name, info, other, _shndx, value, _size in struct.iter_unpack(fmt, symtab.data()):
        v = other >> 5
        if info & 0xF != _STT_FUNC or not 2 <= v <= 6:
            continue
        end = strings.find(b"\0", st_name)
        found.setdefault(strings[st_name:end].decode(errors="replace"), value + (1 << v))
    return found


@dataclass(frozen=True)
class CodeSection:
    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Branch:
    """A direct branch across the boundary. ``margin``: how many bytes longer it can get
    before it is out of reach (negative: it is out of reach, through a thunk)."""

    site: int
    target: int  # the function it reaches (through the thunk, when it takes one)
    callee: str
    margin: int
    moving_section: str  # the output section of its end past the boundary
    thunk: str | None  # the thunk it goes through, if any


def crossing_branches(image: Path, boundary: int, machine: str
                      ) -> tuple[list[Branch], list[CodeSection], int]:
    """The branches of ``image`` that cross ``boundary``, the code sections, and how
    many branches land on a thunk whose target is unknown (by name or address).
    Raises InputError for an architecture without a branch model."""
    found, code, unknown = direct_branches(image, machine)
    return [b for b in found if (b.site < boundary) != (b.target < boundary)], code, unknown


def direct_branches(image: Path, machine: str
                    ) -> tuple[list[Branch], list[CodeSection], int]:
    """Every direct branch of ``image`` between two functions (through a thunk or not),
    the code sections, and how many land on a thunk whose target is unknown. Raises
    InputError for an architecture without a branch model."""
    model, why = image_branch_model(image, machine)
    if model is None:
        raise InputError(image, why)
    table = read_symbols(image, special_symbols=True)
    functions: dict[int, str] = {}
    by_name: dict[str, int] = {}
    thunks: dict[int, str] = {}
    data_starts: list[int] = []  # ARM mapping symbols: $d starts data, $a/$t end it
    data_kind: list[bool] = []
    for name, address, letter in zip(table.names, table.addresses, table.letters):
        if name.startswith(("$d", "$a", "$t", "$x")):
            data_starts.append(address)
            data_kind.append(not name.startswith(("$a", "$x")))
            continue
        if letter not in "tTwW":
            continue
        if thunk_targets(name):
            thunks.setdefault(address, name)
        else:
            functions.setdefault(address, name)
            by_name.setdefault(name, address)
    order = sorted(range(len(data_starts)), key=data_starts.__getitem__)
    marks = [data_starts[i] for i in order]
    kinds = [data_kind[i] for i in order]
    branches: list[Branch] = []
    unknown = 0
    with open(image, "rb") as f:
        elf = ELFFile(f)
        if machine == "EM_PPC64":
            for name, entry in local_entries(elf).items():
                if name in by_name:
                    functions.setdefault(entry, name)
                    by_name[name] = entry
        little = bool(model.little)
        code = [CodeSection(s.name, s["sh_addr"], s["sh_addr"] + s["sh_size"])
                for s in elf.iter_sections()
                if s["sh_flags"] & 0x6 == 0x6 and s["sh_type"] == "SHT_PROGBITS"]
        for section in elf.iter_sections():
            if section["sh_flags"] & 0x6 != 0x6 or section["sh_type"] != "SHT_PROGBITS":
                continue
            start = section["sh_addr"]
            for site, offset in _branch_words(section.data(), start, model, little):
                if marks and _in_data(site, marks, kinds):
                    continue
                target = site + model.bias + offset
                thunk = thunks.get(target)
                if thunk is not None:
                    callee = next((c for c in thunk_targets(thunk) if c in by_name), "")
                    if not callee:
                        unknown += 1
                        continue
                    target = by_name[callee]
                elif target in functions:
                    callee = functions[target]
                else:
                    continue
                offset = target - site - model.bias
                margin = (model.forward - offset if offset >= 0
                          else model.backward + offset)
                moving = max(site, target)
                branches.append(Branch(site, target, callee, margin,
                                       _section_of(moving, code), thunk))
    return branches, code, unknown


def _branch_words(data: bytes, start: int, model: BranchModel, little: bool
                  ) -> Iterator[tuple[int, int]]:
    fmt = "<I" if little else ">I"
    skip = (-start) % 4
    for i, (word,) in enumerate(struct.iter_unpack(fmt, data[skip:len(data) - (len(data)
                                                                           - skip) % 4])):
        offset = model.decode(word)
        if offset is not None:
            yield start + skip + 4 * i, offset


def _in_data(address: int, marks: list[int], kinds: list[bool]) -> bool:
    i = bisect.bisect_right(marks, address) - 1
    return i >= 0 and kinds[i]


def _section_of(address: int, code: list[CodeSection]) -> str:
    return next((c.name for c in code if c.start <= address < c.end), "")
