"""Read the ignore rules of ``scripts/kallsyms.c``, in every shape they have had.

F0/F1 (up to 5.4): ``symbol_valid()`` with ``special_symbols[]`` (and later
``special_prefixes[]``/``special_suffixes[]``) plus checks inside ``read_symbol()``;
F2/F3 (5.5-6.3): ``is_ignored_symbol()`` with ``ignored_symbols[]``,
``ignored_prefixes[]``, ``ignored_suffixes[]`` and (from 5.9) ``ignored_matches[]``;
F4 (6.4+): only the symbol-type checks. Arrays are found by their declaration and
classified by the loop that uses them (``strcmp``, ``strncmp``, tail compare,
``strstr``), so vendor arrays work too; conditions are read for the idioms kallsyms.c
has used, and anything else inside a filter is reported rather than guessed.
"""

from __future__ import annotations

import re

from lldbisect.errors import RulesError
from lldbisect.kernel.model import Filter, Rule, RuleKind

__all__ = ["parse_kallsyms_c"]

_KIND_BY_NAME = {
    "special_symbols": RuleKind.EXACT, "ignored_symbols": RuleKind.EXACT,
    "special_prefixes": RuleKind.PREFIX, "ignored_prefixes": RuleKind.PREFIX,
    "special_suffixes": RuleKind.SUFFIX, "ignored_suffixes": RuleKind.SUFFIX,
    "ignored_matches": RuleKind.SUBSTRING,
}
_FILTERS = ("is_ignored_symbol", "symbol_valid", "read_symbol")
# What each filter returns when it drops a symbol.
_DROPS = {"is_ignored_symbol": ("true", "1"), "symbol_valid": ("0", "false"),
          "read_symbol": ("-1", "NULL")}
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.M)
_ARRAY = re.compile(
    r"(?:static\s+)?(?:const\s+)?char\s*\*\s*(?:const\s+)?(\w+)\s*\[\s*\]\s*=\s*\{")
_C_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "?": "?", "a": "\a",
              "b": "\b", "f": "\f", "r": "\r", "v": "\v"}


def parse_kallsyms_c(text: str, path: str) -> list[Rule]:
    """Every rule ``scripts/kallsyms.c`` applies by name or type, in evaluation order.

    Raises RulesError (with the line) for merge-conflict markers, an array with no
    terminator or of unknown use, and conditions we cannot evaluate exactly.
    """
    check_conflict_markers(text, path)
    code = _strip_comments(text)
    functions = {name: body for name in _FILTERS if (body := _function(code, name))}
    if not functions:
        raise RulesError(path, None, "no is_ignored_symbol(), symbol_valid() or"
                                     " read_symbol(): not a kallsyms.c we can read")
    rules: list[Rule] = []
    for name, (start, end) in functions.items():
        found = _arrays(text, code, start, end, path) + _conditions(
            text, code, start, end, path, name)
        rules += sorted(found, key=lambda r: r.line)
    # A line with no address (undefined symbols) or no name never becomes a table
    # entry: read_symbol() skips it (fscanf) or rejects it (strtoull), in every era.
    line = _line(text, functions["read_symbol"][0]) if "read_symbol" in functions else 0
    rules.append(Rule(RuleKind.TYPE, "Uwv", Filter.KALLSYMS, path, line,
                      "no address: read_symbol() cannot read the line", "read_symbol()"))
    rules.append(Rule(RuleKind.EXACT, "", Filter.KALLSYMS, path, line,
                      "no name: read_symbol() cannot read the line", "read_symbol()"))
    return rules


def check_conflict_markers(text: str, path: str) -> None:
    m = _CONFLICT.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        raise RulesError(path, line, f"merge-conflict marker {m.group(1)!r}: resolve the"
                                     " conflict first")


def _strip_comments(text: str) -> str:
    """The source with comments and string contents blanked, offsets and lines kept."""
    # (char literals are kept: conditions compare type letters)
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for k in range(i, end):
                if out[k] != "\n":
                    out[k] = " "
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            for k in range(i, end):
                out[k] = " "
            i = end
        elif text[i] == "'":  # char literals stay: conditions compare type letters
            i = _literal_end(text, i)
        elif text[i] == '"':
            end = _literal_end(text, i)
            for k in range(i + 1, end - 1):
                if out[k] != "\n":
                    out[k] = "_"
            i = end
        else:
            i += 1
    return "".join(out)


