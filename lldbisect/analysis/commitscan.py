"""The symbol-name patterns a linker commit adds, renames or removes (pure text analysis).

lld builds its symbol names in C++: a string literal joined to the target's name with
``+`` or ``<<``, inside ``Saver.save(`` / ``saver.save(`` / ``saver().save(`` /
``ctx.saver.save(``, ``Twine(...)``, ``(...).str()`` or ``addSymbol(...)``, sometimes
spread over several lines. GNU ld (bfd) names its stubs with printf formats
(``"__%s_veneer"``, ``"%08x.long_branch.%s"``). Both spellings are read from the files
before and after the commit; a pattern present after and not before was added, one
before and not after removed, and a removed and an added pattern in the same function
or class, renamed.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from lldbisect.kernel.model import RuleKind, name_matches
from lldbisect.kernel.rules import RuleSet

__all__ = [
    "NamePattern",
    "PatternChange",
    "ScanItem",
    "annotate",
    "observed_names",
    "patterns_in",
    "scan",
]

_CPP = (".cpp", ".cc", ".cxx", ".hpp", ".inc", ".def")
_C = (".c",)

# A call whose argument builds a symbol name, in any spelling LLVM has used.
_NAME_CALL = re.compile(
    r"(?:\b(?:ctx\s*\.\s*)?[Ss]aver(?:\s*\(\s*\))?\s*\.\s*save|\baddSymbol"
    r"|\baddSyntheticLocal|\bmakeDefined)\s*\(")
_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
# A literal joined to something else by + or << (either side), outside any call.
_JOINED = re.compile(r'(?:(?:\+|<<)\s*(?:\w+\s*\(\s*)?"((?:[^"\\\n]|\\.)*)"'
                     r'|"((?:[^"\\\n]|\\.)*)"\s*\)?\s*(?:\+|<<))')
# A literal wrapped in a conversion, which joins like the literal itself.
_WRAP_OPEN = re.compile(r"(?:\b(?:Twine|StringRef|std::string)\s*)?\(\s*$")
_PRINTF_TARGET = re.compile(r"%(?:[-+ #0]*\d*(?:\.\d+)?)s")
_PRINTF_OTHER = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?(?:l|ll|h|z|j|t)?[diouxXp]")
_NAMEISH = re.compile(r"[A-Za-z0-9_.$]+")
_FUNCTION = re.compile(r"^[A-Za-z_][\w:<>,*&\s~]*?\b((?:\w+::)*~?\w+)\s*\([^;]*$", re.M)
_CLASS = re.compile(r"^\s*(?:class|struct)\s+(\w+)", re.M)


class PatternChange(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    RENAMED = "renamed"


@dataclass(frozen=True)
class NamePattern:
    """A symbol-name pattern as the kernel's rules would express it."""

    kind: RuleKind  # PREFIX, SUFFIX, SUBSTRING or EXACT
    text: str

    def covers(self, name: str) -> bool:
        if self.kind is RuleKind.EXACT:
            return name == self.text
        return name_matches(self.kind, self.text, name) and len(name) > len(self.text)

    def example(self, target: str = "printk") -> str:
        """A name of this shape, to ask a kernel's rules about."""
        return {RuleKind.PREFIX: f"{self.text}{target}",
                RuleKind.SUFFIX: f"__{target}{self.text}",
                RuleKind.SUBSTRING: f"00000018{self.text}{target}"}.get(self.kind, self.text)

    def __str__(self) -> str:
        return f"{self.kind.value} {self.text}"


@dataclass(frozen=True)
class Found:
    pattern: NamePattern
    line: int
    scope: str  # the enclosing function, else class, else ""
    spelling: str  # the source text it came from, on one line


@dataclass(frozen=True)
class ScanItem:
    change: PatternChange
    pattern: NamePattern
    file: str
    line: int  # in the new file (added, renamed) or the old one (removed)
    scope: str
    spelling: str
    was: NamePattern | None = None  # for a rename: the pattern it replaced
    was_line: int | None = None
    hidden_by: dict[str, str | None] = field(default_factory=dict)  # kernel -> rule
    observed: list[str] = field(default_factory=list)  # real names it matches


def patterns_in(path: str, text: str) -> list[Found]:
    """Every symbol-name pattern the file's source builds."""
    if path.endswith(_CPP):
        return _cpp_patterns(text)
    if path.endswith(_C):
        return _c_patterns(text)
    if path.endswith(".h"):  # either project's headers
        return _c_patterns(text) + _cpp_patterns(text)
    return []


