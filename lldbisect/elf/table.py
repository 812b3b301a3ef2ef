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
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, compress, count, islice
from operator import eq
from typing import NamedTuple, Protocol

__all__ = ["UNDEFINED_LETTERS", "Symbol", "SymbolTable", "Writer", "no_gc"]

# nm prints no address for these.
UNDEFINED_LETTERS = frozenset("Uwv")

STB_NAMES = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "GNU_UNIQUE"}
STT_NAMES = {
    0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON",
    6: "TLS", 10: "GNU_IFUNC", 13: "LOPROC",
}
_PSEUDO_SECTIONS = {0: "*UND*", 0xFFF1: "*ABS*", 0xFFF2: "*COM*"}
_CHUNK = 8192  # lines formatted and written at a time


class Writer(Protocol):
    """Where a listing goes: a binary file, ``sys.stdout.buffer``, a ``BytesIO``."""

    def write(self, data: bytes, /) -> object: ...


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
        self._counts: Counter[str] | None = None

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
            strtab = self._strtab.decode("latin-1")  # slicing one str beats 120k decodes
            self._names = [strtab[a:b] for a, b in zip(self._offsets, self._ends)]
        return self._names

    def name_counts(self) -> Counter[str]:
        """How often each name occurs: kept, as several comparisons need its keys
        (treat it as read-only)."""
        if self._counts is None:
            self._counts = Counter(self.names)
        return self._counts

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
        return self._nm_sorted()[0]

    def _nm_sorted(self) -> tuple[array[int], array[int] | None]:
        """``nm_order``, and the addresses in that order when the sort gave them."""
        undefined = self.num_undefined()
        packed = _packed_order(self.addresses, self.letters if undefined else "")
        in_order = None
        if packed is not None:
            order, prefixes, in_order = packed
            ties = compress(count(), map(eq, prefixes, islice(prefixes, 1, None)))
        else:
            keys: Sequence[int] = self.addresses
            if undefined:
                keys = [-1 if c in UNDEFINED_LETTERS else a
                        for c, a in zip(self.letters, keys)]
            order = array("I", sorted(range(len(keys)), key=keys.__getitem__))
            ties = compress(count(), map(eq, map(keys.__getitem__, order),
                                         map(keys.__getitem__, islice(order, 1, None))))
        # The sort key holds no name: names order only the runs of equal addresses.
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
        return order, in_order

    def sorted_symbols(self) -> list[Symbol]:
        """The symbols in ``nm -n`` order."""
        return list(map(self.symbol, self.nm_order()))

    def write_nm_listing(self, out: Writer) -> None:
        """Write exactly the bytes ``nm -n`` prints for this table, in chunks.

        Each line is two pieces: ``"\\n" ADDRESS " X "`` (the newline ending the line
        before), built for a whole chunk in C, and the name; so the output starts with
        one newline too many and ends one short.
        """
        with no_gc():
            order, in_order = self._nm_sorted()
            width = 8 if self.elf_class == 32 else 16
            undefined = self.num_undefined()  # they sort first
            letters = self.letters.encode("latin-1")
            for start in range(0, len(order), _CHUNK):
                chunk = order[start:start + _CHUNK]
                n = len(chunk)
                pieces: list[bytes] = [b""] * (2 * n)
                pieces[0::2] = _line_starts(
                    in_order[start:start + _CHUNK] if in_order is not None
                    else array("Q", map(self.addresses.__getitem__, chunk)),
                    bytes(map(letters.__getitem__, chunk)), width,
                    max(0, min(undefined - start, n)))
                names = self._name_bytes(chunk)
                if self.versions is not None:
                    versions = self.versions
                    names = [b + versions[i].encode("latin-1") for b, i in zip(names, chunk)]
                pieces[1::2] = names
                text = b"".join(pieces)
                out.write(text[1:] if start == 0 else text)
            if order:
                out.write(b"\n")

    def nm_listing(self) -> bytes:
        """The bytes ``nm -n`` prints for this table."""
        buf = io.BytesIO()
        self.write_nm_listing(buf)
        return buf.getvalue()


