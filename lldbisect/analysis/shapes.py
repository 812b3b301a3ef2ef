"""Linker-made names recognised by their shape alone, for builds whose inputs are gone.

Only shapes linkers use and kernel code does not: the known families (labels.py), any
lld-style ``__<Word>Thunk_<sym>`` (a naming nobody has listed yet is found too), the
PowerPC ``<hex>.<kind>.<sym>`` stubs, GNU's ``__<sym>_veneer``-style stubs and lld's
erratum patches ``__CortexA53843419_<hex>``, and only on local code symbols, which is
what every linker makes. ``__<prefix>_<sym>`` in general is not enough: the kernel is
full of it (``__do_sys_foo``, ``__pfx_foo``, ``__se_sys_foo``). What this finds is still
unconfirmed, and every report says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from lldbisect.analysis.labels import KNOWN
from lldbisect.elf.table import SymbolTable

__all__ = ["made_by_shape", "shaped_like_linker"]

_KNOWN_PREFIXES = tuple(sorted(p for (k, p) in KNOWN if k == "prefix"))
_KNOWN_SUFFIXES = tuple(sorted(p for (k, p) in KNOWN if k == "suffix"))
_KNOWN_EXACT = frozenset(p for (k, p) in KNOWN if k == "exact")
# lld's thunk naming: __<Arch><Kind>Thunk_<target>, however the arch part is spelt.
_THUNK = re.compile(r"__[A-Za-z][A-Za-z0-9]*(?:Thunk|Veneer|Trampoline)_(?P<target>.+)")
# PowerPC stubs of GNU ld and lld: <8 hex>.<kind>.<target>[+addend]
_HEX_STUB = re.compile(r"[0-9a-fA-F]{8}\.(?:[a-z0-9_]+\.)*?(?:long_branch|plt_branch|"
                       r"plt_call|plt_call32|plt_pic32|got2\.plt_pic32|[a-z_]*stub)\."
                       r"(?P<target>[^+]+)(?:\+[0-9a-fA-F]+)?")
# lld's erratum patches: __CortexA53843419_<hex address>, __CortexA8657417_<hex>
_ERRATUM = re.compile(r"__Cortex[A-Z][0-9]+_[0-9A-Fa-f]+")


def shaped_like_linker(name: str, targets: Collection[str]) -> bool:
    """Whether ``name`` is built the way a linker builds a stub's name."""
    if name in _KNOWN_EXACT:
        return True
    m = _THUNK.fullmatch(name)
    if m and m.group("target") in targets:
        return True
    for prefix in _KNOWN_PREFIXES:
        if name.startswith(prefix) and (name[len(prefix):] in targets or (prefix == ".pic."
                                        and len(name) > len(prefix))):
            return True
    for suffix in _KNOWN_SUFFIXES:
        if name.endswith(suffix):
            stem = name[:-len(suffix)]
            if stem in targets or (stem.startswith("__") and stem[2:] in targets):
                return True
    m = _HEX_STUB.fullmatch(name)
    if m and (m.group("target") in targets or re.fullmatch(r"[0-9a-f]+(:[0-9a-f]+)*",
                                                          m.group("target"))):
        return True
    return _ERRATUM.fullmatch(name) is not None


def made_by_shape(table: SymbolTable, ordinary: Callable[[str], bool]) -> frozenset[str]:
    """The local code symbols of ``table`` whose names are shaped like a linker's."""
    targets = table.name_counts().keys()
    letters = table.letters
    return frozenset(name for i, name in enumerate(table.names)
                     if letters[i] == "t" and not ordinary(name)
                     and shaped_like_linker(name, targets))
