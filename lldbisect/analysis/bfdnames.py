"""The symbol names GNU ld's bfd builds in C: printf formats, ``concat`` of a literal
prefix, a prefix handed to a function that concatenates it (pure text analysis).

bfd spells a stub's name as a format written into a buffer (``sprintf (name,
"__%s_veneer", ...)``, ``"%08x.long_branch.%s"``, ``"__vfp11_veneer_%x"``,
``"e843419@%04x_%08x_%" PRIx64``), often through a ``#define``, or as ``concat (".pic.",
name, NULL)``. The same spellings name sections (``".text.stub.%d"``, ``".plt.%u"``):
a buffer that reaches a section-making call in its function names a section, never a
symbol, and is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lldbisect.analysis.cppnames import STRING, clean_source, decode_literal
from lldbisect.kernel.model import RuleKind

__all__ = ["CName", "c_names"]

_PRINTF_TARGET = re.compile(r"%(?:[-+ #0]*\d*(?:\.\d+)?)s")
_PRINTF_OTHER = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?(?:l|ll|h|z|j|t)?[diouxXp]|%$")
_NAMEISH = re.compile(r"[A-Za-z0-9_.$@]+")
# Adjacent literals and the <inttypes.h> macros between them are one format.
_FORMAT = re.compile(rf"{STRING.pattern}(?:\s*(?:PRI[diouxX]\d*|PRI[diouxX]PTR|"
                     rf"BFD_VMA_FMT\s*\"?\w*\"?)?\s*{STRING.pattern})*")
# Calls that make, find or name a section: a buffer reaching one holds a section name.
_SECTION_CALL = re.compile(r"\b(?:bfd_make_section\w*|bfd_get_section_by_name\w*|"
                           r"bfd_get_linker_section|\w*add_stub_section|\w*make_section|"
                           r"bfd_rename_section|bfd_section_init)\s*\(")
_WRITER = re.compile(r"\b(?:sprintf|snprintf|xasprintf|asprintf)\s*\(\s*&?\s*([\w.>-]+)\s*,")


@dataclass(frozen=True)
class CName:
    kind: RuleKind
    text: str
    offset: int  # of the literal in the cleaned text (offsets are the file's)


def _pattern(fmt: str) -> tuple[RuleKind, str] | None:
    """A printf format's pattern: after its target (``__%s_veneer``), after an address
    (``%08x.long_branch.%s``), or before a counter or an address (``__vfp11_veneer_%x``,
    ``e843419@%04x_...``). None: not a name's shape."""
    parts = _PRINTF_TARGET.split(fmt)
    if len(parts) == 2:
        head, tail = parts
        if _PRINTF_OTHER.search(tail) or not (head or tail):
            return None
        if _PRINTF_OTHER.search(head):  # "%08x.long_branch.%s": what follows the address
            return RuleKind.SUBSTRING, _PRINTF_OTHER.split(head)[-1]
        return (RuleKind.SUFFIX, tail) if tail else (RuleKind.PREFIX, head)
    if len(parts) == 1:
        others = _PRINTF_OTHER.split(fmt)
        if len(others) < 2:
            return None
        head, tail = others[0], others[-1]
        if (head and head[0] in "_.@") or (head and "@" in head):
            return RuleKind.PREFIX, head  # a counter or an address after it
        if len(others) == 2 and tail and not head and tail[0] in "_.@":
            return RuleKind.SUFFIX, tail
    return None


def c_names(text: str) -> Iterator[CName]:
    """The name patterns a C file of bfd's builds (``text`` as it is: cleaned here)."""
    code = clean_source(text)
    functions = _function_spans(code)
    defines = {m.group(1): m.group(2) for m in re.finditer(
        r"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+(\"[^\n]*)$", code, re.M)}
    for m in _FORMAT.finditer(code):
        value = "".join(decode_literal(s.group(1)) for s in STRING.finditer(m.group()))
        if "%" in value:
            found = _pattern(value)
        elif _concat_prefix(code, m.start()):
            found = (RuleKind.PREFIX, value)
        else:
            continue
        if found is None or len(found[1]) < 3 or not _NAMEISH.fullmatch(found[1]):
            continue  # a message or a path, not a symbol name
        if _names_a_section(code, m.start(), m.end(), functions, defines):
            continue
        yield CName(found[0], found[1], m.start())
    yield from _handed_prefixes(code, functions)
    yield from _table_names(code, functions)


def _concat_prefix(code: str, at: int) -> bool:
    """A literal that starts a ``concat (...)``: the name it begins."""
    return re.search(r"\bconcat\s*\(\s*$", code[max(0, at - 40):at]) is not None


def _function_spans(code: str) -> list[tuple[int, int, str]]:
    """Each top-level function body (K&R or ANSI header on the lines before its "{"
    in column 0): start, end, name."""
    out = []
    for m in re.finditer(r"^(\w+)\s*\([^;{}]*\)\s*\n\{", code, re.M):
        end = code.find("\n}", m.end())
        out.append((m.start(), len(code) if end < 0 else end, m.group(1)))
    for m in re.finditer(r"^[A-Za-z_][\w \t*]*?\b(\w+)\s*\([^;{}]*\)\s*\{", code, re.M):
        if not any(a <= m.start() < b for a, b, _ in out):
            end = code.find("\n}", m.end())
            out.append((m.start(), len(code) if end < 0 else end, m.group(1)))
    return sorted(out)


