"""Read lld's C++ as code: the symbol names it gives the symbols it creates.

A string is a name pattern only where it reaches a symbol-creating call (``addSymbol``,
``addSyntheticLocal``, ``makeDefined``): its first argument is followed through
``saver().save(...)``, ``Twine(...)``, ``(...).str()``, ``+``, conditional expressions
(each branch a possible name), named constants (``constexpr``, ``static const char[]``,
``#define``), local variables and string streams (``os << ...; addSymbol(os.str())``).
Comments and ``#if 0`` blocks are gone first, and literals are decoded as C++ does, so a
commented-out call, an error message or a section name is never a pattern.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["STRING", "Literal", "clean_source", "creation_sites", "decode_literal", "name_literals",
           "scope_at", "sink_functions"]

# A C/C++ string literal (its text in group 1); commitscan reads C with it too.
STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_STRING = STRING
_CHAR = re.compile(r"'(?:[^'\\\n]|\\.)*'")
_SINK = re.compile(r"\b(addSymbol|addSyntheticLocal|makeDefined)\s*\(")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a", "b": "\b",
                   "f": "\f", "v": "\v", "\\": "\\", '"': '"', "'": "'", "?": "?"}
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.$]+")


def decode_literal(body: str) -> str:
    """A C/C++ string literal's value (its text between the quotes)."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e == "x":
            m = re.match(r"[0-9A-Fa-f]+", body[i + 2:])
            out.append(chr(int(m.group(), 16) % 0x110000) if m else "x")
            i += 2 + (len(m.group()) if m else 0)
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            assert m is not None
            out.append(chr(int(m.group(), 8)))
            i += 1 + len(m.group())
        else:
            out.append(_SIMPLE_ESCAPES.get(e, e))
            i += 2
    return "".join(out)


_LEXEMES = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|//[^\n]*|/\*.*?(?:\*/|\Z)',
                      re.S)


def _blank(m: re.Match[str]) -> str:
    text = m.group()
    if text[0] in "\"'":
        return text
    if "\n" not in text:
        return " " * len(text)
    return re.sub(r"[^\n]", " ", text)


@lru_cache(maxsize=64)
def clean_source(text: str) -> str:
    """``text`` with comments and ``#if 0`` blocks blanked (newlines kept, so every line
    number and offset stays), string and character literals untouched."""
    if "//" not in text and "/*" not in text and "#if" not in text:
        return text
    return _drop_if0(_LEXEMES.sub(_blank, text))


def _drop_if0(text: str) -> str:
    """Blank what the preprocessor drops for sure: ``#if 0`` (``false``) up to its
    ``#else``/``#endif``, and the ``#else`` of ``#if 1``."""
    if not re.search(r"^[ \t]*#[ \t]*if[ \t]+(?:0|1|false|true)\b", text, re.M):
        return text
    lines = text.split("\n")
    # Per open #if: whether its current branch is live, and whether a branch already
    # known to be taken (#if 1) makes every later one dead.
    stack: list[tuple[bool, bool]] = []
    for k, line in enumerate(lines):
        s = line.strip()
        dead = any(not live for live, _ in stack)
        if m := re.match(r"#\s*if(n?def)?\b\s*(\S*)", s):
            value = m.group(2) if m.group(1) is None else ""
            if value in ("0", "false"):
                stack.append((False, False))
            else:
                stack.append((True, value in ("1", "true")))
        elif re.match(r"#\s*(?:else|elif)\b", s) and stack:
            _, taken = stack[-1]
            stack[-1] = (not taken, taken)  # after #if 0, a later branch may be live
        elif re.match(r"#\s*endif\b", s) and stack:
            stack.pop()
        elif not dead:
            continue
        if dead or any(not live for live, _ in stack):
            lines[k] = " " * len(lines[k])  # blanked, not emptied: offsets stay
    return "\n".join(lines)


@dataclass(frozen=True)
class Literal:
    """One literal a created symbol's name can hold, and where it sits in the name."""

    value: str
    position: str  # "whole", "start", "end" or "middle"
    offset: int  # where the literal is in the source
    call: int  # where the creating call starts


# --- the expression a name is built from ---------------------------------------------