def _cpp_patterns(text: str) -> list[Found]:
    found: dict[tuple[NamePattern, int], Found] = {}
    spans = []
    scopes = _Scopes(text)
    for m in _NAME_CALL.finditer(text):
        start, end = m.end() - 1, _matching_paren(text, m.end() - 1)
        spans.append((start, end))
        for f in _from_expression(text, start + 1, end, scopes):
            found.setdefault((f.pattern, f.line), f)
    # "__X" + name outside those calls (a name built first, saved later).
    for m in _JOINED.finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        for f in _from_expression(text, *_statement(text, m.start()), scopes):
            found.setdefault((f.pattern, f.line), f)
    return sorted(found.values(), key=lambda f: f.line)


def _from_expression(text: str, start: int, end: int, scopes: _Scopes) -> Iterator[Found]:
    """Patterns from one name-building expression: each literal with where it sits in
    the concatenation (first: prefix; last: suffix; between: substring)."""
    expr = text[start:end]
    literals = list(_STRING.finditer(expr))
    if not literals:
        return
    joined = re.search(r"\+|<<", _STRING.sub('""', expr)) is not None
    for lit in literals:
        value = _unescape(lit.group(1))
        if not value or value.startswith("$") or not _NAMEISH.fullmatch(value):
            continue
        before = expr[:lit.start()].rstrip()
        after = expr[lit.end():].lstrip()
        while (m := _WRAP_OPEN.search(before)) and after.startswith(")"):
            before, after = before[:m.start()].rstrip(), after[1:].lstrip()
        joined_before = before.endswith(("+", "<<"))
        joined_after = after.startswith(("+", "<<"))
        if joined_before and not after and before.endswith("<<") and _streamed_after(
                text, before, end):
            kind = RuleKind.SUBSTRING  # os << hex; os << ".kind."; os << name;
        elif joined_before and joined_after:
            kind = RuleKind.SUBSTRING
        elif joined_after:
            kind = RuleKind.PREFIX
        elif joined_before:
            kind = RuleKind.SUFFIX
        elif not joined:
            kind = RuleKind.EXACT
        else:
            continue
        pos = start + lit.start()
        yield Found(NamePattern(kind, value), _line_of(text, pos), scopes.at(pos),
                    " ".join(text[start:end].split())[:160])


def _streamed_after(text: str, before: str, end: int) -> bool:
    """Whether the stream this statement writes to (``os << ...;``) gets more after it,
    before its function ends: then the literal sits inside the name."""
    m = re.match(r"\s*(?:else\s+|if\s*\([^;]*?\)\s*)*(\w+)\s*<<", before)
    if not m:
        return False
    rest = text[end:end + 400]
    close = rest.find("\n}")
    rest = rest if close < 0 else rest[:close]
    return re.search(rf"\b{re.escape(m.group(1))}\s*<<", rest) is not None


def _c_patterns(text: str) -> list[Found]:
    """printf formats naming a stub after its target: ``__%s_veneer``, ``%08x.x.%s``."""
    out = []
    scopes = _Scopes(text)
    for m in _STRING.finditer(text):
        value = _unescape(m.group(1))
        parts = _PRINTF_TARGET.split(value)
        if len(parts) != 2:
            continue
        head, tail = parts
        if _PRINTF_OTHER.search(tail) or not (head or tail):
            continue
        if _PRINTF_OTHER.search(head):  # "%08x.long_branch.%s": what follows the address
            pattern = NamePattern(RuleKind.SUBSTRING, _PRINTF_OTHER.split(head)[-1])
        elif tail:
            pattern = NamePattern(RuleKind.SUFFIX, tail)
        else:
            pattern = NamePattern(RuleKind.PREFIX, head)
        if len(pattern.text) < 3 or not _NAMEISH.fullmatch(pattern.text):
            continue  # a message or a path, not a symbol name
        define = re.match(r"\s*#\s*define\s+(\w+)", _line_text(text, m.start()))
        scope = define.group(1) if define else scopes.at(m.start())
        out.append(Found(pattern, _line_of(text, m.start()), scope,
                         " ".join(_line_text(text, m.start()).split())[:160]))
    return out


def _matching_paren(text: str, open_at: int) -> int:
    depth, i, n = 0, open_at, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            m = _STRING.match(text, i)
            i = m.end() if m else i + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        elif c == ";" and depth <= 1:
            return i
        i += 1
    return n


