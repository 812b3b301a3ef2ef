"""Render the kernel patch: edits to kallsyms.c or mksysmap, and the format-patch mail.

Pure text in, text out. Names go into C string literals (kallsyms.c) or POSIX BRE
inside sed addresses (mksysmap), escaped for each, and for the shell where the sed
program sits inside a double-quoted string (6.4-6.9).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from dataclasses import dataclass

from lldbisect.kernel.model import RuleKind

__all__ = ["Addition", "FileEdit", "c_string", "edit_kallsyms_c", "edit_mksysmap",
           "format_patch", "sed_pattern"]

_ARRAY_FOR = {
    RuleKind.PREFIX: ("ignored_prefixes", "special_prefixes"),
    RuleKind.SUFFIX: ("ignored_suffixes", "special_suffixes"),
    RuleKind.SUBSTRING: ("ignored_matches",),
    RuleKind.EXACT: ("ignored_symbols", "special_symbols"),
}
_SECTION_WORDS = {RuleKind.PREFIX: "prefixes", RuleKind.SUFFIX: "suffixes",
                  RuleKind.EXACT: "exact", RuleKind.SUBSTRING: "patterns",
                  RuleKind.REGEX: "prefixes"}


@dataclass(frozen=True)
class Addition:
    """One rule to add: its kind, the name text (or POSIX regex), its group comment."""

    kind: RuleKind
    pattern: str
    group: str  # e.g. "arm lld": where it goes and the comment it gets


@dataclass(frozen=True)
class FileEdit:
    path: str  # relative to the tree
    old: str
    new: str


class EditError(ValueError):
    """The file has no place for the rule (no such array, no filter list)."""


# --- escaping ------------------------------------------------------------------------

def c_string(name: str) -> str:
    """A C string literal for ``name`` (bytes as latin-1), trigraph-safe."""
    out = []
    for ch in name:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "?" and out and out[-1] == "?":
            out.append("\\?")
        elif 32 <= o < 127:
            out.append(ch)
        else:
            out.append(f"\\{o:03o}")
    return '"' + "".join(out) + '"'


def bre_literal(text: str) -> str:
    """``text`` as a POSIX BRE that matches it literally, inside ``/…/`` addresses."""
    return re.sub(r"([\\.*\[\]^$/])", r"\\\1", text)


# On an `nm -n` line the name follows "<type letter> "; this matches up to it.
_AFTER_TYPE = " [^ ] "


def sed_pattern(add: Addition) -> str:
    """The regex of a ``/ pattern/d`` line, matching the name and nothing else of the
    ``nm -n`` line: `` x`` alone would also match the type letter ``x`` (every local
    symbol of that type), and a bare substring the address."""
    if add.kind is RuleKind.REGEX:
        return " " + add.pattern
    lit = bre_literal(add.pattern)
    if add.kind is RuleKind.SUBSTRING:
        return f"{_AFTER_TYPE}.*{lit}"
    if add.kind is RuleKind.PREFIX and len(add.pattern) == 1 and (
            add.pattern.isalpha() or add.pattern == "?"):
        return f"{_AFTER_TYPE}{lit}"
    return {RuleKind.PREFIX: f" {lit}", RuleKind.SUFFIX: f"{lit}$",
            RuleKind.EXACT: f" {lit}$"}[add.kind]


def _dq(text: str) -> str:
    """Text as it must be written inside a double-quoted shell string, in the kernel's
    own style: `` ` `` and ``"`` escaped, ``$`` only where it would start an expansion
    (``$/d`` stays as written), a backslash doubled only where the shell would eat it."""
    return re.sub(r'[`"]|\$(?=[A-Za-z0-9_{(@*#?!$-])|\\(?=[$`"\\\n]|$)',
                  lambda m: "\\" + m.group(0), text)


# --- kallsyms.c -------------------------------------------------------------------------

def edit_kallsyms_c(text: str, additions: list[Addition]) -> str:
    """Add each entry to its array, within its group or as a new group before NULL,
    comments aligned to the array's own comment column. Raises EditError."""
    lines = text.split("\n")
    for add in additions:
        lines = _add_to_array(lines, add)
    return "\n".join(lines)