@dataclass
class _Piece:
    literals: list[tuple[str, int]]  # the alternatives, with their offsets; [] = dynamic
    dynamic: bool = False  # with literals: one alternative is no literal (c ? "a" : x)

    @property
    def pure(self) -> bool:
        """Only literals: a piece that can join its neighbours."""
        return bool(self.literals) and not self.dynamic



def _matching(text: str, open_at: int, pair: str = "()") -> int:
    depth, i, n = 0, open_at, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            m = _STRING.match(text, i)
            i = m.end() if m else i + 1
            continue
        if c == "'":
            m = re.compile(r"'(?:[^'\\\n]|\\.)*'").match(text, i)
            i = m.end() if m else i + 1
            continue
        if c == pair[0]:
            depth += 1
        elif c == pair[1]:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


_TOP = re.compile(r'"(?:[^"\\\n]|\\.)*"|[(\[{]|[)\]}]|<<|\+\+|\+=|\+|,')


def _split_top(expr: str, seps: tuple[str, ...]) -> list[tuple[int, str]]:
    """``expr`` split at top-level separators, each part with its offset."""
    parts, depth, start = [], 0, 0
    for m in _TOP.finditer(expr):
        t = m.group()
        if t in "([{":
            depth += 1
        elif t in ")]}":
            depth -= 1
        elif depth == 0 and t in seps:
            parts.append((start, expr[start:m.start()]))
            start = m.end()
    parts.append((start, expr[start:]))
    return parts


def _ternary(expr: str) -> tuple[int, int] | None:
    """The offsets of a top-level ``?`` and its ``:``, if ``expr`` is a conditional."""
    depth, i, q = 0, 0, -1
    nested = 0
    while i < len(expr):
        c = expr[i]
        if c == '"' or c == "'":  # a '?' or ':' in a literal is no operator
            m = (_STRING if c == '"' else _CHAR).match(expr, i)
            i = m.end() if m else i + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and c == "?":
            if q < 0:
                q = i
            else:
                nested += 1
        elif depth == 0 and c == ":" and q >= 0 and not expr.startswith("::", i) and (
                i == 0 or expr[i - 1] != ":"):
            if nested:
                nested -= 1
            else:
                return q, i
        i += 1
    return None


