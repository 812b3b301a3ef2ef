"""Read the ignore rules of ``scripts/mksysmap`` in every shape it has had.

Up to 6.3 a shell script piping ``$NM -n`` through ``grep -v`` (one BRE with ``\\|``
alternatives, or an ``-e`` list); 6.4-6.9 a shell script with a ``sed`` program of
``/ pattern/d`` lines inside a double-quoted string; 6.10 on a ``sed -f`` file of the
same lines; in 6.4-6.9 one line of that program is a command substitution that drops the
symbols of the kallsyms object passed as ``$3``. Each rule is kept as the tool really
receives it (after the shell's quote removal) and translated to Python; where that
differs from what its author evidently wrote — a ``\\$`` the shell ate, a ``\\\\$`` in a
pure sed file — a warning says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from lldbisect.errors import RulesError
from lldbisect.kernel.bre import PosixRegexError, translate
from lldbisect.kernel.kallsyms_c import check_conflict_markers
from lldbisect.kernel.model import Filter, Rule, RuleKind
from lldbisect.kernel.shell import (
    SUBST_END,
    SUBST_START,
    Command,
    ShellSyntaxError,
    Word,
    inline_functions,
    parse_pipelines,
)

__all__ = ["parse_mksysmap", "sed_flags"]

_NM_WORD = re.compile(r"^\$\{?NM\}?$|(^|/)([\w.-]*-)?nm$")


def sed_flags(first_line: str) -> list[str] | None:
    """The options sed is run with when the file's interpreter line makes it a sed
    program (``#!/bin/sed -f``, ``#!/usr/bin/sed -nf``, ``#!/usr/bin/env -S sed -f``),
    the file's path to follow them; None for any other file. The one answer to "is
    this mksysmap a sed script", for the reader, the syntax check and the real run."""
    if not first_line.startswith("#!"):
        return None
    words = first_line[2:].split()
    if words and words[0].rsplit("/", 1)[-1] == "env":
        words = [w for w in words[1:] if w not in ("-S", "--split-string")]
    if not words or words[0].rsplit("/", 1)[-1] != "sed":
        return None
    flags = words[1:]
    if not flags or not re.fullmatch(r"-[a-zA-Z]*f", flags[-1]):
        return None
    return flags


def parse_mksysmap(text: str, path: str, labels: Sequence[str] = ()) -> list[Rule]:
    """Every rule mksysmap applies, in order. Raises RulesError on what it cannot read.

    ``labels``: the symbols the tree's scripts/kallsyms.c writes into a kallsyms object
    (``output_label("kallsyms_names")``), which 6.4-6.9 drop, reading them from the
    object given as ``$3``."""
    check_conflict_markers(text, path)
    first = text.split("\n", 1)[0]
    flags = sed_flags(first)
    if flags is not None:
        other = [f for f in flags if f.strip("-f")]
        if other:  # -n prints nothing unasked, -E/-r read EREs: not what the reader models
            raise RulesError(path, 1, f"sed option {' '.join(other)} on the interpreter line"
                                      " is not modelled")
        return _sed_program(text, path, 1, pure_file=True)
    try:
        pipelines = inline_functions(parse_pipelines(text))
    except ShellSyntaxError as e:
        raise RulesError(path, e.line, str(e)) from None
    _no_control_flow(pipelines, path)
    nm_pipes = [p for p in pipelines if any(_is_nm(c) for c in p)]
    if not nm_pipes:
        raise RulesError(path, None, "no `$NM -n` pipeline: expected `$NM -n $1 | grep -v`"
                                     " or `| sed`, or a `#!/bin/sed -f` script")
    nm_pipes, overwritten = _final_writer(pipelines, nm_pipes, path)
    rules: list[Rule] = []
    for pipeline in nm_pipes:
        after_nm = pipeline[next(i for i, c in enumerate(pipeline) if _is_nm(c)) + 1:]
        if not after_nm:
            raise RulesError(path, pipeline[0].words[0].line,
                             "`$NM -n` output is not filtered: expected | grep -v or | sed")
        for command in after_nm:
            rules += _filter(command, path, labels)
    if overwritten and rules:
        lines = ", ".join(str(p[0].words[0].line) for p in overwritten)
        rules[0] = replace(rules[0], warning=(
            f"the `$NM` pipeline at line {lines} also writes $2, but a later command"
            " writes it again: the shell keeps only the last, so its rules do not apply"))
    return rules


# Words that make the shell choose or repeat: which commands run is then not the file's
# order, which is all the reader models.
_CONTROL = {"if", "then", "else", "elif", "fi", "case", "esac", "while", "until", "for",
            "do", "done", "exit", "return", "shift", "break", "continue", "exec", "eval",
            "source", ".", "trap"}


def _no_control_flow(pipelines: list[list[Command]], path: str) -> None:
    """RulesError for control flow (``if``, ``exit``, loops) and for filters whose
    patterns the shell expands from variables: the file is then left to the real shell."""
    for pipeline in pipelines:
        for command in pipeline:
            if command.words and command.words[0].text in _CONTROL:
                word = command.words[0]
                raise RulesError(path, word.line, f"`{word.text}`: shell control flow, which"
                                                  " lldbisect does not model")
            if command.words and command.words[0].text.rsplit("/", 1)[-1] in (
                    "grep", "egrep", "sed"):
                for word in command.words[1:]:
                    name = _expansion(word.raw)
                    if name is not None:
                        raise RulesError(path, word.line, f"`{name}` in a pattern: a shell"
                                                          " variable lldbisect does not"
                                                          " expand")


def _expansion(raw: str) -> str | None:
    """The first ``$NAME`` or ``${NAME}`` the shell expands in a word's source (not in
    single quotes, not escaped, not positional, not a ``$(...)``), if any."""
    quote, i = "", 0
    while i < len(raw):
        c = raw[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            i += 1
        elif c == "'" and not quote:
            quote = "'"
        elif c == '"':
            quote = "" if quote == '"' else '"'
        elif raw.startswith("$(", i):  # a substitution: read by the program's reader
            depth = 0
            while i < len(raw):
                depth += {"(": 1, ")": -1}.get(raw[i], 0)
                if depth == 0 and raw[i] == ")":
                    break
                i += 1
        elif c == "$":
            m = re.match(r"\$(\{[A-Za-z_]\w*[^}]*\}|[A-Za-z_]\w*)", raw[i:])
            if m:
                return m.group()
        i += 1
    return None


def _output(pipeline: list[Command]) -> str | None:
    """``>`` or ``>>`` when the pipeline's output goes to ``$2`` (System.map)."""
    for op, word in pipeline[-1].redirects:
        if op in (">", ">>") and word.text in ("$2", "${2}"):
            return op
    return None


def _final_writer(pipelines: list[list[Command]], nm_pipes: list[list[Command]], path: str
                  ) -> tuple[list[list[Command]], list[list[Command]]]:
    """The nm pipeline whose output the shell leaves in ``$2``, as the real shell does:
    the last ``>`` wins; and the nm pipelines it overwrote. RulesError when no pipeline
    of nm writes $2 in the end, or several append to it."""
    writers = [(p, op) for p in pipelines if (op := _output(p)) is not None]
    if not writers:
        line = nm_pipes[0][-1].words[0].line if nm_pipes[0][-1].words else None
        raise RulesError(path, line, "nothing writes $2 (System.map): the `$NM -n`"
                                     " pipeline writes to standard output (a `\\` missing at"
                                     " the end of a line?); the real script leaves System.map"
                                     " empty")
    last = max(i for i, (_, op) in enumerate(writers) if op == ">") if any(
        op == ">" for _, op in writers) else 0
    final = [p for p, _ in writers[last:]]
    for p in final:
        if not any(_is_nm(c) for c in p):
            line = p[0].words[0].line if p[0].words else None
            name = p[0].words[0].text if p[0].words else "a redirection"
            raise RulesError(path, line, f"$2 (System.map) is written last by `{name}`, not"
                                         " by the `$NM -n` pipeline: System.map would not"
                                         " hold nm's symbols")
    if len(final) > 1:
        raise RulesError(path, final[1][0].words[0].line,
                         "two `$NM` pipelines append (>>) to $2: System.map would list"
                         " symbols twice, which no rule set describes")
    overwritten = [p for p, _ in writers[:last] if any(_is_nm(c) for c in p)]
    return final, overwritten


def _is_nm(command: Command) -> bool:
    return bool(command.words) and bool(_NM_WORD.search(command.words[0].text))


def _filter(command: Command, path: str, labels: Sequence[str]) -> list[Rule]:
    tool = command.words[0].text.rsplit("/", 1)[-1]
    if tool in ("grep", "egrep"):
        return _grep(command, path, extended=tool == "egrep")
    if tool == "sed":
        return _sed_command(command, path, labels)
    raise RulesError(path, command.words[0].line,
                     f"unexpected command `{command.words[0].text}` filtering nm's output:"
                     " expected grep -v or sed")


def _grep(command: Command, path: str, extended: bool) -> list[Rule]:
    args = command.words[1:]
    invert = False
    patterns: list[Word] = []
    i = 0
    while i < len(args):
        a = args[i].text
        if a == "-e" and i + 1 < len(args):
            patterns.append(args[i + 1])
            i += 2
            continue
        if a.startswith("-") and len(a) > 1 and not patterns:
            for flag in a[1:]:
                if flag == "v":
                    invert = True
                elif flag == "E":
                    extended = True
                elif flag in "Gas":
                    pass
                else:
                    raise RulesError(path, args[i].line, f"unsupported grep option -{flag}")
        elif not patterns:
            patterns.append(args[i])
        i += 1
    if not invert:
        raise RulesError(path, command.words[0].line,
                         "grep without -v keeps only matching symbols: expected grep -v")
    rules: list[Rule] = []
    for word in patterns:
        # One pattern word may hold several newline-separated patterns.
        for offset, pattern in enumerate(word.text.split("\n")):
            for alternative in _alternatives(pattern, extended):
                rules.append(_regex_rule(alternative, path, word.line + offset, "",
                                         word, extended=extended, sed=False))
    return rules


def _alternatives(pattern: str, extended: bool) -> list[str]:
    r"""Top-level branches (``\|`` in a BRE): each is one rule. A branch wrapped whole in
    a group (the old ``\( [aNUw] \)\|\(__crc_\)`` style) is unwrapped."""
    bar, open_, close = ("|", "(", ")") if extended else ("\\|", "\\(", "\\)")
    parts, depth, cur, i = [], 0, "", 0
    while i < len(pattern):
        if pattern.startswith("\\", i) and not extended and pattern[i:i + 2] not in (
                bar, open_, close):
            cur += pattern[i:i + 2]
            i += 2
            continue
        if extended and pattern[i] == "\\":
            cur += pattern[i:i + 2]
            i += 2
            continue
        if pattern.startswith("[", i):
            end = _bracket_end(pattern, i)
            cur += pattern[i:end]
            i = end
            continue
        for tok, delta in ((open_, 1), (close, -1)):
            if pattern.startswith(tok, i):
                depth += delta
                cur += tok
                i += len(tok)
                break
        else:
            if depth == 0 and pattern.startswith(bar, i):
                parts.append(cur)
                cur = ""
                i += len(bar)
            else:
                cur += pattern[i]
                i += 1
    parts.append(cur)
    return [_unwrap(p, open_, close) for p in parts]


def _bracket_end(pattern: str, i: int) -> int:
    k = i + 1
    if k < len(pattern) and pattern[k] == "^":
        k += 1
    if k < len(pattern) and pattern[k] == "]":
        k += 1
    while k < len(pattern) and pattern[k] != "]":
        k = pattern.find(":]", k) + 2 if pattern.startswith("[:", k) else k + 1
    return k + 1


def _unwrap(branch: str, open_: str, close: str) -> str:
    if branch.startswith(open_) and branch.endswith(close):
        inner = branch[len(open_):-len(close)]
        if open_ not in inner and close not in inner:
            return inner
    return branch


def _sed_command(command: Command, path: str, labels: Sequence[str]) -> list[Rule]:
    args = command.words[1:]
    scripts: list[Word] = []
    i = 0
    while i < len(args):
        a = args[i].text
        if a in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1])
            i += 2
            continue
        if a.startswith("-f") or a == "--file":
            raise RulesError(path, args[i].line, "sed -f inside mksysmap: point lldbisect at"
                                                 " the sed file itself")
        if a in ("-n", "--quiet", "--silent"):
            raise RulesError(path, args[i].line, "sed -n prints nothing by default: expected"
                                                 " /pattern/d commands")
        if a.startswith("-") and not a.startswith(("-e", "--expression")) and a != "-":
            raise RulesError(path, args[i].line, f"sed option {a} is not modelled (only -e"
                                                 " programs of /pattern/d lines)")
        if not a.startswith("-") and not scripts:
            scripts.append(args[i])
        i += 1
    rules: list[Rule] = []
    for word in scripts:
        rules += _sed_program(word.text, path, word.line, word=word, labels=labels)
    return rules


