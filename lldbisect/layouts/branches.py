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
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from lldbisect.elf.reader import read_symbols
from lldbisect.errors import InputError

__all__ = ["BRANCH_MODELS", "Branch", "BranchModel", "CodeSection", "crossing_branches",
           "direct_branches", "thunk_target"]


@dataclass(frozen=True)
class BranchModel:
    """One architecture's direct branch: how it is encoded and how far it reaches."""

    machine: str
    forward: int  # the largest offset it reaches, from the site plus ``bias``
    backward: int  # the largest negative offset, as a positive number
    bias: int  # what the offset counts from, past the site (ARM's PC is 8 ahead)
    little: bool | None  # instruction byte order; None: the image's own
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


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


# A linker's thunk, stub or veneer, by what its name says it reaches.
_THUNK_NAMES = (
    re.compile(r"^__[A-Za-z0-9]*?(?:Thunk|Veneer)_(.+)$"),  # lld: __ARMv7ABSLongThunk_f
    re.compile(r"^__(.+?)_(?:veneer|from_arm|from_thumb)$"),  # GNU ld: __f_veneer
    re.compile(r"^__(?:long_branch|plt_branch|plt_call|toc_save|gep_setup)_(.+)$"),
    re.compile(r"^[0-9a-f]+\.(?:long_branch|plt_branch|plt_call)\.(.+?)(?:\+0)?$"),
)


def thunk_target(name: str) -> str | None:
    """The function a linker-made thunk named ``name`` reaches, when its name says."""
    for pattern in _THUNK_NAMES:
        m = pattern.match(name)
        if m:
            return m.group(1)
    return None


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
    model = BRANCH_MODELS.get(machine)
    if model is None:
        raise InputError(image, f"no branch model for {machine}")
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
        if thunk_target(name) is not None:
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
        little = elf.little_endian if model.little is None else model.little
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
                    callee = thunk_target(thunk) or ""
                    real = by_name.get(callee)
                    if real is None:
                        unknown += 1
                        continue
                    target = real
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
