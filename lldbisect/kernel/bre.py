"""POSIX regular expressions (GNU grep and sed dialects) translated to Python ``re``.

mksysmap's rules are GNU sed or grep regular expressions evaluated in the C locale;
translating them faithfully — which ``*`` is literal, which ``$`` is an anchor, what a
backslash means inside a bracket — is what makes our verdicts equal the kernel's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PosixRegexError", "translate"]

# POSIX character classes in the C locale.
_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": " \\t\\n\\r\\f\\v", "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}
# GNU backslash classes, and escapes sed gives a meaning to.
_GNU_ESCAPES = {"w": r"\w", "W": r"\W", "s": r"\s", "S": r"\S", "b": r"\b", "B": r"\B",
                "<": r"\b(?=\w)", ">": r"\b(?<=\w)", "`": r"\A", "'": r"\Z"}
_SED_ESCAPES = {"n": "\n", "t": "\t"}


class PosixRegexError(ValueError):
    """The text is not a regular expression GNU grep/sed would accept."""


@dataclass
class _State:
    text: str
    pos: int = 0
    out: str = ""
    depth: int = 0


def translate(pattern: str, *, extended: bool = False, sed: bool = False) -> str:
    """Python ``re`` source (for ``re.ASCII``) matching what GNU grep/sed would match.

    ``extended`` reads ERE (``grep -E``); ``sed`` adds sed's ``\\n`` and ``\\t``.
    Raises PosixRegexError for an unterminated bracket, a stray ``\\)``, and the like.
    """
    st = _State(pattern)
    n = len(pattern)
    at_start = True  # nothing to repeat here: '*' (and GNU's \+ \? \{) are literal
    branch_start = True  # start of the RE, a group or a branch: '^' is an anchor
    while st.pos < n:
        c = pattern[st.pos]
        st.pos += 1
        if c == "\\":
            if st.pos >= n:
                raise PosixRegexError("trailing backslash")
            e = pattern[st.pos]
            st.pos += 1
            if at_start and not extended and e in "+?{":
                st.out += re.escape(e)
                at_start = branch_start = False
                continue
            at_start = branch_start = _escape(st, e, extended, sed)
            continue
        branch_start_here, branch_start = branch_start, False
        if c == "[":
            st.out += _bracket(st)
        elif c == "^" and (branch_start_here or extended):
            st.out += "^"
            at_start = True
            continue
        elif c == "$" and (extended or _at_end(pattern, st.pos)):
            st.out += "$"
        elif c == "*" and at_start:
            st.out += r"\*"
        elif c == "*":
            st.out += "*"
        elif c == ".":
            st.out += "."
        elif extended and c in "+?":
            st.out += c if not at_start else re.escape(c)
        elif extended and c == "{":
            st.out += _interval(st, "}")
        elif extended and c == "|":
            st.out += "|"
            at_start = branch_start = True
            continue
        elif extended and c == "(":
            st.out += "("
            st.depth += 1
            at_start = branch_start = True
            continue
        elif extended and c == ")":
            if not st.depth:
                raise PosixRegexError("unmatched )")
            st.depth -= 1
            st.out += ")"
        else:
            st.out += re.escape(c)
        at_start = False
    if st.depth:
        raise PosixRegexError("unmatched ( or \\(")
    return st.out


def _escape(st: _State, e: str, extended: bool, sed: bool) -> bool:
    """Translate ``\\e``; returns whether what follows is at the start of an RE."""
    if not extended and e == "(":
        st.out += "("
        st.depth += 1
        return True
    if not extended and e == ")":
        if not st.depth:
            raise PosixRegexError("unmatched \\)")
        st.depth -= 1
        st.out += ")"
        return False
    if not extended and e == "|":
        st.out += "|"
        return True
    if not extended and e == "{":
        st.out += _interval(st, "\\}")
        return False
    if not extended and e in "+?":
        st.out += e
        return False
    if e.isdigit() and e != "0":
        st.out += f"(?:\\{e})"
        return False
    if e in _GNU_ESCAPES:
        st.out += _GNU_ESCAPES[e]
        return False
    if sed and e in _SED_ESCAPES:
        st.out += re.escape(_SED_ESCAPES[e])
        return False
    st.out += re.escape(e)  # \. \$ \* \[ \\ \/ and stray escapes: the character itself
    return False


def _at_end(pattern: str, pos: int) -> bool:
    """In a BRE, ``$`` anchors only at the end of the RE or of a ``\\(`` group or branch."""
    rest = pattern[pos:]
    return rest == "" or rest.startswith(("\\)", "\\|"))


def _interval(st: _State, close: str) -> str:
    end = st.text.find(close, st.pos)
    if end < 0:
        raise PosixRegexError("unterminated interval")
    body = st.text[st.pos:end]
    st.pos = end + len(close)
    if not re.fullmatch(r"\d+(,\d*)?|,\d+", body):
        raise PosixRegexError(f"invalid interval {{{body}}}")
    return "{" + (("0" + body) if body.startswith(",") else body) + "}"


def _bracket(st: _State) -> str:
    """A bracket expression: ``]`` first is literal, ``\\`` is literal, classes expand."""
    text, n = st.text, len(st.text)
    items: list[str] = []
    negate = st.pos < n and text[st.pos] == "^"
    if negate:
        st.pos += 1
    first = True
    while True:
        if st.pos >= n:
            raise PosixRegexError("unterminated [")
        c = text[st.pos]
        if c == "]" and not first:
            st.pos += 1
            break
        first = False
        if text.startswith("[:", st.pos):
            end = text.find(":]", st.pos + 2)
            name = text[st.pos + 2:end] if end >= 0 else ""
            if name not in _CLASSES:
                raise PosixRegexError(f"invalid character class [:{name}:]")
            items.append(_CLASSES[name])
            st.pos = end + 2
            continue
        if text.startswith(("[=", "[."), st.pos):
            close = text[st.pos + 1] + "]"
            end = text.find(close, st.pos + 2)
            if end < 0:
                raise PosixRegexError("unterminated [= or [.")
            items.append(re.escape(text[st.pos + 2:end]))
            st.pos = end + 2
            continue
        if (st.pos + 2 < n and text[st.pos + 1] == "-" and text[st.pos + 2] != "]"):
            lo, hi = c, text[st.pos + 2]
            if ord(lo) > ord(hi):
                raise PosixRegexError(f"invalid range {lo}-{hi}")
            items.append(f"{_class_char(lo)}-{_class_char(hi)}")
            st.pos += 3
            continue
        items.append(_class_char(c))
        st.pos += 1
    return "[" + ("^" if negate else "") + "".join(items) + "]"


def _class_char(c: str) -> str:
    return "\\" + c if c in "\\]^-[" else c