class _Reader:
    """One file's constants, functions and streams, to follow a name to its literals."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.constants = _constants(text)

    def pieces(self, expr: str, base: int, scope: tuple[int, int], depth: int = 0
               ) -> list[_Piece]:
        """The concatenation ``expr`` (at offset ``base``) builds, piece by piece."""
        stripped = expr.strip()
        lead = len(expr) - len(expr.lstrip())
        base, expr = base + lead, stripped
        if depth > 12 or not expr:
            return [_Piece([])]
        tern = _ternary(expr)
        if tern is not None:
            q, colon = tern
            alts = []
            dynamic = False
            for start, part in ((q + 1, expr[q + 1:colon]), (colon + 1, expr[colon + 1:])):
                sub = self.pieces(part, base + start, scope, depth + 1)
                if len(sub) == 1 and sub[0].literals:
                    alts += sub[0].literals
                    dynamic = dynamic or sub[0].dynamic
                else:
                    dynamic = True  # a branch that is no single literal: dynamic
            # One literal branch is a name all the same ((plt ? "__plt_" : prefix) + s).
            return [_Piece(alts, dynamic=dynamic and bool(alts))]
        parts = _split_top(expr, ("+", "<<"))
        if len(parts) > 1:
            out: list[_Piece] = []
            for start, part in parts:
                out += self.pieces(part, base + start, scope, depth + 1)
            return _merge(out)
        return self._atom(expr, base, scope, depth)

    def _atom(self, expr: str, base: int, scope: tuple[int, int], depth: int
              ) -> list[_Piece]:
        lits = list(_STRING.finditer(expr))
        if lits and _STRING.sub("", expr).strip() == "":  # "a" "b": one literal
            value = "".join(decode_literal(m.group(1)) for m in lits)
            return [_Piece([(value, base + lits[0].start())])]
        # Wrappers that leave the name as it is: f(E), (E), E.str(), Twine(E), save(E).
        m = re.fullmatch(r"(?s)(.*?)\.\s*str\s*\(\s*\)", expr)
        if m and not re.fullmatch(r"\w+", m.group(1).strip()):
            return self.pieces(m.group(1), base, scope, depth + 1)
        m = re.match(r"(?s)(?:[\w:]+\s*(?:\(\s*\)\s*)?(?:\.|->)\s*)*"
                     r"(save|Twine|StringRef|std::string|string|CachedHashStringRef)?\s*\(",
                     expr)
        if m and expr.endswith(")") and _matching(expr, m.end() - 1) == len(expr) - 1:
            head = expr[:m.end() - 1].strip()
            if m.group(1) or head == "":
                return self.pieces(expr[m.end():-1], base + m.end(), scope, depth + 1)
            return [_Piece([])]  # another function's result: dynamic (a name, an address)
        m = re.fullmatch(r"(\w+)\s*\.\s*str\s*\(\s*\)", expr) or re.fullmatch(r"(\w+)", expr)
        if m:
            name = m.group(1)
            local = self._local(name, base, scope, depth)  # a function's own come first
            if local is not None:
                return local
            if name in self.constants:
                return [_Piece(self.constants[name])]
        return [_Piece([])]

    def _local(self, name: str, use: int, scope: tuple[int, int], depth: int
               ) -> list[_Piece] | None:
        """What a local variable or string stream of the function holds at ``use``."""
        body = self.text[scope[0]:use]
        # A string stream over a buffer: `raw_string_ostream os(buf)`; either name.
        stream = re.search(rf"raw_\w*ostream\s+(\w+)\s*\(\s*{name}\s*\)", body)
        streamed = stream.group(1) if stream else name
        writes = list(re.finditer(rf"(?<![\w.]){re.escape(streamed)}\s*<<", body))
        if writes:
            out: list[_Piece] = []
            last_end = -1
            for w in writes:
                end = body.find(";", w.end())
                if end < 0:
                    continue
                sub = self.pieces(body[w.end():end], scope[0] + w.end(), scope, depth + 1)
                # Writes in the branches of one if/else chain stand at the same place.
                branch = last_end >= 0 and re.search(r"\belse\b", body[last_end:w.start()])
                if branch and out and len(sub) == 1 and sub[0].pure and out[-1].pure:
                    out[-1] = _Piece(out[-1].literals + sub[0].literals)
                else:
                    out += sub
                last_end = end
            return _merge(out)
        assigns = list(re.finditer(rf"(?<![\w.>]){re.escape(name)}\s*=(?!=)\s*", body))
        if not assigns:
            return None
        assign = assigns[-1]  # the last assignment before the use
        end = body.find(";", assign.end())
        if end < 0:
            return None
        if len({body[a.end():body.find(";", a.end())].strip() for a in assigns}) > 1:
            # Assigned on several paths (if/else): each literal is a possible value, as
            # each branch of a conditional is; anything else reads as dynamic.
            alts: list[tuple[str, int]] = []
            for a in assigns:
                stop = body.find(";", a.end())
                sub = self.pieces(body[a.end():stop], scope[0] + a.end(), scope, depth + 1)
                if len(sub) != 1 or not sub[0].pure:
                    return [_Piece([])]
                alts += sub[0].literals
            out = [_Piece(alts)]
        else:
            out = self.pieces(body[assign.end():end], scope[0] + assign.end(), scope,
                              depth + 1)
        # `name += more;` after it: the name goes on.
        for more in re.finditer(rf"(?<![\w.>]){re.escape(name)}\s*\+=\s*", body[end:]):
            stop = body.find(";", end + more.end())
            if stop < 0:
                break
            at = end + more.end()
            out = _merge(out + self.pieces(body[at:stop], scope[0] + at, scope, depth + 1))
        return out


def _merge(pieces: list[_Piece]) -> list[_Piece]:
    """Adjacent single literals join; a dynamic piece stays one."""
    out: list[_Piece] = []
    for p in pieces:
        if out and not p.literals and not out[-1].literals:
            continue
        if out and p.pure and out[-1].pure and (
                len(p.literals) * len(out[-1].literals) <= 64):
            # Literal after literal: one piece, every joining ((t ? "a" : "b") + "c").
            out[-1] = _Piece([(a + b, off) for a, off in out[-1].literals
                              for b, _ in p.literals])
            continue
        out.append(p)
    return out


def _constants(text: str) -> dict[str, list[tuple[str, int]]]:
    """Names bound to a string literal: ``#define X "..."``, ``constexpr char X[] =
    "..."``, ``static const char *X = "..."``, ``StringRef X = "..."`` at file scope."""
    out: dict[str, list[tuple[str, int]]] = {}
    for m in re.finditer(r'^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+("(?:[^"\\\n]|\\.)*")[ \t]*$',
                         text, re.M):
        out[m.group(1)] = [(decode_literal(m.group(2)[1:-1]), m.start(2))]
    if '"' not in text:
        return out
    bodies = _functions(text)
    starts = [s for s, _ in bodies]

    def in_function(pos: int) -> bool:
        k = bisect.bisect_right(starts, pos) - 1
        return k >= 0 and pos < bodies[k][1]

    for m in re.finditer(r'^[^\n;{}"]*?\b(?:constexpr|const)\b[^\n;=(){}"]*?\b(\w+)\s*'
                         r'(?:\[\s*\])?\s*=\s*("(?:[^"\\\n]|\\.)*")\s*;', text, re.M):
        if not in_function(m.start()):  # a function's own are its variables
            out[m.group(1)] = [(decode_literal(m.group(2)[1:-1]), m.start(2))]
    return out


_BRACES = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[{}]')


@lru_cache(maxsize=64)
def _functions(text: str) -> list[tuple[int, int]]:
    """Where each function body (a top-level ``{ ... }`` after ``)``) starts and ends."""
    # Every brace's partner, in one pass (literals skipped).
    close_of: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACES.finditer(text):
        c = m.group()
        if c == "{":
            stack.append(m.start())
        elif c == "}" and stack:
            close_of[stack.pop()] = m.start()
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"\)\s*(?:const\s*)?(?:override\s*)?(?:->\s*[\w:<>]+\s*)?\{", text):
        start = m.end() - 1
        if spans and start < spans[-1][1]:
            continue
        spans.append((start, close_of.get(start, len(text))))
    return spans


def _find_all(text: str, words: tuple[str, ...]) -> Iterator[int]:
    """Where each word occurs (str.find: far faster than a regex alternation here)."""
    for w in words:
        i = text.find(w)
        while i >= 0:
            yield i
            i = text.find(w, i + len(w))


@lru_cache(maxsize=64)
def _starts(code: str) -> list[int]:
    return [s for s, _ in _functions(code)]


def sink_functions(code: str) -> list[tuple[int, int]]:
    """The bodies (of cleaned ``code``) of the functions that create a symbol, each from
    its name's line to its closing brace."""
    sinks = sorted(_find_all(code, ("addSymbol", "addSyntheticLocal", "makeDefined")))
    if not sinks:
        return []
    functions = _functions(code)
    starts = _starts(code)
    out: list[tuple[int, int]] = []
    for pos in sinks:
        k = bisect.bisect_right(starts, pos) - 1
        if k >= 0 and pos < functions[k][1]:
            start, end = functions[k]
            span = (code.rfind("\n", 0, max(code.rfind(")", 0, start), 0)) + 1, end)
            if not out or out[-1] != span:
                out.append(span)
    return out


