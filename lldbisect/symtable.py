"""A symbol table held in compact columns, and its ``nm -n`` listing.

120k symbols as 120k Python objects cost ~10x the file's own tables; here names stay
as offsets into the string table, numbers in typed arrays, letters in one string,
until someone asks for a ``Symbol`` or a name.
"""

from __future__ import annotations

import gc
import io
import sys
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, compress, count, islice, repeat
from operator import eq
from typing import BinaryIO, NamedTuple

__all__ = ["UNDEFINED_LETTERS", "Symbol", "SymbolTable", "no_gc"]

# nm prints no address for these.
UNDEFINED_LETTERS = frozenset("Uwv")

STB_NAMES = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "GNU_UNIQUE"}
STT_NAMES = {
    0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON",
    6: "TLS", 10: "GNU_IFUNC", 13: "LOPROC",
}
_PSEUDO_SECTIONS = {0: "*UND*", 0xFFF1: "*ABS*", 0xFFF2: "*COM*"}
_CHUNK = 8192  # lines formatted and written at a time


class Symbol(NamedTuple):
    """One symbol as nm sees it. ``type`` is GNU nm's letter; ``address`` what nm prints."""

    name: str
    address: int
    size: int
    type: str
    binding: str
    elf_type: str
    section_index: int
    section: str
    version: str = ""  # "@@V1" or "@V1" for a versioned dynamic symbol


class SymbolTable:
    """The symbols nm lists for one file, in symbol-table order, in columns.

    Names are either slices of ``strtab`` (``name_offsets`` to ``name_ends``) or a
    ready list (``names``), for tables read from an ``nm`` listing.
    """

    def __init__(self, *, path: str, elf_class: int, machine: str,
                 addresses: array[int], sizes: array[int], letters: str, infos: bytes,
                 shndx: array[int], section_names: Sequence[str],
                 strtab: bytes = b"", name_offsets: array[int] | None = None,
                 name_ends: array[int] | None = None, names: list[str] | None = None,
                 versions: list[str] | None = None) -> None:
        self.path = path
        self.elf_class = elf_class
        self.machine = machine
        self.addresses = addresses
        self.sizes = sizes
        self.letters = letters
        self.infos = infos
        self.shndx = shndx
        self.section_names = section_names
        self.versions = versions
        self._strtab = strtab
        self._offsets = name_offsets if name_offsets is not None else array("I")
        self._ends = name_ends if name_ends is not None else array("I")
        self._names = names

    def __len__(self) -> int:
        return len(self.letters)

    def name(self, i: int) -> str:
        """The name of symbol ``i`` (latin-1: one character per byte of the file)."""
        if self._names is not None:
            return self._names[i]
        return self._strtab[self._offsets[i]:self._ends[i]].decode("latin-1")

    @property
    def names(self) -> list[str]:
        """Every name, decoded once and kept (latin-1: one character per byte)."""
        if self._names is None:
            strtab = self._strtab
            self._names = [strtab[a:b].decode("latin-1")
                           for a, b in zip(self._offsets, self._ends)]
        return self._names

    def _name_bytes(self, order: Sequence[int]) -> list[bytes]:
        if self._names is not None:
            names = self._names
            return [names[i].encode("latin-1") for i in order]
        strtab, offs, ends = self._strtab, self._offsets, self._ends
        return [strtab[offs[i]:ends[i]] for i in order]

    def __iter__(self) -> Iterator[Symbol]:
        return map(self.symbol, range(len(self)))

    def symbol(self, i: int) -> Symbol:
        """Symbol ``i`` as a typed record; names are given their UTF-8 reading."""
        info, idx = self.infos[i], self.shndx[i]
        if idx < len(self.section_names) and idx:
            section = self.section_names[idx]
        else:
            section = _PSEUDO_SECTIONS.get(idx, "*ABS*")
        version = self.versions[i] if self.versions is not None else ""
        return Symbol(
            _text(self.name(i)), self.addresses[i], self.sizes[i], self.letters[i],
            STB_NAMES.get(info >> 4, str(info >> 4)),
            STT_NAMES.get(info & 0xF, str(info & 0xF)),
            idx, section, _text(version),
        )

    def num_undefined(self) -> int:
        """How many symbols are undefined (``U``, ``w``, ``v``)."""
        letters = self.letters
        return letters.count("U") + letters.count("w") + letters.count("v")

    def nm_order(self) -> Sequence[int]:
        """Indices in ``nm -n`` order: undefined first by name, then by address, name."""
        keys: Sequence[int] = self.addresses
        if self.num_undefined():
            keys = [-1 if c in UNDEFINED_LETTERS else a for c, a in zip(self.letters, keys)]
        # Sorting on ints alone is 4x faster than on (address, name) tuples; names
        # then order only the runs of equal addresses. Arrays keep the peak down.
        order = array("I", sorted(range(len(keys)), key=keys.__getitem__))
        ties = list(compress(count(), map(eq, map(keys.__getitem__, order),
                                          map(keys.__getitem__, islice(order, 1, None)))))
        by_name = self.name
        run_start = run_end = -2
        for pos in chain(ties, (-2,)):
            if pos == run_end + 1:
                run_end = pos
                continue
            if run_start >= 0:
                order[run_start:run_end + 2] = array(
                    "I", sorted(order[run_start:run_end + 2], key=by_name))
            run_start = run_end = pos
        return order

    def sorted_symbols(self) -> list[Symbol]:
        """The symbols in ``nm -n`` order."""
        return list(map(self.symbol, self.nm_order()))

    def write_nm_listing(self, out: BinaryIO) -> None:
        """Write exactly the bytes ``nm -n`` prints for this table, in chunks."""
        with no_gc():
            order = self.nm_order()
            width = 8 if self.elf_class == 32 else 16
            undefined = self.num_undefined()  # they sort first
            mids = {c: f" {c} ".encode() for c in set(self.letters)}
            blank = b" " * width
            for start in range(0, len(order), _CHUNK):
                chunk = order[start:start + _CHUNK]
                n = len(chunk)
                blanks = max(0, min(undefined - start, n))
                flat: list[bytes] = [b""] * (4 * n)
                flat[0:4 * blanks:4] = [blank] * blanks
                flat[4 * blanks::4] = _hex([self.addresses[i] for i in chunk[blanks:]],
                                           width // 2)
                flat[1::4] = [mids[self.letters[i]] for i in chunk]
                names = self._name_bytes(chunk)
                if self.versions is not None:
                    versions = self.versions
                    names = [b + versions[i].encode("latin-1") for b, i in zip(names, chunk)]
                flat[2::4] = names
                flat[3::4] = repeat(b"\n", n)
                out.write(b"".join(flat))

    def nm_listing(self) -> bytes:
        """The bytes ``nm -n`` prints for this table."""
        buf = io.BytesIO()
        self.write_nm_listing(buf)
        return buf.getvalue()


def _hex(values: list[int], nbytes: int) -> list[bytes]:
    """Zero-padded lower-case hex of each value, formatted in one C call."""
    if not values:
        return []
    arr = array("I" if nbytes == 4 else "Q", values)
    if sys.byteorder == "little":
        arr.byteswap()
    return arr.tobytes().hex(" ", nbytes).encode().split(b" ")


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC: building 100k+ lists and tuples otherwise triggers
    collections that find nothing and cost a fifth of the run time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _text(name: str) -> str:
    """Turn a latin-1 decoded name back into its UTF-8 reading for the public API."""
    if name.isascii():
        return name
    return name.encode("latin-1").decode("utf-8", "surrogateescape")