def _literal_end(text: str, i: int) -> int:
    quote, k = text[i], i + 1
    while k < len(text) and text[k] != quote:
        k += 2 if text[k] == "\\" else 1
    return k + 1


def _function(code: str, name: str) -> tuple[int, int] | None:
    m = re.search(rf"\b{name}\s*\([^;{{)]*\)\s*\{{", code)
    if not m:
        return None
    depth, i = 1, m.end()
    while i < len(code) and depth:
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        i += 1
    return m.end(), i


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _arrays(text: str, code: str, start: int, end: int, path: str) -> list[Rule]:
    rules: list[Rule] = []
    for m in _ARRAY.finditer(code, start, end):
        name = m.group(1)
        close = code.find("}", m.end(), end)
        if close < 0:
            raise RulesError(path, _line(text, m.start()), f"array {name}[] has no closing }}")
        body_code = code[m.end():close]
        if not re.search(r"\bNULL\b|\b0\s*,?\s*$", body_code):
            raise RulesError(path, _line(text, close), f"array {name}[] does not end with"
                                                       " NULL: expected NULL before }}")
        kind = _KIND_BY_NAME.get(name) or _kind_from_use(code, name, start, end)
        if kind is None:
            raise RulesError(path, _line(text, m.start()),
                             f"array {name}[]: cannot tell how it is matched (expected a"
                             " strcmp, strncmp, tail-compare or strstr loop over it)")
        rules += _entries(text, m.end(), close, kind, path)
    return rules


def _kind_from_use(code: str, name: str, start: int, end: int) -> RuleKind | None:
    loop = re.search(rf"for\s*\(\s*(\w+)\s*=\s*{name}\b[^)]*\)(.{{0,240}})", code[start:end],
                     re.S)
    if not loop:
        return None
    use = loop.group(2)
    if "strstr" in use:
        return RuleKind.SUBSTRING
    if "strncmp" in use:
        return RuleKind.PREFIX
    if re.search(r"strcmp\s*\(\s*\w+\s*\+", use):
        return RuleKind.SUFFIX
    if "strcmp" in use:
        return RuleKind.EXACT
    return None


def _entries(text: str, start: int, end: int, kind: RuleKind, path: str) -> list[Rule]:
    """The string literals of one array body, each with its comment: the one trailing
    it on its line, else the group's (``/* arm lld */`` on the first of a group, or a
    comment on a line of its own, carries on to the entries below it)."""
    tokens: list[tuple[str, int, int, str]] = []  # (kind, start, end, text)
    i = start
    while i < end:
        if text.startswith("/*", i):
            close = text.find("*/", i + 2) + 2
            body = re.sub(r"(?m)^\s*\*", " ", text[i + 2:close - 2])
            tokens.append(("comment", i, close, body))
            i = close
        elif text.startswith("//", i):
            close = text.find("\n", i)
            tokens.append(("comment", i, close, text[i + 2:close]))
            i = close
        elif text[i] == '"':
            close = _literal_end(text, i)
            if tokens and tokens[-1][0] == "str" and not text[tokens[-1][2]:i].strip():
                prev = tokens.pop()  # adjacent literals concatenate
                tokens.append(("str", prev[1], close, text[prev[1]:close]))
            else:
                tokens.append(("str", i, close, text[i:close]))
            i = close
        else:
            i += 1
    rules: list[Rule] = []
    group = ""
    for n, (tkind, tstart, _tend, body) in enumerate(tokens):
        line = _line(text, tstart)
        if tkind == "comment":
            if not any(t[0] == "str" and _line(text, t[1]) == line for t in tokens[:n]):
                group = " ".join(body.split())
            continue
        trailing = next((" ".join(t[3].split()) for t in tokens[n + 1:]
                         if t[0] == "comment" and _line(text, t[1]) == line), None)
        if trailing is not None:
            group = trailing
        value = "".join(_c_string(lit, path, line)
                        for lit in re.findall(r'"(?:[^"\\]|\\.)*"', body, re.S))
        rules.append(Rule(kind, value, Filter.KALLSYMS, path, line, group, body))
    return rules


