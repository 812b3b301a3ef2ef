"""Where layouts fail: a model of the build's link, fitted to its own stages.

Growth at the padding point (the padding, or a larger kallsyms table) moves every later
section by an amount the linker script's alignments round (``ALIGN(PAGE_SIZE)``
swallows small changes, then jumps a page). A branch across the padding point needs a
thunk once the shift exceeds its margin; each thunk the tree's rules let through
lengthens the next pass's kallsyms table, which moves the layout again. Playing
``link-vmlinux.sh``'s passes through that model says, for each padding, whether the
passes agree: the paddings where they do not are relinked first.

The model is checked before use against the build's own link stages, which link the
same objects at other table sizes: each section must start where the model puts it.
"""

from __future__ import annotations

import ast
import bisect
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from lldbisect.errors import InputError
from lldbisect.layouts.branches import Branch
from lldbisect.layouts.padding import PadSection

__all__ = ["ChainLink", "LayoutModel", "PassModel", "TableFit", "fit_layout", "fit_table",
           "script_alignments", "section_layout"]

_ALIGN = re.compile(r"\bALIGN\s*\(")
_OPS = {ast.LShift: operator.lshift, ast.RShift: operator.rshift, ast.Add: operator.add,
        ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}


def _const(expr: str) -> int | None:
    """An integer constant expression of a preprocessed linker script, or None."""
    text = re.sub(r"\b0x([0-9a-fA-F]+)\b", lambda m: str(int(m.group(1), 16)), expr)
    text = text.replace("/", "//")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return None

    def value(node: ast.AST) -> int | None:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            a, b = value(node.left), value(node.right)
            if a is None or b is None or (isinstance(node.op, ast.LShift) and b > 64):
                return None
            return int(_OPS[type(node.op)](a, b))
        return None

    try:
        return value(tree)
    except (ZeroDivisionError, ValueError):
        return None


def script_alignments(script: str) -> set[int]:
    """The constant ``ALIGN(N)`` values of a preprocessed linker script (powers of two)."""
    out: set[int] = set()
    for m in _ALIGN.finditer(script):
        depth, i = 1, m.end()
        while i < len(script) and depth:
            depth += {"(": 1, ")": -1}.get(script[i], 0)
            i += 1
        n = _const(script[m.end():i - 1])
        if n and n > 1 and n & (n - 1) == 0:
            out.add(n)
    return out


@dataclass(frozen=True)
class _Section:
    name: str
    start: int
    size: int
    align: int


def section_layout(image: Path) -> list[_Section]:
    """The allocated, non-empty sections of ``image`` in address order."""
    try:
        with open(image, "rb") as f:
            return sorted((_Section(s.name, s["sh_addr"], s["sh_size"],
                                    max(1, s["sh_addralign"]))
                           for s in ELFFile(f).iter_sections()
                           if s["sh_flags"] & 0x2 and s["sh_size"]),
                          key=lambda s: (s.start, s.name))
    except (OSError, ELFError) as e:
        raise InputError(image, f"cannot read its sections: {e}") from None


@dataclass(frozen=True)
class ChainLink:
    """A section after the padding point: its start follows the end of the one before,
    rounded up to ``align``, or at a fixed distance ``gap`` (``align`` 0)."""

    name: str
    start: int
    size: int
    align: int
    gap: int
    choices: tuple[int, ...]  # the alignments that explain its start, largest first


