"""Just enough of the POSIX shell to read mksysmap: words, quotes, pipelines, comments.

The kernel's mksysmap was a shell script until 6.10, its filters inside quotes; what
grep or sed receive is what the shell left after quote removal — a double-quoted
``\\$`` reaches sed as ``$``. This lexer does that quote removal exactly; a command
substitution inside double quotes (6.4-6.9's ``$(... ${NM} ${3} ...)``) is kept, marked,
for the sed program's reader; here-documents and backquotes are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SUBST_END", "SUBST_START", "Command", "ShellSyntaxError", "Word", "parse_pipelines"]


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
                raise ShellSyntaxError(self.line, "command substitution and here-documents"
                                                  " are not supported in mksysmap")
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