def _c_string(raw: str, path: str, line: int) -> str:
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1] if i + 1 < len(body) else ""
        if e in _C_ESCAPES:
            out.append(_C_ESCAPES[e])
            i += 2
        elif e.isdigit():
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            assert m is not None
            out.append(chr(int(m.group(0), 8)))
            i += 1 + len(m.group(0))
        elif e == "x":
            m = re.match(r"[0-9A-Fa-f]+", body[i + 2:])
            if not m:
                raise RulesError(path, line, f"bad \\x escape in {raw}")
            out.append(chr(int(m.group(0), 16) & 0xFF))
            i += 2 + len(m.group(0))
        else:
            raise RulesError(path, line, f"unknown escape \\{e} in {raw}")
    return "".join(out)


# --- conditions: `if (COND) return DROP;` and the absolute-symbol allow-list ------------

_ABS_BLOCK = re.compile(r"\bif\s*\(\s*toupper\s*\(\s*\w+\s*\)\s*==\s*'A'\s*\)\s*\{"
                        r"(?P<body>[^{}]*)\}")
_TYPE_TERM = re.compile(r"\(?\s*(?P<upper>toupper\s*\(\s*)?\w+\s*\)?\s*==\s*'(?P<c>.)'\s*\)?")
_FIRST_CHAR = re.compile(r"\(?\s*\w+\s*\[\s*0\s*\]\s*==\s*'(?P<c>.)'\s*\)?")
# String tests on the name, however the name is spelt (``sym``, ``(char *)s->sym + 1``):
_NAME = r"\s*(?:[^,\"()]|\([^,\"()]*\))+?\s*"
_LIT = r"\s*\"(?P<s>(?:[^\"\\]|\\.)*)\"\s*"
_LEN = r"\s*(?P<n>\d+|sizeof\s*\(\s*\"[^\"]*\"\s*\)\s*-\s*1|strlen\s*\(\s*\"[^\"]*\"\s*\))\s*"
_ZERO = r"(?:\s*==\s*0)"
_STRSTR = re.compile(rf"\(?\s*strstr\s*\({_NAME},{_LIT}\)\s*(?:!=\s*NULL\s*)?\)?")
_STRCMP = re.compile(rf"\(?\s*(?:!\s*strcmp\s*\({_NAME},{_LIT}\)|strcmp\s*\({_NAME},{_LIT}\)"
                     rf"{_ZERO})\s*\)?".replace("(?P<s>", "(?P<s1>", 1))
_STRNCMP = re.compile(rf"\(?\s*(?:!\s*(?:strncmp|memcmp)\s*\({_NAME},{_LIT},{_LEN}\)"
                      rf"|(?:strncmp|memcmp)\s*\({_NAME},{_LIT},{_LEN}\){_ZERO})\s*\)?"
                      .replace("(?P<s>", "(?P<s1>", 1).replace("(?P<n>", "(?P<n1>", 1))
_MAPPING = re.compile(r"is_arm_mapping_symbol\s*\(\s*\w+\s*\)")
_MAPPING_DEF = re.compile(r"is_arm_mapping_symbol\s*\([^)]*\)\s*\{[^}]*strchr\s*\(\s*\""
                          r"(?P<letters>[^\"]*)\"", re.S)


def _conditions(text: str, code: str, start: int, end: int, path: str,
                function: str) -> list[Rule]:
    rules: list[Rule] = []
    drops = _DROPS[function]
    for m in _ABS_BLOCK.finditer(code, start, end):
        keep = frozenset(re.findall(r'strcmp\s*\(\s*\w+\s*,\s*"([^"]*)"', text[
            m.start("body"):m.end("body")]))
        rules.append(Rule(RuleKind.TYPE, "Aa", Filter.KALLSYMS, path, _line(text, m.start()),
                          "absolute symbols, but for a few useful ones",
                          " ".join(code[m.start():m.end()].split()), keep=keep))
    for cond_start, cond_end, ret in _if_returns(code, start, end):
        if ret not in drops:
            continue
        cond = text[cond_start:cond_end]
        if not cond.strip() or ("strcmp" in cond and "==" not in cond and "!" not in cond):
            continue
        line = _line(text, cond_start)
        for term in _split_or(cond):
            rule = _term_rule(term, text, path, line)
            if rule is None:
                if _is_length_or_range_check(term):
                    continue
                raise RulesError(path, line, "cannot evaluate the condition"
                                             f" `{' '.join(term.split())}`"
                                             f" in {function}(): expected type, first-"
                                             "character, strncmp or mapping-symbol checks")
            rules.append(rule)
    return rules