@dataclass
class LayoutModel:
    pad: PadSection
    links: list[ChainLink]
    checked: list[str] = field(default_factory=list)  # the stages it predicts exactly
    mismatch: str = ""  # the first stage it does not, and where

    def shifts(self, growth: int) -> dict[str, int]:
        """How far each section after the padding point moves when the padding
        section's end moves by ``growth`` bytes."""
        end = self.pad.end + growth
        out: dict[str, int] = {}
        for link in self.links:
            start = (end + link.gap if link.align == 0
                     else -(-end // link.align) * link.align)
            out[link.name] = start - link.start
            end = start + link.size
        return out


def _choices(prev_end: int, start: int, align: int, aligns: Iterable[int]) -> tuple[int, ...]:
    """The alignments that put a section at ``start`` after ``prev_end``, the likeliest
    first: the largest of the script's, or for a section right after the one before,
    its own; 0 (a fixed gap) last."""
    ok = sorted({a for a in {*aligns, align} if a > 0 and -(-prev_end // a) * a == start},
                reverse=True)
    if start == prev_end:
        ok = [align] + [a for a in ok if a != align]
    return (*ok, 0)


def fit_layout(reference: Path, pad: PadSection, moving: set[str], aligns: set[int],
               stages: Sequence[tuple[str, Path]]) -> LayoutModel:
    """The layout model of ``reference`` after the padding point, up to the last section
    in ``moving``, fitted so that it predicts each of ``stages`` (label, image)."""
    sections = section_layout(reference)
    after = [s for s in sections if s.start >= pad.end]
    last = max((i for i, s in enumerate(after) if s.name in moving), default=-1)
    links: list[ChainLink] = []
    prev_end = pad.end
    for s in after[:last + 1]:
        choices = _choices(prev_end, s.start, s.align, aligns)
        links.append(ChainLink(s.name, s.start, s.size, choices[0], s.start - prev_end,
                               choices))
        prev_end = s.start + s.size
    model = LayoutModel(pad, links)
    observed = [(label, _observed(image, pad.output, {link.name for link in links}))
                for label, image in stages]
    for _ in range(4 * len(links) + 1):
        wrong = _first_wrong(model, observed, sections)
        if wrong is None:
            model.checked = [label for label, _ in observed]
            return model
        label, index, said = wrong
        link = model.links[index]
        rest = link.choices[link.choices.index(link.align) + 1:]
        if not rest:
            model.mismatch = f"{label}: {said}"
            return model
        model.links[index] = ChainLink(link.name, link.start, link.size, rest[0], link.gap,
                                       link.choices)
    model.mismatch = "the fit did not settle"
    return model


def _observed(image: Path, pad_name: str, names: set[str]) -> tuple[int, dict[str, int]]:
    by_name = {s.name: s for s in section_layout(image)}
    pad = by_name.get(pad_name)
    return (pad.size if pad else -1), {n: by_name[n].start for n in names if n in by_name}


def _first_wrong(model: LayoutModel, observed: list[tuple[str, tuple[int, dict[str, int]]]],
                 sections: list[_Section]) -> tuple[str, int, str] | None:
    ref_pad = next((s.size for s in sections if s.name == model.pad.output), 0)
    for label, (pad_size, starts) in observed:
        if pad_size < 0:
            continue
        shifts = model.shifts(pad_size - ref_pad)
        for i, link in enumerate(model.links):
            want = starts.get(link.name)
            got = link.start + shifts[link.name]
            if want is not None and want != got:
                return label, i, (f"{link.name} starts at {want:#x}, the model says"
                                  f" {got:#x}")
    return None


@dataclass(frozen=True)
class TableFit:
    """The kallsyms table's size as a function of the visible linker-made names."""

    base: int
    per_name: float
    measured: bool  # from passes with different counts; else estimated from the names


def fit_table(points: Sequence[tuple[int, int]], visible_names: Sequence[str],
              thunks_hidden: bool) -> TableFit:
    """Fit (visible linker-made names, table size) of the passes. With one count only,
    the cost of a name is estimated (an offset, a length byte, the compressed name);
    none when the thunks the build has are hidden."""
    if not points:
        return TableFit(0, 0.0, False)
    lo, hi = min(points), max(points)
    if hi[0] != lo[0]:
        per = (hi[1] - lo[1]) / (hi[0] - lo[0])
        return TableFit(round(hi[1] - per * hi[0]), per, True)
    if thunks_hidden:
        return TableFit(hi[1], 0.0, False)
    length = sum(map(len, visible_names)) / len(visible_names) if visible_names else 24
    per = 5 + length / 2
    return TableFit(round(hi[1] - per * hi[0]), per, False)


@dataclass
class PassModel:
    """``link-vmlinux.sh``'s passes played through the layout model."""

    layout: LayoutModel
    branches: list[Branch]
    table: TableFit
    visible_ref: int  # visible linker-made names in the reference image
    table_ref: int  # the size of the table the reference image links
    growth_first: int  # the first pass's growth against the reference (its smaller table)
    ratio: float  # thunk symbols per far callee
    _sections: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Per moving section: the margins sorted, and how many distinct callees the
        # first k of them reach.
        by: dict[str, list[tuple[int, str]]] = {}
        for b in self.branches:
            by.setdefault(b.moving_section, []).append((b.margin, b.callee))
        for name, items in by.items():
            items.sort()
            seen: set[str] = set()
            counts = []
            for _margin, callee in items:
                seen.add(callee)
                counts.append(len(seen))
            self._sections[name] = ([m for m, _ in items], counts)
        self._far0 = self.far(0)

    def far(self, growth: int) -> int:
        """How many callees are out of reach when the padding point grows by ``growth``."""
        shifts = self.layout.shifts(growth)
        if len(self._sections) == 1:
            (name, (margins, counts)), = self._sections.items()
            k = bisect.bisect_left(margins, shifts.get(name, 0))
            return counts[k - 1] if k else 0
        far: set[str] = set()
        for b in self.branches:
            if b.margin < shifts.get(b.moving_section, 0):
                far.add(b.callee)
        return len(far)

    def visible(self, growth: int) -> int:
        if self.table.per_name == 0:
            return self.visible_ref
        return max(0, round(self.visible_ref + self.ratio * (self.far(growth) - self._far0)))

    def size(self, visible: int) -> int:
        return round(self.table.base + self.table.per_name * visible)

    def passes(self, padding: int) -> tuple[list[int], bool]:
        """The visible linker-made names of each pass at ``padding``, and whether the
        kernel's final check fails (the last two tables differ)."""
        v = [self.visible(padding + self.growth_first)]
        tables = [self.size(v[0])]
        for _ in range(2):  # pass 2, and pass 3 when the table changed
            v.append(self.visible(padding + tables[-1] - self.table_ref))
            tables.append(self.size(v[-1]))
            if tables[-1] == tables[-2]:
                return v, False
        return v, True

    def failing(self, lo: int, hi: int, step: int) -> list[tuple[int, int]]:
        """The padding ranges [a, b) in [lo, hi) where the model says the link fails."""
        out: list[tuple[int, int]] = []
        start: int | None = None
        for p in range(lo, hi, step):
            fails = self.passes(p)[1]
            if fails and start is None:
                start = p
            elif not fails and start is not None:
                out.append((start, p))
                start = None
        if start is not None:
            out.append((start, hi))
        return out