def _sed_program(program: str, path: str, first_line: int, *, pure_file: bool = False,
                 word: Word | None = None, labels: Sequence[str] = ()) -> list[Rule]:
    rules: list[Rule] = []
    comment: list[str] = []
    raw_lines = word.raw.split("\n") if word is not None else None
    for n, line in enumerate(program.split("\n")):
        lineno = first_line + n
        stripped = line.strip()
        if not stripped:
            comment = []
            continue
        if stripped.startswith(SUBST_START) and stripped.endswith(SUBST_END):
            inner = stripped[len(SUBST_START):-len(SUBST_END)]
            rules += _kallsyms_object_rules(inner, path, lineno, labels)
            comment = []
            continue
        if stripped.startswith("#"):
            if not (n == 0 and stripped.startswith("#!")):
                text = stripped.lstrip("#").strip()
                if text and not set(text) <= set("-=#"):
                    comment.append(text)
            continue
        regex, flags, rest = _sed_address(stripped, path, lineno)
        if rest.strip() not in ("d", "d;"):
            raise RulesError(path, lineno, f"unsupported sed command `{stripped}`: expected"
                                           " /pattern/d")
        raw = raw_lines[n] if raw_lines is not None and n < len(raw_lines) else stripped
        rule = _regex_rule(regex, path, lineno, " ".join(comment[-1:]), word,
                           extended=False, sed=True, source=stripped, ignore_case="I" in flags)
        rules.append(_intent(rule, raw.strip(), pure_file, word))
    return rules