def _line_starts(addresses: array[int], letters: bytes, width: int, blanks: int
                 ) -> list[bytes]:
    """``"\\n" + address + " X "`` for each symbol (spaces for the first ``blanks``
    addresses), assembled with strided copies in one buffer and split at the NUL that
    ends each: no Python work per line."""
    n = len(addresses)
    step = width + 5
    big_endian = array("Q")
    big_endian.frombytes(addresses.tobytes())
    if sys.byteorder == "little":
        big_endian.byteswap()
    digits = big_endian.tobytes().hex().encode()  # 16 per address, most significant first
    buf = bytearray(step * n)
    buf[0::step] = b"\n" * n
    for k in range(width):
        buf[1 + k::step] = digits[16 - width + k::16]
        buf[1 + k:step * blanks:step] = b" " * blanks
    buf[width + 1::step] = b" " * n
    buf[width + 2::step] = letters
    buf[width + 3::step] = b" " * n
    return bytes(buf[:-1]).split(b"\0") if n else []


# Ranks 1..126 keep the top byte of a packed key at or below 0x7E, so the key read as an
# IEEE double is finite and positive; rank 0 is the undefined symbols'.
_MAX_RANKS = 126
_UNDEFINED_TABLE = bytes(1 if chr(c) in UNDEFINED_LETTERS else 0 for c in range(256))


def _packed_order(addresses: array[int], letters: str
                  ) -> tuple[array[int], array[int], array[int]] | None:
    """``addresses`` sorted by (address, index) in C: (the order, each sorted key without
    its index, the addresses in that order: 0 for undefined symbols). None where the
    packing does not fit (it then falls back to a keyed sort).

    Each key is one 64-bit word: rank of the address's high 32 bits (a kernel image has
    two: 0 and 0xffffffff), its low 32 bits, and the 24-bit index. Positive doubles order
    like their bit patterns, so a list of the words read as floats sorts with CPython's
    float fast path: 3x faster than ints through a key function, at a third the memory.
    Undefined symbols (``letters`` given) get rank 0 and address 0: nm puts them first.
    """
    n = len(addresses)
    if sys.byteorder != "little" or n >= 1 << 24 or addresses.itemsize != 8:
        return None
    raw = addresses.tobytes()
    high = array("I", raw)[1::2]
    distinct = sorted(set(high))
    if len(distinct) > _MAX_RANKS:
        return None
    if len(distinct) == 1:
        ranks = b"\1" * n
    else:
        rank_of = {h: r for r, h in enumerate(distinct, start=1)}
        ranks = bytes(map(rank_of.__getitem__, high))
    del high
    key = bytearray(8 * n)
    index = array("I", range(n)).tobytes()
    for k in range(3):
        key[k::8] = index[k::4]
    del index
    for k in range(4):
        key[3 + k::8] = raw[k::8]
    del raw
    key[7::8] = ranks
    if letters:
        for i in compress(count(), letters.encode("latin-1").translate(_UNDEFINED_TABLE)):
            key[8 * i + 3:8 * i + 8] = bytes(5)
    floats = array("d", key).tolist()
    del key
    floats.sort()
    packed = bytearray(array("d", floats).tobytes())
    del floats
    order = bytearray(4 * n)
    for k in range(3):
        order[k::4] = packed[k::8]
        packed[k::8] = bytes(n)
    # The addresses back from the keys: low half as it is, high half from its rank.
    in_order = bytearray(8 * n)
    ranks = bytes(packed[7::8])
    for k in range(4):
        in_order[k::8] = packed[3 + k::8]
        high_byte = bytes([0, *((h >> 8 * k) & 0xFF for h in distinct)])
        in_order[4 + k::8] = ranks.translate(high_byte.ljust(256, b"\0"))
    return array("I", order), array("Q", packed), array("Q", in_order)


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


def first_indices(names: Sequence[str], wanted: Collection[str]) -> dict[str, int]:
    """The index of each wanted name's first symbol in ``names``."""
    out: dict[str, int] = {}
    if not wanted:
        return out
    for i, n in enumerate(names):
        if n in wanted and n not in out:
            out[n] = i
    return out
