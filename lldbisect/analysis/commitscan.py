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
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from lldbisect.analysis.bfdnames import c_names
from lldbisect.analysis.cppnames import (
    clean_source,
    creation_sites,
    name_literals,
    scope_at,
    sink_functions,
)
from lldbisect.errors import InputError
from lldbisect.kernel.model import RuleKind, name_matches
from lldbisect.kernel.rules import RuleSet

__all__ = [
    "Found",
    "NamePattern",
    "PatternChange",
    "ScanItem",
    "annotate",
    "observed_names",
    "patterns_in",
    "scan",
    "scannable",
    "tree_changes",
]

_CPP = (".cpp", ".cc", ".cxx", ".hpp", ".inc", ".def")
_C = (".c",)

# Within one line ([ \t], never \s): a pattern that crosses newlines goes quadratic on
# the long blank runs a removed comment leaves.
_FUNCTION = re.compile(r"^[A-Za-z_][\w:<>,*& \t~]*?\b((?:\w+::)*~?\w+)[ \t]*\([^;]*$",
                       re.M)
_CLASS = re.compile(r"^[ \t]*(?:class|struct)[ \t]+(\w+)", re.M)


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
    commit: str = ""  # in a range scan: the commit that made the change


def scannable(path: str) -> bool:
    """Whether ``patterns_in`` reads this file (C, C++ and their headers)."""
    return path.endswith((*_CPP, *_C, ".h"))


def tree_changes(old: Path, new: Path) -> list[FileChangeText]:
    """Two source trees (lld/ELF of two releases, say) as the changes between them:
    every scannable file that differs, added or removed. Raises InputError for a
    path that is no directory."""
    for d in (old, new):
        if not d.is_dir():
            raise InputError(d, "not a directory: --trees takes two source trees")

    def files(root: Path) -> dict[str, Path]:
        return {str(p.relative_to(root)): p for p in root.rglob("*")
                if p.is_file() and scannable(p.name)}

    def read(p: Path | None) -> str:
        if p is None:
            return ""
        try:
            return p.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise InputError(p, f"cannot read: {e.strerror}") from None

    a, b = files(old), files(new)
    out = []
    for rel in sorted(a.keys() | b.keys()):
        before, after = read(a.get(rel)), read(b.get(rel))
        if before != after:
            out.append(FileChangeText(rel if rel in a else None, rel if rel in b else None,
                                      before, after))
    return out


@dataclass(frozen=True)
class FileChangeText:
    """One file's text before and after (a FileChange read from two trees)."""

    old_path: str | None
    new_path: str | None
    old_text: str
    new_text: str


@lru_cache(maxsize=64)
def patterns_in(path: str, text: str) -> list[Found]:
    """Every symbol-name pattern the file's source builds (cached: in a range, each
    commit's new text is the next one's old text)."""
    if path.endswith(_CPP):
        return _cpp_patterns(text)
    if path.endswith(_C):
        return _c_patterns(text)
    if path.endswith(".h"):  # either project's headers
        return _c_patterns(text) + _cpp_patterns(text)
    return []


_POSITION_KIND = {"whole": RuleKind.EXACT, "start": RuleKind.PREFIX, "end": RuleKind.SUFFIX,
                  "middle": RuleKind.SUBSTRING}


def _cpp_patterns(text: str) -> list[Found]:
    """The literals that reach a symbol-creating call, each with its place in the name
    (cppnames reads the C++ as code)."""
    found: dict[tuple[NamePattern, int], Found] = {}
    code = clean_source(text)
    for lit in name_literals(text):
        pattern = NamePattern(_POSITION_KIND[lit.position], lit.value)
        line = _line_of(text, lit.offset)
        call_end = text.find(";", lit.call)
        spelling = " ".join(text[lit.call:call_end if call_end > 0 else None].split())
        # The scope is the creating call's: a constant's literal sits outside any function.
        found.setdefault((pattern, line), Found(pattern, line, scope_at(code, lit.call),
                                                spelling[:160]))
    return sorted(found.values(), key=lambda f: f.line)


def _c_patterns(text: str) -> list[Found]:
    """bfd's names (``bfdnames``), each with the function or macro it is made in."""
    code = clean_source(text)
    scopes = _Scopes(code)
    out = []
    for name in c_names(text):
        define = re.match(r"\s*#\s*define\s+(\w+)", _line_text(code, name.offset))
        scope = define.group(1) if define else scopes.at(name.offset)
        out.append(Found(NamePattern(name.kind, name.text), _line_of(code, name.offset), scope,
                         " ".join(_line_text(text, name.offset).split())[:160]))
    return out


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