def name_literals(text: str) -> Iterator[Literal]:
    """Every literal that can be part of the name of a symbol the file creates, with its
    place in that name. ``text`` is the file as it is (cleaned here)."""
    if not any(w in text for w in ("addSymbol", "addSyntheticLocal", "makeDefined")):
        return
    code = clean_source(text)
    reader = _Reader(code)
    functions = _functions(code)
    starts = _starts(code)
    for m in _SINK.finditer(code):
        open_at = m.end() - 1
        close = _matching(code, open_at)
        args = _split_top(code[open_at + 1:close], (",",))
        if len(args) > 1 and re.fullmatch(r"\s*\**\w*[cC]tx\s*", args[0][1]):
            args = args[1:]  # addSyntheticLocal(ctx, name, ...): the context comes first
        first_at, first = args[0]
        k = bisect.bisect_right(starts, m.start()) - 1
        scope = functions[k] if k >= 0 and m.start() < functions[k][1] else (0, m.start())
        for pieces in _variants(reader.pieces(first, open_at + 1 + first_at, scope)):
            for k, p in enumerate(pieces):
                before = any(not q.literals for q in pieces[:k])
                after = any(not q.literals for q in pieces[k + 1:])
                position = {(False, False): "whole", (False, True): "start",
                            (True, False): "end", (True, True): "middle"}[(before, after)]
                for value, offset in p.literals:
                    if value and _NAME_CHARS.fullmatch(value) and not value.startswith("$"):
                        yield Literal(value, position, offset, m.start())