# `$(if [ $# -ge 3 ]; then ${NM} ${3} | sed -n '/ U /!s:.* \([^ ]*\)$:/ \1$/d:p'; fi)`:
# a `/ name$/d` for each symbol the third argument (the previous pass's kallsyms object)
# defines. Recognised by what it runs: nm on $3 (the test on $# only guards its absence).
_ON_THIRD = re.compile(r"\$\{?NM\}?\s+(?:-\S+\s+)*[\"']?\$\{?3\}?[\"']?")


def _kallsyms_object_rules(inner: str, path: str, line: int, labels: Sequence[str]
                           ) -> list[Rule]:
    """The rules a command substitution in the sed program stands for: one exact-name
    rule per symbol a kallsyms object defines. Raises RulesError for any other
    substitution, or when the tree's kallsyms.c names no symbol it writes."""
    guard = re.match(r"\s*if\s+\[\s+(\d+)\s+-ge\s+(\d+)\s+\]", inner)
    if guard and int(guard.group(1)) < int(guard.group(2)):
        return []  # in a function called with fewer arguments: the test is false
    if not _ON_THIRD.search(inner) or "d:p" not in inner.replace(" ", ""):
        raise RulesError(path, line, f"command substitution we cannot evaluate: $({inner})")
    if not labels:
        raise RulesError(path, line, "$(... ${NM} ${3} ...) drops the kallsyms object's own"
                                     " symbols, but scripts/kallsyms.c names none"
                                     " (no output_label(\"...\"))")
    return [Rule(RuleKind.EXACT, name, Filter.MKSYSMAP, path, line,
                 "a symbol of the kallsyms object ($3)", f"$({inner})")
            for name in labels]


