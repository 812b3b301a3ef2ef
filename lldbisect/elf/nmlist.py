"""Symbol tables from ``nm -n`` listings (System.map, ``.syms`` files), or from ELF files."""

from __future__ import annotations

import os
import re
from array import array
from pathlib import Path

from lldbisect.elf.table import UNDEFINED_LETTERS, SymbolTable
from lldbisect.errors import InputError

__all__ = ["parse_nm_listing", "read_symbol_file"]

_LINE = re.compile(r"([0-9a-fA-F]+| +) ([A-Za-z?]) (.*)")


def parse_nm_listing(text: str, path: str = "<listing>") -> SymbolTable:
    """A table from the text of ``nm -n`` (or System.map). Raises InputError naming the
    first line that is not ``ADDRESS TYPE NAME``."""
    names: list[str] = []
    addresses = array("Q")
    letters: list[str] = []
    width = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        m = _LINE.fullmatch(line)
        if not m or (m.group(1).startswith(" ") and m.group(2) not in UNDEFINED_LETTERS):
            raise InputError(path, f"line {n}: expected `ADDRESS TYPE NAME` as nm -n prints,"
                                   f" got {line[:60]!r}")
        field = m.group(1)
        if len(field.lstrip("0")) > 16:
            raise InputError(path, f"line {n}: address {field[:24]!r} does not fit 64 bits")
        width = max(width, len(field))
        addresses.append(0 if field.startswith(" ") else int(field, 16))
        letters.append(m.group(2))
        names.append(m.group(3))
    count = len(names)
    return SymbolTable(
        path=path, elf_class=64 if width > 8 else 32, machine="nm listing",
        addresses=addresses, sizes=array("Q", bytes(8 * count)), letters="".join(letters),
        infos=bytes(count), shndx=array("I", bytes(4 * count)), section_names=(),
        names=names)


def read_symbol_file(path: str | os.PathLike[str]) -> SymbolTable:
    """An ELF file's symbols as nm lists them, or an ``nm -n`` listing, by content.

    A FIFO or a device (``/dev/stdin``, ``<(...)``) is read once, whole, before it is
    judged: opening it twice would start the second read mid-stream. Raises InputError
    for a missing, unreadable or empty file, and for a listing with no symbol."""
    p = Path(path)
    try:
        regular = p.is_file()
        with open(p, "rb") as f:
            data = f.read(4) if regular else f.read()
    except FileNotFoundError:
        raise InputError(p, "no such file") from None
    except IsADirectoryError:
        raise InputError(p, "is a directory, not an ELF file or nm listing") from None
    except OSError as e:
        raise InputError(p, f"cannot read: {e.strerror}") from None
    if not data:
        raise InputError(p, "empty: no ELF file and no nm listing (was the link cut short?)")
    if data[:4] == b"\x7fELF":
        from lldbisect.elf.reader import read_symbols

        if regular:
            return read_symbols(p)
        import tempfile

        with tempfile.NamedTemporaryFile(prefix="lldbisect-stream-") as tmp:
            tmp.write(data)
            tmp.flush()
            table = read_symbols(tmp.name)
        table.path = str(p)
        return table
    if regular:
        try:
            data = p.read_bytes()
        except OSError as e:
            raise InputError(p, f"cannot read: {e.strerror}") from None
    table = parse_nm_listing(data.decode("latin-1"), str(p))
    if not table.names:
        raise InputError(p, "no symbols: an nm listing of nothing (blank lines only)")
    return table