def _variants(pieces: list[_Piece]) -> Iterator[list[_Piece]]:
    """The concatenation once per choice of each piece that is a literal or not
    (``(c ? "a_" : x)``): each choice joined as literals join."""
    mixed = [k for k, p in enumerate(pieces) if p.dynamic][:6]
    if not mixed:
        yield pieces
        return
    for choice in itertools.product((True, False), repeat=len(mixed)):
        out = list(pieces)
        for k, literal in zip(mixed, choice, strict=True):
            out[k] = _Piece(pieces[k].literals if literal else [])
        yield _merge(out)


@lru_cache(maxsize=64)
def creation_sites(text: str) -> dict[str, set[str]]:
    """For each class the file creates (``make<X>(``, ``make_unique<X>(``), where: the
    creating function and the condition right before, normalised, so that a class
    renamed in place (same function, same case) is known for the same thunk."""
    code = clean_source(text)
    if "make" not in code:
        return {}
    functions = _functions(code)
    heads: dict[int, str] = {}
    out: dict[str, set[str]] = {}
    for m in re.finditer(r"\bmake(?:_unique)?\s*<\s*(\w+)\s*>\s*\(", code):
        scope = next((s for s, e in functions if s <= m.start() < e), None)
        if scope is None:
            continue
        before = code[scope + 1:m.start()]
        cut = max(before.rfind(";"), before.rfind("{"), before.rfind("}"))
        here = re.sub(r"\breturn\s*(?:std\s*::\s*)?$", "", before[cut + 1:].rstrip())
        if not re.search(r"\b(?:if|case|else)\b", here):
            # `if (c) return make<A>(); return make<B>();`: B is where c is false.
            prev = before[:max(cut, 0)]
            here = "after " + prev[max(prev.rfind(";"), prev.rfind("{"), prev.rfind("}")) + 1:]
        if scope not in heads:
            heads[scope] = _function_name(code, scope)
        key = f"{heads[scope]}|{_normal(here)}"
        out.setdefault(m.group(1), set()).add(key)
    return out


def scope_at(text: str, pos: int) -> str:
    """The function (``ARMV5PILongThunk::addSymbols``) around ``pos`` of the cleaned
    ``text``, else the class, else ""."""
    functions = _functions(text)
    k = bisect.bisect_right(_starts(text), pos) - 1
    if k >= 0 and pos < functions[k][1]:
        return _function_name(text, functions[k][0])
    classes = list(re.finditer(r"^[ \t]*(?:class|struct)[ \t]+(\w+)", text[:pos], re.M))
    return classes[-1].group(1) if classes else ""


@lru_cache(maxsize=4096)
def _function_name(code: str, body: int) -> str:
    """The name before the parameter list that a body at ``body`` follows."""
    close = code.rfind(")", max(0, body - 2000), body)
    if close < 0:
        return ""
    depth, i = 0, close
    while i >= 0:  # back to the "(" that opens the parameter list
        c = code[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                break
        i -= 1
    m = re.search(r"((?:\w+::)*~?\w+)\s*$", code[max(0, i - 200):max(i, 0)])
    return m.group(1) if m else ""


def _normal(cond: str) -> str:
    """A condition as every era spells it: no ``config->``/``ctx.arg.``, no ``ctx``
    arguments, one spelling of ``make``, no class names, no spaces."""
    cond = re.sub(r"\b(?:ctx\s*\.\s*arg|ctx\s*\.\s*config|config)\s*(?:\.|->)\s*", "",
                  cond)
    cond = re.sub(r"\b(?:std::)?make(?:_unique)?\s*<\s*\w+\s*>", "make", cond)
    cond = re.sub(r"\bctx\s*,\s*|\s*,\s*ctx\b|\(ctx\)", "", cond)
    return re.sub(r"\s+", "", cond)