def _statement(text: str, pos: int) -> tuple[int, int]:
    """The statement around ``pos``: from the previous ``;``, ``{`` or ``}`` to the next ``;``."""
    start = max(text.rfind(c, 0, pos) for c in ";{}") + 1
    end = text.find(";", pos)
    return start, len(text) if end < 0 else end


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _line_text(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:] if end < 0 else text[start:end]


class _Scopes:
    """Where each function (``ARMV5PILongThunk::addSymbols``) and class starts in one
    file, found once, so naming the scope of a position is a binary search."""

    def __init__(self, text: str) -> None:
        marks = [(m.start(), m.group(1)) for m in _FUNCTION.finditer(text)]
        marks += [(m.start(), m.group(1)) for m in _CLASS.finditer(text)]
        marks.sort()
        self.starts = [p for p, _ in marks]
        self.names = [n for _, n in marks]

    def at(self, pos: int) -> str:
        k = bisect.bisect_right(self.starts, pos - 1)
        return self.names[k - 1] if k else ""


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _method(scope: str) -> str:
    return scope.rsplit("::", 1)[-1]


class FileChange(Protocol):
    """One file a commit changed (``gitrepo.FileChange``): its text before and after."""

    @property
    def old_path(self) -> str | None: ...
    @property
    def new_path(self) -> str | None: ...
    @property
    def old_text(self) -> str: ...
    @property
    def new_text(self) -> str: ...


def scan(changes: Iterable[FileChange]) -> list[ScanItem]:
    """The patterns added, removed and renamed by a commit's file changes."""
    items: list[ScanItem] = []
    for change in changes:
        old_path, new_path = change.old_path, change.new_path
        old_text, new_text = change.old_text, change.new_text
        path = new_path or old_path or ""
        before = patterns_in(old_path, old_text) if old_path else []
        after = patterns_in(new_path, new_text) if new_path else []
        had = {f.pattern for f in before}
        has = {f.pattern for f in after}
        added = _first_each(f for f in after if f.pattern not in had)
        removed = _first_each(f for f in before if f.pattern not in has)
        for a in list(added):
            r = _partner(a, removed)
            if r is not None:
                removed.remove(r)
                added.remove(a)
                items.append(ScanItem(PatternChange.RENAMED, a.pattern, path, a.line, a.scope,
                                      a.spelling, r.pattern, r.line))
        items += [ScanItem(PatternChange.ADDED, f.pattern, path, f.line, f.scope, f.spelling)
                  for f in added]
        items += [ScanItem(PatternChange.REMOVED, f.pattern, old_path or path, f.line, f.scope,
                           f.spelling) for f in removed]
    return items


def _first_each(found: Iterable[Found]) -> list[Found]:
    seen: dict[NamePattern, Found] = {}
    for f in found:
        seen.setdefault(f.pattern, f)
    return list(seen.values())


def _partner(added: Found, removed: list[Found]) -> Found | None:
    """The removed pattern an added one replaced, of the same rule kind: in the same
    function, else in a function of the same name (a class renamed with its pattern);
    the most similar text when several qualify."""
    same_kind = [r for r in removed if r.pattern.kind is added.pattern.kind and r.scope]
    for test in (lambda r: r.scope == added.scope,
                 lambda r: _method(r.scope) == _method(added.scope)):
        hits = [r for r in same_kind if test(r)]
        if hits:
            return max(hits, key=lambda r: difflib.SequenceMatcher(
                None, r.pattern.text, added.pattern.text).ratio())
    return None


def annotate(items: list[ScanItem], kernels: Sequence[tuple[str, RuleSet]],
             observed: Collection[str]) -> list[ScanItem]:
    """Each item with the rule of each kernel that hides names of its shape (None where
    kallsyms would see them) and the observed names it matches."""
    out = []
    for item in items:
        example = item.pattern.example()
        hidden = {}
        for label, rules in kernels:
            # A pattern in source has no symbol yet: an example name stands for it, as
            # a local function ('t'), the type every linker-made stub has.
            rule = rules.hiding_rule(example, "t")
            hidden[label] = None if rule is None else rule.describe()
        seen = sorted(n for n in observed if item.pattern.covers(n))
        out.append(replace(item, hidden_by=hidden, observed=seen))
    return out


def observed_names(doc: object) -> set[str]:
    """Every string in an lldbisect JSON report (check, probe, validate) that could be a
    symbol name: the members, culprits and examples it lists."""
    found: set[str] = set()
    stack = [doc]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            stack += x.values()
        elif isinstance(x, list):
            stack += x
        elif isinstance(x, str) and x and not any(c in x for c in " /<>()"):
            found.add(x)
    return found