def _display_col(s: str) -> int:
    col = 0
    for ch in s:
        col = (col // 8 + 1) * 8 if ch == "\t" else col + 1
    return col


def _add_to_array(lines: list[str], add: Addition) -> list[str]:
    names = _ARRAY_FOR.get(add.kind, ())
    decl = re.compile(r"char\s*\*.*\b(" + "|".join(names) + r")\s*\[\s*\]") if names else None
    start = next((i for i, ln in enumerate(lines) if decl and decl.search(ln)), None)
    if start is None:
        raise EditError(f"no {' or '.join(names) or add.kind.value} array for a"
                        f" {add.kind.value} rule")
    end = next(i for i in range(start, len(lines)) if re.search(r"\bNULL\b", lines[i]))
    entries = [i for i in range(start + 1, end) if re.match(r'\s*"', lines[i])]
    indent = re.match(r"\s*", lines[entries[0]]).group(0) if entries else "\t\t"  # type: ignore[union-attr]
    cols = Counter(_display_col(lines[i][:lines[i].index("/*")]) for i in entries
                   if "/*" in lines[i])
    column = cols.most_common(1)[0][0] if cols else 40
    # The group: entries from the one whose comment is the group's to the next comment.
    group_end = None
    in_group = False
    for i in entries:
        comment = re.search(r"/\*\s*(.*?)\s*\*/", lines[i])
        if comment:
            in_group = comment.group(1) == add.group
        if in_group:
            group_end = i
    entry = f"{indent}{c_string(add.pattern)},"
    if group_end is not None:
        return [*lines[:group_end + 1], entry, *lines[group_end + 1:]]
    pad = _display_col(entry)
    tabs = max(1, (column - pad + 7) // 8) if pad < column else 1
    line = entry + "\t" * tabs + f"/* {add.group} */"
    if "NULL" in lines[end] and re.match(r"\s*NULL\s*$", lines[end]):
        return [*lines[:end], line, *lines[end:]]
    # `"last", NULL };` on one line: the new entry goes just before NULL's line part.
    head, tail = lines[end].split("NULL", 1)
    if head.strip():
        return [*lines[:end], head.rstrip(), line, f"{indent}NULL{tail}", *lines[end + 1:]]
    return [*lines[:end], line, *lines[end:]]


# --- mksysmap -------------------------------------------------------------------------

def edit_mksysmap(text: str, additions: list[Addition]) -> str:
    """Add ``/ pattern/d`` lines (sed-era mksysmap, in a sed file or a double-quoted
    shell string) or ``-e ' pattern'`` arguments (grep-era list). Raises EditError."""
    if re.search(r"\bgrep\s+-v\b", text) and not re.search(r"\|\s*sed\b", text):
        return _edit_grep(text, additions)
    dq = not text.startswith("#!") or "sed" not in text.split("\n", 1)[0]
    lines = text.split("\n")
    for add in additions:
        lines = _add_sed_line(lines, add, dq)
    return "\n".join(lines)


def _add_sed_line(lines: list[str], add: Addition, dq: bool) -> list[str]:
    body = sed_pattern(add)
    line = f"/{_dq(body) if dq else body}/d"
    word = _SECTION_WORDS[add.kind]
    sections = [i for i, ln in enumerate(lines) if re.match(r"#\s*Ignored", ln)]
    ours = next((i for i in sections if word in lines[i].lower()), None)
    if ours is None:
        raise EditError(f"no '# Ignored {word}' section in mksysmap")
    later = [i for i in sections if i > ours]
    stop = later[0] if later else next(
        (i for i in range(len(lines) - 1, ours, -1) if lines[i].strip().startswith("/")),
        len(lines) - 1) + 1
    # Skip back over the `# ----` rule that opens the next section.
    while stop > ours and (not lines[stop - 1].strip() or
                           lines[stop - 1].startswith("# ---")):
        stop -= 1
    # An existing group with the same comment takes the line at its end.
    for i in range(ours, stop):
        if lines[i].strip() == f"# {add.group}":
            j = i + 1
            while j < stop and lines[j].strip().startswith("/"):
                j += 1
            return [*lines[:j], line, *lines[j:]]
    return [*lines[:stop], "", f"# {add.group}", line, *lines[stop:]]


def _edit_grep(text: str, additions: list[Addition]) -> str:
    lines = text.split("\n")
    es = [i for i, ln in enumerate(lines) if re.match(r"\s*-e\s+'", ln)]
    if not es:
        raise EditError("the grep -v in mksysmap has no -e list to extend")
    last = es[-1]
    template = lines[last]
    lead = re.match(r"\s*", template).group(0)  # type: ignore[union-attr]
    cont_col = _display_col(template[:template.rindex("\\")]) if template.rstrip(
        ).endswith("\\") else 24
    new = []
    for add in additions:
        arg = f"{lead}-e '{sed_pattern(add)}'"
        tabs = max(1, (cont_col - _display_col(arg) + 7) // 8)
        new.append(arg + "\t" * tabs + "\\")
    return "\n".join(lines[:last + 1] + new + lines[last + 1:])


# --- the mail -------------------------------------------------------------------------

def _blob(text: str) -> str:
    data = text.encode("utf-8", "surrogateescape")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _diff(edit: FileEdit) -> tuple[str, int, int]:
    a, b = edit.old.splitlines(keepends=True), edit.new.splitlines(keepends=True)
    hunks = list(difflib.unified_diff(a, b, f"a/{edit.path}", f"b/{edit.path}", n=3))
    plus = sum(1 for h in hunks[2:] if h.startswith("+"))
    minus = sum(1 for h in hunks[2:] if h.startswith("-"))
    head = (f"diff --git a/{edit.path} b/{edit.path}\n"
            f"index {_blob(edit.old)[:12]}..{_blob(edit.new)[:12]} 100644\n")
    return head + "".join(hunks), plus, minus


def format_patch(edits: list[FileEdit], subject: str, body: str, author: str,
                 date: str, trailers: list[str]) -> str:
    """A ``git format-patch`` mail: headers, body, trailers, ``---``, diffstat, diff."""
    diffs = [_diff(e) for e in edits]
    width = max(len(e.path) for e in edits)
    stat = []
    for e, (_, plus, minus) in zip(edits, diffs):
        stat.append(f" {e.path:<{width}} | {plus + minus} {'+' * plus}{'-' * minus}")
    ins, dels = sum(d[1] for d in diffs), sum(d[2] for d in diffs)
    summary = f" {len(edits)} file{'s' if len(edits) > 1 else ''} changed"
    if ins:
        summary += f", {ins} insertion{'s' if ins > 1 else ''}(+)"
    if dels:
        summary += f", {dels} deletion{'s' if dels > 1 else ''}(-)"
    parts = [
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001",
        f"From: {author}", f"Date: {date}", f"Subject: [PATCH] {subject}", "",
        body.rstrip("\n"), "",
    ]
    if trailers:
        parts += [*trailers]
    parts += ["---", *stat, summary, "", "".join(d[0] for d in diffs).rstrip("\n"), "-- ",
              "lldbisect", ""]
    return "\n".join(parts) + "\n"