def _names_a_section(code: str, start: int, end: int, functions: list[tuple[int, int, str]],
                     defines: dict[str, str]) -> bool:
    """Whether the buffer the format at ``start`` is written to (or the macro it
    defines) reaches a section-making call."""
    line_start = code.rfind("\n", 0, start) + 1
    define = re.match(r"[ \t]*#[ \t]*define[ \t]+(\w+)", code[line_start:start])
    if define:
        name = define.group(1)
        uses = [m.start() for m in re.finditer(rf"\b{name}\b", code) if m.start() != (
            line_start + define.start(1))]
        return bool(uses) and all(_buffer_is_section(code, u, functions) for u in uses)
    return _buffer_is_section(code, start, functions)


def _buffer_is_section(code: str, at: int, functions: list[tuple[int, int, str]]) -> bool:
    body = next(((a, b) for a, b, _ in functions if a <= at < b), None)
    if body is None:
        return False
    stmt_start = max(code.rfind(";", body[0], at), code.rfind("{", body[0], at),
                     code.rfind("}", body[0], at), body[0] - 1) + 1
    writer = _WRITER.search(code, stmt_start, at + 1)
    names = set()
    if writer is not None:
        names.add(writer.group(1))
    assign = re.search(r"(\w+)\s*=\s*concat\s*\($", code[stmt_start:at].rstrip())
    if assign:
        names.add(assign.group(1))
    if not names:
        return False
    rest = code[at:body[1]]
    for name in list(names):  # one copy further: strcpy (secname, secbuf), memcpy
        for m in re.finditer(rf"\b(?:strcpy|strncpy|memcpy)\s*\(\s*(\w+)\s*,\s*"
                             rf"{re.escape(name)}\s*[,)]", rest):
            names.add(m.group(1))
    for m in _SECTION_CALL.finditer(rest):
        close = rest.find(";", m.end())
        args = rest[m.end():close if close > 0 else None]
        if any(re.search(rf"(?<![\w.>]){re.escape(n)}\b", args) for n in names):
            return True
    return False


_SYMBOL_CALL = re.compile(r"\b(?:elf_link_hash_lookup|bfd_link_hash_lookup|"
                          r"bfd_wrapped_link_hash_lookup|_bfd_generic_link_add_one_symbol|"
                          r"\w+_stub_hash_lookup)\s*\(")
_TABLE = re.compile(r"\bconst\s+char\s*\*\s*(?:const\s+)?(\w+)\s*\[\s*\w*\s*\]\s*=\s*\{"
                    r"([^{}]*)\}")


def _table_names(code: str, functions: list[tuple[int, int, str]]) -> Iterator[CName]:
    """A table of literals copied into a buffer that then names a symbol (ppc64's
    ``memcpy (name + 9, stub_str[type - 1], len1)``): each entry, in the middle of the
    name where it is copied past the buffer's start."""
    for table in _TABLE.finditer(code):
        entries = [(decode_literal(m.group(1)), table.start(2) + m.start())
                   for m in STRING.finditer(table.group(2))]
        copy = re.compile(rf"\b(?:memcpy|strcpy|strcat|stpcpy)\s*\(\s*(\w+)\s*(\+[^,]*)?,"
                          rf"\s*{re.escape(table.group(1))}\s*\[")
        for use in copy.finditer(code, table.end()):
            body = next(((a, b) for a, b, _ in functions if a <= use.start() < b), None)
            if body is None:
                continue
            buf = use.group(1)
            rest = code[use.end():body[1]]
            if not any(re.search(rf"(?<![\w.>]){re.escape(buf)}\b",
                                 rest[m.end():rest.find(";", m.end())])
                       for m in _SYMBOL_CALL.finditer(rest)):
                continue
            kind = RuleKind.SUBSTRING if use.group(2) else RuleKind.PREFIX
            for value, offset in entries:
                if len(value) >= 3 and _NAMEISH.fullmatch(value):
                    yield CName(kind, value, offset)
            break


def _handed_prefixes(code: str, functions: list[tuple[int, int, str]]) -> Iterator[CName]:
    """A function that concatenates its parameter before a name (``name = concat
    (prefix, h->root.root.root.string, NULL)``): the literals its callers hand it."""
    for a, b, fname in functions:
        header = code[a:code.find("{", a)]
        params = [p.strip() for p in header[header.find("(") + 1:header.rfind(")")].split(",")]
        names = [re.findall(r"\w+", p)[-1] if re.findall(r"\w+", p) else "" for p in params]
        for m in re.finditer(r"\bconcat\s*\(\s*(\w+)\s*,", code[a:b]):
            if m.group(1) not in names:
                continue
            index = names.index(m.group(1))
            for call in re.finditer(rf"\b{re.escape(fname)}\s*\(", code):
                if a <= call.start() < b or code[max(0, call.start() - 1)] in "\n":
                    continue  # its own header or a recursive call
                args = _arguments(code, call.end())
                if index < len(args):
                    lit = STRING.fullmatch(args[index][1].strip())
                    if lit is not None:
                        value = decode_literal(lit.group(1))
                        if len(value) >= 3 and _NAMEISH.fullmatch(value):
                            yield CName(RuleKind.PREFIX, value, args[index][0])


def _arguments(code: str, open_end: int) -> list[tuple[int, str]]:
    """A call's arguments (its ``(`` just before ``open_end``), each with its offset."""
    depth, start, out = 0, open_end, []
    i = open_end
    while i < len(code):
        c = code[i]
        if c == '"':
            m = STRING.match(code, i)
            i = m.end() if m else i + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                out.append((start, code[start:i]))
                return out
            depth -= 1
        elif c == "," and depth == 0:
            out.append((start, code[start:i]))
            start = i + 1
        i += 1
    return out