def _sed_address(command: str, path: str, line: int) -> tuple[str, str, str]:
    """Split ``/re/FLAGSd`` (or ``\\cREc``) into the regex, its flags, and the rest."""
    if command.startswith("/"):
        delim, i = "/", 1
    elif command.startswith("\\") and len(command) > 1:
        delim, i = command[1], 2
    else:
        raise RulesError(path, line, f"unsupported sed command `{command}`: expected"
                                     " /pattern/d")
    out = ""
    while i < len(command):
        c = command[i]
        if c == "\\" and i + 1 < len(command):
            nxt = command[i + 1]
            # An escaped delimiter is that character, literally; other escapes stay.
            out += nxt if nxt == delim else command[i:i + 2]
            i += 2
            continue
        if c == delim:
            rest = command[i + 1:]
            flags = re.match(r"[IM]*", rest)
            assert flags is not None
            return out, flags.group(0), rest[flags.end():]
        out += c
        i += 1
    raise RulesError(path, line, f"unterminated address in `{command}`")


def _regex_rule(pattern: str, path: str, line: int, comment: str, word: Word | None, *,
                extended: bool, sed: bool, source: str | None = None,
                ignore_case: bool = False) -> Rule:
    try:
        regex = translate(pattern, extended=extended, sed=sed)
    except PosixRegexError as e:
        raise RulesError(path, line, f"bad regular expression `{pattern}`: {e}") from None
    if ignore_case:
        regex = "(?i)" + regex
    kind, text = classify(pattern, extended=extended)
    return Rule(kind, text, Filter.MKSYSMAP, path, line, comment,
                source if source is not None else (word.raw if word else pattern), regex,
                name_regex=_name_anchored(pattern, extended, sed, ignore_case))


