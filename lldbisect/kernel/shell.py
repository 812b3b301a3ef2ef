"""Just enough of the POSIX shell to read mksysmap: words, quotes, pipelines, comments.

The kernel's mksysmap was a shell script until 6.10, its filters inside quotes; what
grep or sed receive is what the shell left after quote removal — a double-quoted
``\\$`` reaches sed as ``$``. This lexer does that quote removal exactly; a command
substitution inside double quotes (6.4-6.9's ``$(... ${NM} ${3} ...)``) is kept, marked,
for the sed program's reader; here-documents and backquotes are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["SUBST_END", "SUBST_START", "Command", "ShellSyntaxError", "Word", "inline_functions",
           "parse_pipelines"]


# A command substitution inside double quotes, as the quote removal leaves it for the
# program reader: its text between these marks (which no kernel file contains).
SUBST_START, SUBST_END = "\x00$(", ")\x00"


def _substitution_end(s: str, i: int, line: int) -> int:
    """The index of the ``)`` that closes a ``$(`` whose text starts at ``i``."""
    depth, quote = 1, ""
    while i < len(s):
        c = s[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                i += 1
        elif c in "'\"":
            quote = c
        elif c == "\\":
            i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellSyntaxError(line, "unterminated command substitution $(")


class ShellSyntaxError(ValueError):
    """The script is not shell we can read; ``line`` says where."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Word:
    """One word after quote removal. ``raw`` is the source text; ``line`` its first line;
    ``dq_backslash_eaten`` is true when a double-quoted ``\\`` was removed from it."""

    text: str
    raw: str
    line: int
    dq_backslash_eaten: bool = False


@dataclass
class Command:
    """A simple command: its words (redirection targets left out) and redirections."""

    words: list[Word] = field(default_factory=list)
    redirects: list[tuple[str, Word]] = field(default_factory=list)


_OPERATORS = ("&&", "||", ">>", "2>", "|", ";", "&", ">", "<")


def parse_pipelines(source: str) -> list[list[Command]]:
    """The script's pipelines, each a list of the commands joined by ``|``."""
    lexer = _Lexer(source)
    pipelines: list[list[Command]] = []
    current: list[Command] = [Command()]
    pending_redirect: str | None = None
    for kind, value in lexer.tokens():
        if kind == "word":
            assert isinstance(value, Word)
            if pending_redirect is not None:
                current[-1].redirects.append((pending_redirect, value))
                pending_redirect = None
            else:
                current[-1].words.append(value)
            continue
        op = str(value)
        if pending_redirect is not None:
            raise ShellSyntaxError(lexer.line, f"expected a file name after {pending_redirect}")
        if op in (">", ">>", "<", "2>"):
            pending_redirect = op
        elif op == "|":
            current.append(Command())
        else:  # ; & && || newline: the pipeline ends
            _flush(pipelines, current)
            current = [Command()]
    _flush(pipelines, current)
    return pipelines


_FUNCTION = re.compile(r"([A-Za-z_][\w-]*)\(\)")
_POSITIONAL = re.compile(r"\$(?:\{([1-9#])\}|([1-9#]))")


def _definition(pipeline: list[Command]) -> tuple[str, list[Word]] | None:
    """``name() {`` (or ``name () {``, or the brace on the next line): the name, and
    the words after the brace, which start the body."""
    words = pipeline[0].words
    if not words:
        return None
    if m := _FUNCTION.fullmatch(words[0].text):
        rest = words[1:]
    elif len(words) > 1 and words[1].text == "()" and re.fullmatch(r"[A-Za-z_][\w-]*",
                                                                    words[0].text):
        m, rest = re.match(r"(.*)", words[0].text), words[2:]
    else:
        return None
    assert m is not None
    if len(pipeline) > 1 and not rest:
        raise ShellSyntaxError(words[0].line, f"function {m.group(1)}() has no body")
    return m.group(1), rest


def _call_args(body: list[list[Command]], args: list[Word]) -> list[list[Command]]:
    """The body with ``$1``-``$9`` as the call passes them (the function's own); a call
    with ``"$@"`` alone passes the script's own, which stay as they are."""
    texts = [a.text for a in args]
    if texts in (["$@"], ["$*"]):
        return body
    if "$@" in texts or "$*" in texts or any("$@" in t or "$*" in t for t in texts):
        where = args[0].line
        raise ShellSyntaxError(where, "a function called with \"$@\" among other"
                                      " arguments, which lldbisect does not model")
    def sub(w: Word) -> Word:
        def one(m: re.Match[str]) -> str:
            if (m.group(1) or m.group(2)) == "#":
                return str(len(args))
            k = int(m.group(1) or m.group(2))
            return args[k - 1].text if k <= len(args) else ""
        return Word(_POSITIONAL.sub(one, w.text), w.raw, w.line, w.dq_backslash_eaten)
    return [[Command([sub(w) for w in c.words], [(op, sub(w)) for op, w in c.redirects])
             for c in p] for p in body]


def inline_functions(pipelines: list[list[Command]]) -> list[list[Command]]:
    """The script with each shell function's body in place of its calls, as the shell
    runs it: definitions removed, ``$1``-``$9`` and ``$#`` in a body replaced by the
    call's arguments, the call's redirections on the body's last command. A body of several
    pipelines is inlined where the call stands alone; called inside a pipe or with a
    redirection, it is refused (a ShellSyntaxError), as a group we do not model."""
    functions: dict[str, list[list[Command]]] = {}
    out: list[list[Command]] = []
    i = 0
    while i < len(pipelines):
        pipeline = pipelines[i]
        found = _definition(pipeline)
        if found is None:
            out.append(pipeline)
            i += 1
            continue
        name, rest = found
        line = pipeline[0].words[0].line
        body_start: list[Command] = []
        if rest and rest[0].text == "{":
            rest = rest[1:]
        elif not rest and i + 1 < len(pipelines) and [w.text for w in
                                                        pipelines[i + 1][0].words] == ["{"]:
            i += 1
        else:
            raise ShellSyntaxError(line, f"function {name}() without a {{ ... }} body")
        if rest:
            body_start = [Command(rest, pipeline[0].redirects), *pipeline[1:]]
        body: list[list[Command]] = [body_start] if body_start else []
        i += 1
        while True:
            if i >= len(pipelines):
                raise ShellSyntaxError(line, f"function {name}() has no closing }}")
            words = pipelines[i][0].words
            if words and words[0].text == "}":
                if len(words) > 1 or pipelines[i][0].redirects or len(pipelines[i]) > 1:
                    raise ShellSyntaxError(words[0].line, f"function {name}(): words after"
                                                          " its closing }")
                i += 1
                break
            body.append(pipelines[i])
            i += 1
        functions[name] = body
    return _expand(out, functions, depth=0)


def _expand(pipelines: list[list[Command]], functions: dict[str, list[list[Command]]],
            depth: int) -> list[list[Command]]:
    if depth > 8:  # a function calling itself: the shell would recurse without end
        raise ShellSyntaxError(0, "shell functions call each other more than 8 deep")
    result: list[list[Command]] = []
    for pipeline in pipelines:
        if not any(c.words and c.words[0].text in functions for c in pipeline):
            result.append(pipeline)
            continue
        spliced: list[Command] = []
        for c in pipeline:
            name = c.words[0].text if c.words else ""
            if name not in functions:
                spliced.append(c)
                continue
            body = _expand(_call_args(functions[name], c.words[1:]), functions, depth + 1)
            if len(body) == 1:
                head, last = body[0][:-1], body[0][-1]
                spliced += [*head, Command(last.words, last.redirects + c.redirects)]
            elif len(pipeline) == 1 and not c.redirects:
                result += body
                spliced = []
                break
            else:
                raise ShellSyntaxError(c.words[0].line, f"function {name}() of several"
                                                        " commands used in a pipe or with"
                                                        " a redirection")
        if spliced:
            result.append(spliced)
    return result


def _flush(pipelines: list[list[Command]], current: list[Command]) -> None:
    commands = [c for c in current if c.words or c.redirects]
    if commands:
        pipelines.append(commands)


class _Lexer:
    def __init__(self, source: str) -> None:
        self.s = source
        self.i = 0
        self.line = 1

    def tokens(self) -> list[tuple[str, Word | str]]:
        out: list[tuple[str, Word | str]] = []
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "\n":
                out.append(("op", "newline"))
                self.line += 1
                self.i += 1
            elif c in " \t":
                self.i += 1
            elif c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
                self.line += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            else:
                op = next((o for o in _OPERATORS if s.startswith(o, self.i)), None)
                if op is not None:
                    out.append(("op", op))
                    self.i += len(op)
                else:
                    out.append(("word", self._word()))
        return out

    def _word(self) -> Word:
        s, start, first_line = self.s, self.i, self.line
        text: list[str] = []
        eaten = False
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\n" or any(s.startswith(o, self.i) for o in _OPERATORS):
                break
            if c == "'":
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise ShellSyntaxError(first_line, "unterminated single quote")
                chunk = s[self.i + 1:end]
                self.line += chunk.count("\n")
                text.append(chunk)
                self.i = end + 1
            elif c == '"':
                chunk, ate = self._double_quoted()
                text.append(chunk)
                eaten = eaten or ate
            elif c == "\\":
                if self.i + 1 < len(s):
                    if s[self.i + 1] == "\n":
                        self.line += 1
                    else:
                        text.append(s[self.i + 1])
                self.i += 2
            elif c == "`" or s.startswith(("$(", "<<"), self.i):
                if s.startswith("$(", self.i):
                    what = s[self.i:_substitution_end(s, self.i + 2, self.line) + 1]
                else:
                    what = s[self.i:].split("\n", 1)[0]
                what = what if len(what) <= 60 else what[:57] + "..."
                raise ShellSyntaxError(self.line, f"`{what}`: a command substitution or"
                                                  " here-document outside double quotes,"
                                                  " which lldbisect does not evaluate")
            else:
                text.append(c)
                self.i += 1
        return Word("".join(text), s[start:self.i], first_line, eaten)

    def _double_quoted(self) -> tuple[str, bool]:
        s = self.s
        first_line = self.line
        self.i += 1
        out: list[str] = []
        eaten = False
        while True:
            if self.i >= len(s):
                raise ShellSyntaxError(first_line, "unterminated double quote")
            c = s[self.i]
            if c == '"':
                self.i += 1
                return "".join(out), eaten
            if c == "\\" and self.i + 1 < len(s):
                nxt = s[self.i + 1]
                if nxt == "\n":  # line continuation
                    self.line += 1
                elif nxt in '$`"\\':
                    out.append(nxt)
                    eaten = True
                else:
                    out.append("\\" + nxt)
                self.i += 2
                continue
            if s.startswith("$(", self.i):
                # 6.4-6.9 build part of the sed program from $3 this way: kept as a
                # marked line for the reader of the program to evaluate.
                end = _substitution_end(s, self.i + 2, self.line)
                out.append(SUBST_START + s[self.i + 2:end] + SUBST_END)
                self.line += s.count("\n", self.i, end)
                self.i = end + 1
                continue
            if c == "`":
                raise ShellSyntaxError(self.line, "backquote command substitution is not"
                                                  " supported in mksysmap")
            if c == "\n":
                self.line += 1
            out.append(c)
            self.i += 1