def _owner(scope: str) -> str:
    """The class a method belongs to (``ARMV5PILongThunk::addSymbols``), else the scope."""
    return scope.rsplit("::", 1)[0] if "::" in scope else scope


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


def scan(changes: Iterable[FileChange],
         progress: Callable[[int, str], None] | None = None) -> list[ScanItem]:
    """The patterns added, removed and renamed by a commit's file changes;
    ``progress(k, path)`` is told of each file as it is read."""
    items: list[ScanItem] = []
    for k, change in enumerate(changes, 1):
        if progress is not None:
            progress(k, change.new_path or change.old_path or "")
        old_path, new_path = change.old_path, change.new_path
        old_text, new_text = change.old_text, change.new_text
        path = new_path or old_path or ""
        if old_path and new_path and _same_names(old_text, new_text,
                                                 path.endswith((*_CPP, ".h"))):
            continue  # nothing a name could be built from changed: nothing to read
        before = patterns_in(old_path, old_text) if old_path else []
        after = patterns_in(new_path, new_text) if new_path else []
        had = {f.pattern for f in before}
        has = {f.pattern for f in after}
        added = _first_each(f for f in after if f.pattern not in had)
        removed = _first_each(f for f in before if f.pattern not in has)
        cpp = path.endswith(_CPP) or path.endswith(".h")
        pairing = cpp and bool(added) and bool(removed)  # else no site is ever asked
        sites = (creation_sites(old_text) if pairing and old_path else {},
                 creation_sites(new_text) if pairing and new_path else {})
        classes: tuple[set[str], set[str]] | None = None
        for a in list(added):
            r = _partner(a, removed, sites)
            if r is None and cpp and not (sites[0] or sites[1]):  # no sites: by the class
                classes = classes or (_classes(old_text), _classes(new_text))
                r = _renamed_class(a, removed, added, classes)
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


def _prefix(a: str, b: str) -> int:
    """The length of the common prefix (slice compares: memcmp, not a Python loop)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _suffix(a: str, b: str, most: int) -> int:
    lo, hi = 0, most
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid:] == b[len(b) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return lo


# What a changed line must not hold for the change to leave every name as it was:
# literals, comment delimiters, preprocessor lines and continuations, constants, and
# the calls that create a symbol.
_STOP_RAW = ("/*", "*/", "\\")
_STOP_CODE = ('"', "'", "#", "const", "define", "addSymbol", "addSyntheticLocal",
              "makeDefined")
_LINE_COMMENT = re.compile(r"//[^\n]*")
# What may stand between a function's ``)`` and its ``{`` (``) const override -> T {``).
_HEADER_TAIL = re.compile(r"[\s\w:<>\-]*")


class _SinkSpans:
    """The creating functions' spans of each C++ text met, carried from a file's text to
    the next one where the quick path shows how they moved (a text analysed once)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.known: dict[str, list[tuple[int, int]]] = {}

    def of(self, text: str) -> list[tuple[int, int]]:
        spans = self.known.get(text)
        if spans is None:
            spans = sink_functions(clean_source(text))
            self.remember(text, spans)
        return spans

    def remember(self, text: str, spans: list[tuple[int, int]]) -> None:
        if len(self.known) >= self.size:
            self.known.pop(next(iter(self.known)))
        self.known[text] = spans


_SINKS = _SinkSpans()


def _same_names(old: str, new: str, cpp: bool) -> bool:
    """Whether ``new`` surely builds the names ``old`` does, read from the changed lines
    alone (the common prefix and suffix cut off): no literal, comment delimiter,
    preprocessor line, constant or creating call on them, their braces balanced, no
    function header running into them, and (C++) none inside a function that creates
    a symbol. False means only "read both files"."""
    if old == new:
        return True
    p = _prefix(old, new)
    s = _suffix(old, new, min(len(old), len(new)) - p)
    start = old.rfind("\n", 0, p) + 1
    ends = []
    for text in (old, new):
        end = text.find("\n", len(text) - s)
        ends.append(len(text) if end < 0 else end)
    old_end, new_end = ends
    for text, end in ((old, old_end), (new, new_end)):
        region = text[start:end]
        if any(w in region for w in _STOP_RAW):
            return False
        code = _LINE_COMMENT.sub("", region)
        if any(w in code for w in _STOP_CODE) or not _balanced(code):
            return False
        if _header_may_follow(text, end):
            return False  # a ")" in the change may make the next "{" a function's body
    if cpp:
        spans = _SINKS.of(old)
        if any(a <= old_end and start <= b for a, b in spans):
            return False
        if any(not any(a <= w < b for a, b in spans) for w in _sink_words(old)):
            return False  # a creating call the reader scopes to the whole file before it
        delta = len(new) - len(old)
        _SINKS.remember(new, [(a + delta, b + delta) if a > old_end else (a, b)
                              for a, b in spans])
    return True


