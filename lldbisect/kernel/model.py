"""The rule model shared by the parsers: one ``Rule`` per way a tree hides a symbol."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Filter", "Rule", "RuleKind", "name_matches"]


class RuleKind(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    SUBSTRING = "substring"
    REGEX = "regex"
    TYPE = "type"  # nm type letters; with ``keep`` names, the absolute-symbol allow-list


class Filter(StrEnum):
    """Which program drops a symbol: mksysmap (System.map) or kallsyms itself."""

    MKSYSMAP = "mksysmap"  # filters the `nm -n` listing (System.map, and kallsyms from 6.1)
    KALLSYMS = "kallsyms"  # scripts/kallsyms.c's own checks


@dataclass(frozen=True)
class Rule:
    """One rule as the real tool evaluates it.

    ``pattern`` is the name text for exact/prefix/suffix/substring rules, the letters
    for type rules, and for regex rules the regular expression as sed or grep receive
    it (after the shell). ``regex`` is its Python translation, searched in the
    ``nm -n`` line; every mksysmap rule has one, whatever its kind. A kallsyms.c
    rule with a ``regex`` (the ARM mapping-symbol check) searches the name.
    """

    kind: RuleKind
    pattern: str
    stage: Filter
    file: str
    line: int
    comment: str = ""
    source: str = ""
    regex: str | None = None
    keep: frozenset[str] = field(default_factory=frozenset)
    warning: str | None = None
    # A mksysmap regex that can only match from the name's start, as a regex on names.
    name_regex: str | None = None

    def hides(self, name: str, letter: str, nm_line: str) -> bool:
        """Whether this rule drops the symbol (``nm_line`` as ``nm -n`` prints it)."""
        if self.regex is not None:
            # sed and grep see the whole nm line; kallsyms.c's checks see the name.
            subject = nm_line if self.stage is Filter.MKSYSMAP else name
            return _compiled(self.regex).search(subject) is not None
        if self.kind is RuleKind.TYPE:
            return letter in self.pattern and name not in self.keep
        return name_matches(self.kind, self.pattern, name)

    def describe(self) -> str:
        where = f"{self.file}:{self.line}"
        extra = f" (keeps {', '.join(sorted(self.keep))})" if self.keep else ""
        return f"{self.stage.value} {self.kind.value} {self.pattern!r}{extra} at {where}"


def name_matches(kind: RuleKind, pattern: str, name: str) -> bool:
    """Whether a name rule of ``kind`` hides ``name`` (kallsyms.c's strcmp, strncmp,
    tail compare and strstr; a regex searched in the name)."""
    if kind is RuleKind.EXACT:
        return name == pattern
    if kind is RuleKind.PREFIX:
        return name.startswith(pattern)
    if kind is RuleKind.SUFFIX:
        return name.endswith(pattern)
    if kind is RuleKind.SUBSTRING:
        return pattern in name
    if kind is RuleKind.REGEX:
        return _compiled(pattern).search(name) is not None
    return False


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(regex: str) -> re.Pattern[str]:
    pat = _CACHE.get(regex)
    if pat is None:
        pat = _CACHE[regex] = re.compile(regex, re.ASCII | re.DOTALL)
    return pat