def _if_returns(code: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """Every ``if (COND) return VALUE;`` between ``start`` and ``end``: COND's span and
    VALUE, the parentheses balanced to any depth (``strstr((char *)s->sym + 1, ...)``)."""
    out = []
    for m in re.finditer(r"\bif\s*\(", code[start:end]):
        i = start + m.end()
        depth, j = 1, i
        while j < end and depth:
            depth += {"(": 1, ")": -1}.get(code[j], 0)
            j += 1
        r = re.match(r"\s*return\s+([-\w]+)\s*;", code[j:end])
        if depth == 0 and r:
            out.append((i, j - 1, r.group(1)))
    return out


def _c_unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


def _split_or(cond: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    i = 0
    while i < len(cond):
        c = cond[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if depth == 0 and cond.startswith("||", i):
            parts.append(cur)
            cur = ""
            i += 2
            continue
        cur += c
        i += 1
    parts.append(cur)
    return parts


def _is_length_or_range_check(term: str) -> bool:
    """Checks that are not name rules: the array loops themselves (their arrays are
    read above), length limits, address ranges."""
    if re.fullmatch(r"\s*\(?\s*\w+\s*[!=<>]=?\s*-?\d+\s*\)?\s*", term):
        return True  # `rc != 3`: how many fields fscanf read
    return bool(re.search(r"\*\s*\w+\s*[,)]|\w+\s*\[\s*i\s*\]|strlen|KSYM_NAME_LEN|_range"
                          r"|addr|all_symbols|is_ignored_symbol|symbol_valid", term))


def _term_rule(term: str, text: str, path: str, line: int) -> Rule | None:
    t = term.strip()
    source = " ".join(t.split())
    m = _TYPE_TERM.fullmatch(t)
    if m:
        letters = m.group("c") + (m.group("c").lower() if m.group("upper") else "")
        return Rule(RuleKind.TYPE, letters, Filter.KALLSYMS, path, line,
                    "symbol type", source)
    m = _FIRST_CHAR.fullmatch(t)
    if m:
        return Rule(RuleKind.PREFIX, m.group("c"), Filter.KALLSYMS, path, line,
                    "first character", source)
    m = _STRSTR.fullmatch(t)
    if m:
        return Rule(RuleKind.SUBSTRING, _c_unescape(m.group("s")), Filter.KALLSYMS, path,
                    line, "", source)
    m = _STRCMP.fullmatch(t)
    if m:
        lit = m.group("s1") if m.group("s1") is not None else m.group("s")
        return Rule(RuleKind.EXACT, _c_unescape(lit), Filter.KALLSYMS, path, line, "", source)
    m = _STRNCMP.fullmatch(t)
    if m:
        lit = _c_unescape(m.group("s1") if m.group("s1") is not None else m.group("s"))
        n = m.group("n1") if m.group("n1") is not None else m.group("n")
        size = int(n) if n.isdigit() else len(lit)
        return Rule(RuleKind.PREFIX, lit[:size], Filter.KALLSYMS, path, line, "", source)
    if _MAPPING.fullmatch(t):
        d = _MAPPING_DEF.search(text)
        letters = d.group("letters") if d else "axtd"
        # strchr() also finds the terminating NUL, so "$" alone is a mapping symbol too.
        regex = rf"^\$(?:[{re.escape(letters)}]?)(?:\.|$)"
        return Rule(RuleKind.REGEX, regex, Filter.KALLSYMS, path, line,
                    "ARM mapping symbols", source, regex=regex)
    return None