_BRACE = re.compile(r"[{}]")


def _header_may_follow(text: str, end: int) -> bool:
    """Whether what follows ``end`` up to the next ``{`` could end a function header
    (``) const override -> T {``), comments removed as the reader removes them."""
    brace = text.find("{", end)
    tail = text[end:len(text) if brace < 0 else brace]
    if "*/" in tail.split("/*", 1)[0]:
        return True  # the change sits inside a block comment: do not reason about it
    tail = _TAIL_COMMENTS.sub(" ", tail)
    if brace < 0:
        return False
    if "/*" in tail or "//" in tail:
        return True  # a comment that hides the "{" found: read both files
    return _HEADER_TAIL.fullmatch(tail) is not None


_TAIL_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _sink_words(text: str) -> list[int]:
    out = []
    for w in ("addSymbol", "addSyntheticLocal", "makeDefined"):
        i = text.find(w)
        while i >= 0:
            out.append(i)
            i = text.find(w, i + len(w))
    return out


def _balanced(code: str) -> bool:
    if code.count("{") != code.count("}"):
        return False
    depth = 0
    for c in _BRACE.findall(code):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _first_each(found: Iterable[Found]) -> list[Found]:
    seen: dict[NamePattern, Found] = {}
    for f in found:
        seen.setdefault(f.pattern, f)
    return list(seen.values())


def _partner(added: Found, removed: list[Found],
             sites: tuple[dict[str, set[str]], dict[str, set[str]]]) -> Found | None:
    """The removed pattern an added one replaced, of the same rule kind, paired by the
    thing both name: the same function or macro, else classes created at the same place
    (the same function and condition: a thunk class renamed with its name); the most
    similar text when several qualify. None: the added pattern is new."""
    same_kind = [r for r in removed if r.pattern.kind is added.pattern.kind and r.scope]
    old_sites, new_sites = sites

    def same_site(r: Found) -> bool:
        was, now = old_sites.get(_owner(r.scope), set()), new_sites.get(_owner(added.scope),
                                                                         set())
        if was & now:
            return True
        # The creating function renamed too (addThunkPreArmv7 -> addThunkArmv5v6): the
        # same relocation cases and condition still name one thunk.
        conds = {k.split("|", 1)[1] for k in was if "case" in k.split("|", 1)[1]}
        return any(k.split("|", 1)[1] in conds for k in now)

    for test in (lambda r: r.scope == added.scope, same_site):
        hits = [r for r in same_kind if test(r)]
        if hits:
            return max(hits, key=lambda r: difflib.SequenceMatcher(
                None, r.pattern.text, added.pattern.text).ratio())
    return None


def _classes(text: str) -> set[str]:
    """The classes a C++ file defines or defines methods of."""
    return set(re.findall(r"\b(\w+)::~?\w+\s*\(", text)) | set(
        re.findall(r"\b(?:class|struct)\s+(\w+)", text)) | set(
        re.findall(r"\bmake(?:_unique)?\s*<\s*(\w+)\s*>", text))


def _renamed_class(added: Found, removed: list[Found], all_added: list[Found],
                   classes: tuple[set[str], set[str]]) -> Found | None:
    """A class renamed where nothing shows where it is created: the same method, the
    old class gone and the new one new — and the only such pair, or it is no answer."""
    old_classes, new_classes = classes

    def moved(f: Found, gone: set[str]) -> bool:
        return "::" in f.scope and _owner(f.scope) not in gone

    def same(x: Found, y: Found) -> bool:
        return x.pattern.kind is y.pattern.kind and (
            x.scope.rsplit("::", 1)[-1] == y.scope.rsplit("::", 1)[-1])

    if not moved(added, old_classes):
        return None
    hits = [r for r in removed if same(r, added) and moved(r, new_classes)]
    rivals = [a for a in all_added if moved(a, old_classes) and hits and same(a, hits[0])]
    return hits[0] if len(hits) == 1 and rivals == [added] else None


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
