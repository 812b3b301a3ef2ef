"""Typed errors: every failure the library reports carries a one-line user message.

Families, as in tuxmake: an ``InputError`` is the user's to fix (a bad file, a tree we
cannot parse); a ``ToolError`` is the machine's (a missing program, a full disk); an
``UndecidedError`` says the evidence allows no verdict (one link stage).
The CLI maps them to exit statuses; nothing below the CLI exits.
"""

from __future__ import annotations

from pathlib import Path


class LldbisectError(Exception):
    """Base of every error lldbisect raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(LldbisectError):
    """Something the user gave us is missing, unreadable or malformed."""

    def __init__(self, path: Path | str | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


class ElfError(InputError):
    """The file is not a usable ELF file."""


class StrippedError(ElfError):
    """The ELF file has no symbol table of the kind asked for (``.symtab``, or
    ``.dynsym`` with ``--dynamic``): it is stripped. The message says whether the other
    table exists."""


class RulesError(InputError):
    """A kernel tree's kallsyms rules could not be understood."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        self.line = line
        self.detail = problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(None, f"{where}: {problem}")
        self.path = str(path)


class ToolError(LldbisectError):
    """The machine failed us: a program is missing or crashed, a disk is full."""


class UndecidedError(LldbisectError):
    """The inputs are readable but cannot support a verdict (a single pass, nothing to
    compare): saying converged or diverged would be a guess."""