def _name_anchored(pattern: str, extended: bool, sed: bool, ignore_case: bool) -> str | None:
    """`` __x…`` as a regex on names: on an ``nm -n`` line a space followed by a character
    that is neither a space, a type letter nor ``?`` can only be the one before the name."""
    if ignore_case or len(pattern) < 2 or pattern[0] != " " or pattern[1] in " ?\\[.*^$":
        return None
    if pattern[1].isalpha() or (("\\|" if not extended else "|") in pattern):
        return None
    try:
        return "^(?:" + translate(pattern[1:], extended=extended, sed=sed) + ")"
    except PosixRegexError:
        return None


_LITERAL = re.compile(r"(?:[^\\.\[\]*^$]|\\[.\[\]*^$\\/])*")


def classify(pattern: str, *, extended: bool = False) -> tuple[RuleKind, str]:
    """What kind of name rule a pattern on an ``nm -n`` line is, and its name text.

    `` foo`` is a prefix, ``foo$`` a suffix, `` foo$`` an exact name, ``foo`` a
    substring, `` [aNUw] `` a symbol-type filter; anything else is a regex.
    """
    m = re.fullmatch(r" \[([A-Za-z]+)\] ", pattern)
    if m:
        return RuleKind.TYPE, m.group(1)
    lead = pattern.startswith(" ")
    body = pattern[1:] if lead else pattern
    anchored = body.endswith("$") and not body.endswith("\\$")
    if anchored:
        body = body[:-1]
    special = "+?{}()|" if extended else ""
    if _LITERAL.fullmatch(body) and not any(c in body for c in special) and " " not in body:
        literal = re.sub(r"\\(.)", r"\1", body)
        if lead and anchored:
            return RuleKind.EXACT, literal
        if lead:
            return RuleKind.PREFIX, literal
        if anchored:
            return RuleKind.SUFFIX, literal
        return RuleKind.SUBSTRING, literal
    return RuleKind.REGEX, pattern


def _intent(rule: Rule, raw: str, pure_file: bool, word: Word | None) -> Rule:
    """Warn where the shell or sed reads a rule otherwise than its author meant."""
    if word is not None and word.dq_backslash_eaten and "\\$" in raw and "\\$" not in (
            rule.source or ""):
        meant = raw.replace("\\\\", "\\")
        return replace(rule, warning=(
            f"written `{meant}` inside a double-quoted shell string: the shell removes the"
            f" backslash of `\\$`, so sed receives `{rule.source}`, where `$` is an end"
            " anchor, not a literal `$`"))
    if pure_file and "\\\\$" in (rule.source or ""):
        return replace(rule, warning=(
            f"`{rule.source}` in a sed file: `\\\\` is a literal backslash and `$` an end"
            " anchor, so it matches names ending in a backslash, not names with a `$`"))
    return rule
