"""Read ELF symbol tables as GNU nm lists them (the only importer of pyelftools).

pyelftools parses the ELF header and the version sections; the section header table and
the symbol table are decoded in bulk from strided typed arrays over an mmap, because one
pyelftools object per symbol is 25x slower than ``nm`` on a distribution vmlinux.
Every foreign exception is turned into ``ElfError`` in ``read_symbols``.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import sys
from array import array
from dataclasses import dataclass
from itertools import compress, count, repeat
from pathlib import Path
from typing import BinaryIO

from elftools.common.exceptions import ELFError, ELFParseError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

from lldbisect.elf.letters import (
    EM_AARCH64,
    EM_ARM,
    EM_MIPS,
    EM_RISCV,
    EM_X86_64,
    SHN_UNDEF,
    SHN_XINDEX,
    SHT_DYNSYM,
    SHT_NOBITS,
    SHT_SYMTAB,
    SHT_SYMTAB_SHNDX,
    SPECIAL_MACHINES,
    STT_FILE,
    STT_FUNC,
    STT_GNU_IFUNC,
    STT_SECTION,
    Section,
    SectionLetters,
    is_special,
    letter,
)
from lldbisect.elf.table import SymbolTable, no_gc
from lldbisect.errors import ElfError, StrippedError

__all__ = ["linker_identity", "read_symbols"]

_EM_BY_NAME = {"EM_MIPS": EM_MIPS, "EM_ARM": EM_ARM, "EM_X86_64": EM_X86_64,
               "EM_AARCH64": EM_AARCH64, "EM_RISCV": EM_RISCV}


def read_symbols(
    path: str | os.PathLike[str], *, dynamic: bool = False, all_symbols: bool = False,
    special_symbols: bool = False,
) -> SymbolTable:
    """Read the symbol table of an ELF file as ``nm`` (``-D``, ``-a``, ``--special-syms``)
    would list it. Special symbols are the target's mapping symbols (``$a``, ``$x.1``).

    Raises ElfError for anything that is not a readable, well-formed ELF file, and
    StrippedError when the wanted symbol table is absent.
    """
    p = Path(path)
    try:
        with no_gc(), open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ElfError(p, "empty file, not an ELF file")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _read(p, f, mm, size, dynamic, all_symbols, special_symbols)
    except FileNotFoundError:
        raise ElfError(p, "no such file") from None
    except IsADirectoryError:
        raise ElfError(p, "is a directory, not an ELF file") from None
    except PermissionError:
        raise ElfError(p, "permission denied") from None
    except (ELFError, ELFParseError, ConstructError) as e:
        raise ElfError(p, f"not a valid ELF file ({_first_line(e)})") from None
    except (struct.error, ValueError, IndexError, KeyError, OverflowError,
            UnicodeDecodeError, MemoryError, AssertionError, TypeError) as e:
        # pyelftools lets these escape on corrupt headers; they are the file's fault.
        raise ElfError(p, f"corrupt ELF file ({type(e).__name__}: {_first_line(e)})") from None
    except OSError as e:
        raise ElfError(p, f"cannot read: {e.strerror or e}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _read(p: Path, f: BinaryIO, mm: mmap.mmap, size: int, dynamic: bool,
          all_symbols: bool, special_symbols: bool) -> SymbolTable:
    if mm[:4] != b"\x7fELF":
        raise ElfError(p, "not an ELF file (bad magic number)")
    elf = ELFFile(f)
    little, elf_class = elf.little_endian, elf.elfclass
    if elf_class not in (32, 64):
        raise ElfError(p, f"unknown ELF class {elf_class}")
    header = elf.header
    sections = _section_headers(p, elf, mm, size, little, elf_class)
    want = SHT_DYNSYM if dynamic else SHT_SYMTAB
    symtab_index = next((i for i, s in enumerate(sections) if s.type == want), None)
    if symtab_index is None:
        if dynamic:
            raise StrippedError(p, "no dynamic symbol table (.dynsym)")
        has_dyn = any(s.type == SHT_DYNSYM for s in sections)
        hint = ("it has a .dynsym: try --dynamic" if has_dyn
                else "and it has no .dynsym either")
        raise StrippedError(p, f"no symbol table: the file is stripped ({hint})")
    symtab = sections[symtab_index]
    if symtab.link >= len(sections):
        raise ElfError(p, f"symbol table links to missing string table {symtab.link}")
    strtab = sections[symtab.link]
    _check_bounds(p, symtab, size, "symbol table")
    _check_bounds(p, strtab, size, "string table")
    machine = header["e_machine"]
    e_machine = machine if isinstance(machine, int) else _EM_BY_NAME.get(machine, 0)
    letters_of = SectionLetters(sections, header["e_type"] == "ET_REL", e_machine,
                                header["e_shstrndx"], symtab_index, symtab.link)
    raw = _RawTable(
        path=p, mm=mm, symtab=symtab, strtab=strtab, little=little, elf_class=elf_class,
        xindex=_xindex_table(p, sections, symtab_index, mm, size, little),
        versions=_versions(elf, sections, mm, little) if dynamic else None)
    return _decode_symbols(raw, e_machine, str(machine), letters_of, all_symbols,
                           special_symbols)


@dataclass(frozen=True, slots=True)
class _Versions:
    """GNU symbol versioning of a dynamic symbol table, as BFD resolves it."""

    versym: list[int]  # one per dynamic symbol, index 0 included
    defs: dict[int, str]  # vd_ndx -> node name
    base_flagged: bool  # the first definition carries VER_FLG_BASE
    needs: dict[int, str]  # vna_other -> node name


SHT_GNU_VERDEF, SHT_GNU_VERNEED, SHT_GNU_VERSYM = 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF


def _versions(elf: ELFFile, sections: list[Section], mm: mmap.mmap,
              little: bool) -> _Versions | None:
    index = {s.type: i for i, s in enumerate(sections)}
    if SHT_GNU_VERSYM not in index or not (
            SHT_GNU_VERDEF in index or SHT_GNU_VERNEED in index):
        return None
    vs = sections[index[SHT_GNU_VERSYM]]
    versym = _array("H", mm[vs.offset:vs.offset + vs.size], little).tolist()
    defs: dict[int, str] = {}
    base_flagged = False
    verdef_sec = elf.get_section(index[SHT_GNU_VERDEF]) if SHT_GNU_VERDEF in index else None
    if isinstance(verdef_sec, GNUVerDefSection):
        for n, (verdef, aux) in enumerate(verdef_sec.iter_versions()):
            names = [a.name for a in aux]
            defs[verdef["vd_ndx"]] = names[0] if names else ""
            if n == 0:
                base_flagged = bool(verdef["vd_flags"] & 1)
    needs: dict[int, str] = {}
    verneed_sec = elf.get_section(index[SHT_GNU_VERNEED]) if SHT_GNU_VERNEED in index else None
    if isinstance(verneed_sec, GNUVerNeedSection):
        for _verneed, auxes in verneed_sec.iter_versions():
            for a in auxes:
                needs.setdefault(a["vna_other"], a.name)
    return _Versions(versym, defs, base_flagged, needs)


def _version_suffixes(strings: bytes, offsets: array[int], ends: array[int],
                      shndx: array[int], v: _Versions) -> list[str]:
    """``@VERSION`` / ``@@VERSION`` per symbol, as nm prints them after the name
    (``_bfd_elf_get_symbol_version_string``); nm sorts on the bare name."""
    names = [strings[a:b].decode("latin-1") for a, b in zip(offsets, ends)]
    shndxs = shndx
    out = [""] * len(names)
    for n, name in enumerate(names):
        raw = v.versym[n + 1] if n + 1 < len(v.versym) else 0
        hidden, vernum = bool(raw & 0x8000), raw & 0x7FFF
        if vernum == 0 or (vernum == 1 and (not v.defs or v.base_flagged)):
            continue
        if vernum <= len(v.defs):
            node = v.defs.get(vernum, "")
            if node == name:
                continue
        else:
            node, hidden = v.needs.get(vernum, "<corrupt>"), True
        at = "@" if hidden or shndxs[n] == SHN_UNDEF else "@@"
        out[n] = f"{at}{node}"
    return out


def _check_bounds(p: Path, s: Section, size: int, what: str) -> None:
    if s.type != SHT_NOBITS and s.offset + s.size > size:
        raise ElfError(p, f"truncated: {what} '{s.name}' ends at byte {s.offset + s.size}"
                          f" beyond the end of the file ({size} bytes)")


def _section_headers(p: Path, elf: ELFFile, mm: mmap.mmap, size: int, little: bool,
                     elf_class: int) -> list[Section]:
    header = elf.header
    shoff, shentsize = header["e_shoff"], header["e_shentsize"]
    if shoff == 0:
        return []
    count = elf.num_sections()
    fmt = ("<" if little else ">") + ("IIIIIIIIII" if elf_class == 32 else "IIQQQQIIQQ")
    want = struct.calcsize(fmt)
    if shentsize != want:
        raise ElfError(p, f"corrupt section header table (entry size {shentsize},"
                          f" expected {want})")
    end = shoff + count * shentsize
    if end > size:
        raise ElfError(p, f"truncated: section header table ends at byte {end}"
                          f" beyond the end of the file ({size} bytes)")
    raw = list(struct.iter_unpack(fmt, mm[shoff:end]))
    shstrndx = elf.get_shstrndx()
    names: bytes = b""
    if 0 < shstrndx < len(raw):
        _, _, _, _, off, sz, *_ = raw[shstrndx]
        if off + sz > size:
            raise ElfError(p, "truncated: section name table lies beyond the end of the file")
        names = mm[off:off + sz]
    elif shstrndx != 0:
        raise ElfError(p, f"corrupt section header table (name table index {shstrndx}"
                          f" of {len(raw)} sections)")
    out = []
    for sh_name, sh_type, flags, addr, off, sz, link, _info, _align, entsize in raw:
        end_name = names.find(b"\0", sh_name)
        name = names[sh_name:end_name if end_name >= 0 else None].decode("latin-1")
        out.append(Section(name, sh_type, flags, addr, off, sz, link, entsize))
    return out


def _xindex_table(p: Path, sections: list[Section], symtab_index: int, mm: mmap.mmap,
                  size: int, little: bool) -> tuple[int, ...] | None:
    for s in sections:
        if s.type == SHT_SYMTAB_SHNDX and s.link == symtab_index:
            _check_bounds(p, s, size, "extended section index table")
            fmt = ("<" if little else ">") + f"{s.size // 4}I"
            return struct.unpack(fmt, mm[s.offset:s.offset + s.size // 4 * 4])
    return None


@dataclass(frozen=True, slots=True)
class _RawTable:
    """Where one symbol table and its strings lie in the mapped file."""

    path: Path
    mm: mmap.mmap
    symtab: Section
    strtab: Section
    little: bool
    elf_class: int
    xindex: tuple[int, ...] | None
    versions: _Versions | None


def _decode_symbols(raw: _RawTable, e_machine: int, machine: str, sl: SectionLetters,
                    all_symbols: bool, special_symbols: bool) -> SymbolTable:
    mm, symtab, little = raw.mm, raw.symtab, raw.little
    entsize = 16 if raw.elf_class == 32 else 24
    num = symtab.size // entsize
    section_names = [s.name for s in sl.sections]
    # Strided slices of typed arrays pull each field out in C; index 0 is the null symbol.
    data = memoryview(mm)[symtab.offset + entsize:symtab.offset + max(num, 1) * entsize]
    # One full-width array at a time, so the peak stays near one copy of the table.
    if raw.elf_class == 32:
        offsets, addresses, sizes = (_array("I", data, little)[k::4] for k in range(3))
        infos, shndx = bytes(data[12::16]), _array("H", data, little)[7::8]
        addresses, sizes = array("Q", addresses), array("Q", sizes)
    else:
        offsets = _array("I", data, little)[0::6]
        addresses, sizes = (_array("Q", data, little)[k::3] for k in (1, 2))
        infos, shndx = bytes(data[4::24]), array("I", _array("H", data, little)[3::12])
    del data
    if raw.xindex is not None:
        xi = raw.xindex
        shndx = array("I", (xi[n + 1] if s == SHN_XINDEX and n + 1 < len(xi) else s
                            for n, s in enumerate(shndx)))
    strings = mm[raw.strtab.offset:raw.strtab.offset + raw.strtab.size]
    ends = _name_ends(raw.path, strings, offsets)
    versions = (None if raw.versions is None
                else _version_suffixes(strings, offsets, ends, shndx, raw.versions))
    if all_symbols:  # BFD names them before it asks which symbols are special
        strings, offsets, ends = _name_section_symbols(strings, offsets, ends, infos, shndx,
                                                        section_names)
    keep = _visible(strings, offsets, ends, infos, 0 if special_symbols else e_machine,
                    all_symbols)
    if keep is not None:
        # Kept symbols come in runs (between file and section symbols): copy runs, not items.
        runs = [m.span() for m in re.finditer(b"\1+", keep)]
        offsets, ends, addresses, sizes, shndx = (
            _kept(col, runs) for col in (offsets, ends, addresses, sizes, shndx))
        infos = bytes(compress(infos, keep))
        if versions is not None:
            versions = list(compress(versions, keep))
    # A letter depends only on (st_info, section): decide each pair once. Streaming the
    # pairs through zip (which reuses its tuple) keeps 120k tuples from ever existing.
    memo = {key: letter(key[0], key[1], sl) for key in set(zip(infos, shndx))}
    letters = "".join(map(memo.__getitem__, zip(infos, shndx)))
    _adjust_addresses(addresses, sizes, letters, infos, shndx, e_machine, sl)
    return SymbolTable(path=str(raw.path), elf_class=raw.elf_class, machine=machine,
                       addresses=addresses, sizes=sizes, letters=letters, infos=infos,
                       shndx=shndx, section_names=section_names, strtab=strings,
                       name_offsets=offsets, name_ends=ends, versions=versions)


def _kept(column: array[int], runs: list[tuple[int, int]]) -> array[int]:
    """The items of ``column`` inside ``runs`` (start, end) of indices."""
    raw, size = column.tobytes(), column.itemsize
    out = array(column.typecode)
    out.frombytes(b"".join([raw[a * size:b * size] for a, b in runs]))
    return out


def _array(typecode: str, data: bytes | memoryview, little: bool) -> array[int]:
    """The bytes as an array of ``typecode`` items in the file's byte order."""
    arr = array(typecode)
    arr.frombytes(data[:len(data) // arr.itemsize * arr.itemsize])
    if little != (sys.byteorder == "little"):
        arr.byteswap()
    return arr


def _name_ends(p: Path, strings: bytes, offsets: array[int]) -> array[int]:
    """Where each name stops: the next NUL (C-level map over ``bytes.find``)."""
    nstr = len(strings)
    ends = array("I", map(strings.find, repeat(b"\0"), offsets))
    if 0xFFFFFFFF in ends:  # find() gave -1: an unterminated or out-of-range name
        for n in compress(count(), map((0xFFFFFFFF).__eq__, ends)):
            if offsets[n] > nstr:
                raise ElfError(p, f"corrupt symbol table: symbol {n + 1} names string"
                                  f" offset {offsets[n]} beyond the string table"
                                  f" ({nstr} bytes)")
            ends[n] = nstr
    return ends


# st_info -> 1 where nm lists the symbol by default: all but section and file symbols.
_LISTED_INFO = bytes(0 if i & 0xF in (STT_SECTION, STT_FILE) else 1 for i in range(256))
_SECTION_INFO = bytes(1 if i & 0xF == STT_SECTION else 0 for i in range(256))
# First bytes of the names bfd_is_target_special_symbol may accept (0: the empty name).
_SPECIAL_FIRST = {EM_ARM: b"$", EM_AARCH64: b"$", EM_RISCV: b"$._L\0"}


def _visible(strings: bytes, offsets: array[int], ends: array[int], infos: bytes,
             e_machine: int, all_symbols: bool) -> bytes | None:
    """Which symbols nm lists (a 0/1 byte each); None when all are.

    ``nm -a`` adds section and file symbols; special symbols (mapping symbols) are
    hidden on the machines that have them unless ``e_machine`` is 0.
    """
    keep = b"\1" * len(infos) if all_symbols else infos.translate(_LISTED_INFO)
    first = _SPECIAL_FIRST.get(e_machine) if e_machine in SPECIAL_MACHINES else None
    if first is not None:
        firsts = bytes(map(strings.__getitem__, offsets)) if len(strings) else b""
        table = bytes(1 if i in first else 0 for i in range(256))
        hide = [n for n in compress(count(), firsts.translate(table))
                if is_special(strings[offsets[n]:ends[n]].decode("latin-1"), e_machine)]
        if hide:
            mask = bytearray(keep)
            for n in hide:
                mask[n] = 0
            keep = bytes(mask)
    return None if 0 not in keep else keep


def _name_section_symbols(strings: bytes, offsets: array[int], ends: array[int],
                          infos: bytes, shndx: array[int], section_names: list[str]
                          ) -> tuple[bytes, array[int], array[int]]:
    """Give unnamed section symbols their section's name, as BFD does for ``nm -a``."""
    extra = bytearray()
    base = len(strings)
    for n in compress(count(), infos.translate(_SECTION_INFO)):
        if offsets[n] == ends[n] and shndx[n] < len(section_names):
            name = section_names[shndx[n]].encode("latin-1")
            offsets[n] = base + len(extra)
            extra += name
            ends[n] = base + len(extra)
    return (strings + bytes(extra) if extra else strings), offsets, ends


def _adjust_addresses(addresses: array[int], sizes: array[int], letters: str,
                      infos: bytes, shndx: array[int], e_machine: int,
                      sl: SectionLetters) -> None:
    """Make each address what nm prints: BFD's symbol value, not always ``st_value``."""
    common = "C" in letters or "c" in letters
    odd_funcs = e_machine in (EM_ARM, EM_MIPS)
    rel_addr = sl.relocatable and any(s.addr for s in sl.sections)
    if not (common or odd_funcs or rel_addr):
        return
    sections = sl.sections
    for n, value in enumerate(addresses):
        stype = infos[n] & 0xF
        if letters[n] in "Cc":
            addresses[n] = sizes[n]  # BFD shows a common symbol's size as its value
        elif odd_funcs and value & 1 and (
                stype == STT_FUNC or (e_machine == EM_ARM and stype == STT_GNU_IFUNC)):
            addresses[n] = value - 1  # the Thumb / MIPS16 / microMIPS bit is no address
        elif rel_addr and 0 < shndx[n] < len(sections):
            addresses[n] = value + sections[shndx[n]].addr


def linker_identity(path: str | os.PathLike[str]) -> str | None:
    """The linker that wrote ``path``, from its ``.comment`` (lld records ``Linker: LLD
    16.0.6``); None when it left no name (GNU ld does not). Raises ElfError."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            elf = ELFFile(f)
            section = elf.get_section_by_name(".comment")
            data = section.data() if section is not None else b""
    except (OSError, ELFError, ELFParseError, ConstructError, ValueError, struct.error) as e:
        raise ElfError(p, f"cannot read .comment: {_first_line(e)}") from None
    for text in data.split(b"\0"):
        s = text.decode("latin-1").strip()
        if s.startswith("Linker:"):
            return s.split(":", 1)[1].strip()
    return None
