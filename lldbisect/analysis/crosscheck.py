"""Check the model's visibility against the tree's own scripts, and let the real answer win.

For one table: run the tree's mksysmap on its ``nm -n`` listing and the tree's compiled
kallsyms on what kallsyms reads; where the names kept differ from the model's, that is a
reading error of ours, reported with the names, and the visibility built from the real
tools' output is the one every later step uses.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress

from lldbisect.elf.table import SymbolTable
from lldbisect.errors import ToolError
from lldbisect.kernel.realtools import RealTools
from lldbisect.kernel.rules import Visibility, nm_lines

__all__ = ["CrossCheck", "cross_check"]


@dataclass(frozen=True)
class CrossCheck:
    """One table's model visibility compared with the real tools'."""

    label: str
    how: str  # what ran, in words
    map_model_only: list[str] = field(default_factory=list)  # System.map: model keeps, real drops
    map_real_only: list[str] = field(default_factory=list)
    table_model_only: list[str] = field(default_factory=list)  # kallsyms table, likewise
    table_real_only: list[str] = field(default_factory=list)
    table_note: str = ""  # why the kallsyms table could not be checked ("": it was)
    unread: tuple[str, ...] = ()  # what the model could not read: the real answer is used

    @property
    def agrees(self) -> bool:
        return not (self.map_model_only or self.map_real_only or self.table_model_only
                    or self.table_real_only)

    @property
    def answer(self) -> str:
        """Whose answer every later step uses."""
        return "real tools" if self.unread or not self.agrees else "model"

    def describe(self) -> str:
        if self.unread:
            return (f"{self.label}: the answer is {self.how}'s, since the model could not"
                    f" read {'; '.join(self.unread)}")
        if self.agrees:
            return f"{self.label}: the model agrees with {self.how}"
        parts = []
        for what, names in (("in System.map only by the model", self.map_model_only),
                            ("in System.map only by the real tools", self.map_real_only),
                            ("in the kallsyms table only by the model", self.table_model_only),
                            ("in the kallsyms table only by the real tools",
                             self.table_real_only)):
            if names:
                parts.append(f"{len(names)} {what} ({', '.join(names[:4])}"
                             f"{', ...' if len(names) > 4 else ''})")
        return (f"{self.label}: DISAGREES with {self.how}: " + "; ".join(parts)
                + " - a reading error of lldbisect's; the real tools' answer is used")


def _listing(table: SymbolTable) -> str:
    buf = io.BytesIO()
    table.write_nm_listing(buf)
    return buf.getvalue().decode("utf-8", "surrogateescape")


def _diff(model: Counter[str], real: Counter[str]) -> tuple[list[str], list[str]]:
    return sorted((model - real).elements()), sorted((real - model).elements())


def cross_check(label: str, vis: Visibility, tools: RealTools) -> tuple[CrossCheck, Visibility]:
    """The comparison, and the visibility to use: ``vis`` where the model agrees, else
    one built from the real tools' output. Raises ToolError when they cannot run."""
    table = vis.table
    unread = vis.ruleset.unread
    sysmap_text = tools.system_map(_listing(table))
    real_lines = Counter(sysmap_text.splitlines())
    names = table.names
    model_map = Counter(compress(names, vis.system_map_mask()))
    real_map = Counter(line.split(maxsplit=2)[-1] for line in real_lines.elements())
    model_table = Counter(compress(names, vis.kallsyms_mask()))
    how = f"{tools.tree}/scripts/mksysmap (run by {tools.mksysmap_runner})"
    real_table: Counter[str] | None = None
    try:
        real_table = tools.kallsyms_table(sysmap_text if tools.kallsyms_reads_sysmap
                                          else _listing(table))
    except ToolError as e:
        if any(u.startswith("scripts/kallsyms.c") for u in unread):
            raise ToolError(f"the model could not read {'; '.join(unread)}, and the tree's"
                            f" own kallsyms could not run: {e.message}") from None
        # mksysmap alone is checked; the table follows from it as the model says.
        check = CrossCheck(label, how, *_diff(model_map, real_map), table_note=e.message,
                           unread=unread)
    else:
        how += " and its scripts/kallsyms.c (compiled with cc)"
        check = CrossCheck(label, how, *_diff(model_map, real_map),
                           *_diff(model_table, real_table), unread=unread)
    if unread:  # the model's lists are incomplete: no disagreement to report
        check = CrossCheck(label, how, table_note=check.table_note, unread=unread)
    elif check.agrees:
        return check, vis
    # The real answer, symbol by symbol: a line mksysmap printed is kept, as many times as
    # it printed it; a name kallsyms tabled is in the table, as many times.
    lines = nm_lines(table)
    left_lines, left_names = Counter(real_lines), Counter(real_table or ())
    sysmap_hidden = bytearray(len(names))
    kallsyms_hidden = bytearray(len(names))
    for i, (line, name) in enumerate(zip(lines, names)):
        if left_lines[line] > 0:
            left_lines[line] -= 1
        else:
            sysmap_hidden[i] = 1
        if real_table is None:
            continue
        if left_names[name] > 0:
            left_names[name] -= 1
        else:
            kallsyms_hidden[i] = 1
    if real_table is None:  # kallsyms.c as the model reads it, on mksysmap's real output
        return check, Visibility(bytes(sysmap_hidden), vis.kallsyms_hidden,
                                 vis.kallsyms_reads_sysmap, vis.ruleset, table)
    # The table is exactly the real one: kallsyms' own answer, whatever mksysmap said.
    real_vis = Visibility(bytes(sysmap_hidden), bytes(kallsyms_hidden), False, vis.ruleset,
                          table)
    return check, real_vis
