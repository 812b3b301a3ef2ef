"""Compare link stages: what differs between passes, what the linker made, what kallsyms
sees, and the verdict every bisect step uses.

Pure analysis over symbol tables and a rule set: no subprocess, no git.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from heapq import nsmallest
from itertools import compress, pairwise, repeat
from operator import ne

from lldbisect.analysis.families import Family, infer_families
from lldbisect.analysis.shapes import made_by_shape
from lldbisect.elf.table import SymbolTable, first_indices
from lldbisect.kernel.model import Rule, RuleKind
from lldbisect.kernel.rules import RuleSet, Visibility

__all__ = ["Corpus", "Evidence", "EvidenceSource", "FamilyReport", "StageDiff", "StageSymbols",
           "Verdict", "compare", "linker_made"]

# Symbols every linker defines by itself, which are not thunks or stubs.
STANDARD_LINKER_SYMBOLS = frozenset({
    "_GLOBAL_OFFSET_TABLE_", "_DYNAMIC", "_PROCEDURE_LINKAGE_TABLE_", "__bss_start",
    "_edata", "edata", "_end", "end", "_etext", "etext", "__ehdr_start",
    "__executable_start", "__dso_handle", "_gp", "_gp_disp", "__gnu_local_gp",
    "_TLS_MODULE_BASE_", "__global_pointer$", "_SDA_BASE_", "_SDA2_BASE_", ".TOC.",
    "__TMC_END__", "__rel_iplt_start", "__rel_iplt_end", "__rela_iplt_start",
    "__rela_iplt_end", "__preinit_array_start", "__preinit_array_end",
    "__init_array_start", "__init_array_end", "__fini_array_start", "__fini_array_end",
})
_SECTION_BOUNDARY = re.compile(r"__(start|stop)_[A-Za-z_][A-Za-z0-9_]*")


class Verdict(StrEnum):
    CONVERGED = "converged"  # no linker-made symbol visible to kallsyms
    AT_RISK = "at-risk"  # converged, but visible linker-made symbols exist
    DIVERGED = "diverged"  # the kernel's check fails (or would) because of them
    DIVERGED_OTHER = "diverged-other"  # the passes differ, but no linker-made name explains it


class EvidenceSource(StrEnum):
    """What says which symbols the linker made."""

    INPUTS = "inputs"  # vmlinux.o and the kallsyms objects: what the link read
    OBJECTS = "objects"  # vmlinux.o is gone: the archives and objects it was made of
    SHAPES = "shapes"  # no inputs at all: names shaped like a linker's (unconfirmed)


@dataclass(frozen=True)
class Evidence:
    """Where the linker-made names come from, and what that leaves unsure."""

    source: EvidenceSource
    files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def confirmed(self) -> bool:
        return self.source is not EvidenceSource.SHAPES

    def describe(self) -> str:
        what = {EvidenceSource.INPUTS: "comparing with the link's inputs",
                EvidenceSource.OBJECTS: "comparing with the objects vmlinux.o was made of"
                                        " (vmlinux.o is gone)",
                EvidenceSource.SHAPES: "name shape only: UNCONFIRMED (no vmlinux.o and no"
                                       " objects to compare with; a linker naming no list"
                                       " knows would go unseen)"}[self.source]
        n = len(self.files)
        return what + (f", {n} file(s)" if n and self.source is EvidenceSource.OBJECTS
                       else "")


SHAPES_ONLY = Evidence(EvidenceSource.SHAPES)


@dataclass(frozen=True)
class Corpus:
    """Symbol names of real kernels, none made by a linker: a pattern that hides one of
    them would hide an ordinary kernel function in some other build."""

    labels: tuple[str, ...]
    names: frozenset[str]


@dataclass(frozen=True)
class StageSymbols:
    """One stage's symbols and what the tree's rules let through."""

    label: str
    path: str
    table: SymbolTable
    visibility: Visibility
    made: frozenset[str]  # linker-made names in this stage

    @cached_property
    def _in_table(self) -> Counter[str]:
        return Counter(compress(self.table.names, self.visibility.kallsyms_mask()))

    @cached_property
    def _in_map(self) -> Counter[str]:
        return Counter(compress(self.table.names, self.visibility.system_map_mask()))

    def in_table(self) -> Counter[str]:
        """Names in the kallsyms table, with multiplicity: what sizes the table."""
        return self._in_table

    def in_map(self) -> Counter[str]:
        """Names in System.map / the .syms list: what the kernel's final cmp compares."""
        return self._in_map


@dataclass(frozen=True)
class StageDiff:
    """Symbols that differ between two stages, by name (addresses shift)."""

    before: str
    after: str
    added: list[str]
    removed: list[str]
    moved: int
    moved_examples: list[str]
    visible_added: list[str]  # of added/removed, the ones in the kallsyms table
    visible_removed: list[str]
    map_changed: bool  # the System.map-level name lists differ
    made_added: list[str]  # of those, the linker-made ones
    made_removed: list[str]


@dataclass(frozen=True)
class FamilyReport:
    """A family of linker-made symbols and what to do about it."""

    family: Family
    visible: list[str]  # members kallsyms sees in the last stage
    hidden_by: Rule | None  # the rule already hiding the family, if one covers all
    safe_pattern: tuple[RuleKind, str] | None  # hides the family and nothing else
    collateral: list[str]  # other symbols the inferred pattern would hide
    exact_names: list[str] = field(default_factory=list)  # fallback when unsafe


def linker_made(table: SymbolTable, inputs: Iterable[str] | None,
                defined_by_script: Iterable[str] = (), *,
                local_only: bool = False) -> frozenset[str]:
    """Names in ``table`` the linker made: in none of the link's inputs (when known),
    nor defined by its linker script, nor standard linker symbols. Without inputs,
    the local code symbols shaped as linkers name their stubs (shapes.py): unconfirmed.
    ``local_only``: only local symbols count (the linker script is missing, so a global
    name in no input is taken for one of its assignments; no linker makes globals)."""
    script = set(defined_by_script)

    def ordinary(name: str) -> bool:
        return (name in STANDARD_LINKER_SYMBOLS or name in script
                or _SECTION_BOUNDARY.fullmatch(name) is not None)

    if inputs is not None:
        unknown = table.name_counts().keys() - inputs  # in C; few names are left to see
        made = {n for n in unknown if not ordinary(n)}
        if local_only and made:
            made &= {n for n, letter in zip(table.names, table.letters)
                     if letter.islower() and n in made}
        return frozenset(made)
    return made_by_shape(table, ordinary)


def diff_stages(a: StageSymbols, b: StageSymbols, examples: int = 8) -> StageDiff:
    ca, cb = _comparable(a, b), _comparable(b, a)
    added, removed = _multiset_diff(ca, cb)
    first_a, first_b = _first_address(a.table), _first_address(b.table)
    # Names whose (first) address changed, looked up in C; a name new in b gets its own
    # address back as the default, so it does not count as moved.
    changed = map(ne, map(first_a.get, first_b.keys(), first_b.values()), first_b.values())
    moved = list(compress(first_b.keys(), changed))
    vis_added, vis_removed = _multiset_diff(a.in_table(), b.in_table())
    made = a.made | b.made
    return StageDiff(a.label, b.label, added, removed, len(moved), nsmallest(examples, moved),
                     vis_added, vis_removed, not _same(a.in_map(), b.in_map()),
                     [n for n in vis_added if n in made], [n for n in vis_removed if n in made])


def _multiset_diff(before: Counter[str], after: Counter[str]) -> tuple[list[str], list[str]]:
    """(added, removed) names with multiplicity; item views keep the work in C."""
    if _same(before, after):
        return [], []
    added = [n for n in after.keys() - before.keys() for _ in range(after[n])]
    removed = [n for n in before.keys() - after.keys() for _ in range(before[n])]
    # A name on both sides can only change its count if one side has it twice or more;
    # key views and this filter stay cheaper than differencing (name, count) items.
    repeated = set(compress(after.keys(), map((1).__lt__, after.values())))
    repeated.update(compress(before.keys(), map((1).__lt__, before.values())))
    for n in repeated:
        k = after[n] - before[n]
        if n in before and n in after and k:
            (added if k > 0 else removed).extend(repeat(n, abs(k)))
    return sorted(added), sorted(removed)


def _same(a: Counter[str], b: Counter[str]) -> bool:
    """Counter equality in C: ``Counter.__eq__`` loops in Python (zero counts, which
    these never hold, aside)."""
    return dict.__eq__(a, b) is True


def _comparable(stage: StageSymbols, other: StageSymbols) -> Counter[str]:
    """The stage's names, as many as can be compared with ``other``: a System.map-style
    listing holds only what mksysmap kept, so an ELF image is cut down to that too."""
    if other.table.machine == "nm listing" and stage.table.machine != "nm listing":
        return stage.in_map()
    return stage.table.name_counts()


def _first_address(table: SymbolTable) -> dict[str, int]:
    """Each name's address at its first occurrence (later writes of reversed pairs win)."""
    return dict(zip(reversed(table.names), reversed(table.addresses)))


def family_reports(stage: StageSymbols, families: Sequence[Family],
                   corpus: frozenset[str] = frozenset()) -> list[FamilyReport]:
    """For each family: who sees it, what hides it, and a pattern safe to add: one that
    hides no other symbol of the image, nor any name of ``corpus`` (the symbols of real
    kernels, none of them linker-made)."""
    table, vis = stage.table, stage.visibility
    names = table.names
    visible_names = set(compress(names, vis.kallsyms_mask()))
    others = (table.name_counts().keys() - stage.made) | (corpus - stage.made)
    collateral = _collateral(families, list(others))
    first = first_indices(names, {n for f in families for n in f.members})
    reports = []
    for fam, hit in zip(families, collateral):
        visible = sorted(n for n in fam.members if n in visible_names)
        hidden_by = vis.family_hider(first[n] for n in fam.members if n in first)
        safe = None if hit else (fam.kind, fam.pattern)
        reports.append(FamilyReport(fam, visible, hidden_by, safe, hit,
                                    [] if safe else list(fam.members)))
    return reports


def _collateral(families: Sequence[Family], others: list[str]) -> list[list[str]]:
    """Per family, the other symbols its pattern would hide: one C-level pass per rule
    kind finds the few candidates, which are then matched family by family."""
    out: list[list[str]] = [[] for _ in families]
    by_kind: dict[RuleKind, list[int]] = {}
    for k, fam in enumerate(families):
        by_kind.setdefault(fam.kind, []).append(k)
    for kind, ks in by_kind.items():
        patterns = [families[k].pattern for k in ks]
        hits: Iterable[str]
        if kind is RuleKind.PREFIX:
            hits = compress(others, map(str.startswith, others, repeat(tuple(patterns))))
        elif kind is RuleKind.SUFFIX:
            hits = compress(others, map(str.endswith, others, repeat(tuple(patterns))))
        elif kind is RuleKind.EXACT:
            wanted = set(patterns)
            hits = (n for n in others if n in wanted)
        else:
            rx = re.compile("|".join(map(re.escape, patterns)))
            hits = compress(others, map(rx.search, others))
        for name in sorted(hits):
            for k in ks:
                if families[k].covers(name):
                    out[k].append(name)
    return out


def family_wide(families: Sequence[Family], all_names: Iterable[str],
                made: frozenset[str]) -> str | None:
    """A POSIX regex covering every lld-style prefix family at once (the 6.8
    ``__[[:alnum:]]*Thunk_`` rule), when one fits all of them and hides nothing else."""
    prefixes = [f.pattern for f in families if f.kind is RuleKind.PREFIX
                and re.fullmatch(r"__[A-Za-z0-9]+_", f.pattern)]
    if not prefixes:
        return None
    tail = _common_suffix([p[2:] for p in prefixes])
    m = re.search(r"[A-Z][a-z0-9]*_$", tail)
    if not m:
        return None
    regex = f"__[[:alnum:]]*{m.group(0)}"
    py = re.compile("__[A-Za-z0-9]*" + re.escape(m.group(0)))
    if any(n not in made for n in filter(py.match, all_names)):
        return None
    return regex


def _common_suffix(items: list[str]) -> str:
    rev = [s[::-1] for s in items]
    out = ""
    for chars in zip(*rev):
        if len(set(chars)) != 1:
            break
        out += chars[0]
    return out[::-1]


@dataclass(frozen=True)
class Comparison:
    """Everything one comparison of stages found."""

    stages: list[StageSymbols]
    diffs: list[StageDiff]
    families: list[FamilyReport]
    family_wide: str | None
    culprits: list[str]  # visible linker-made names that differ between the last stages
    verdict: Verdict
    reason: str
    evidence: Evidence = SHAPES_ONLY
    corpus: tuple[str, ...] = ()  # the real kernels every pattern was also checked on


def compare(stages: Sequence[StageSymbols], rules: RuleSet, *, kernel_failed: bool | None,
            final_differs: bool | None, final: bool = True,
            evidence: Evidence = SHAPES_ONLY, corpus: Corpus | None = None) -> Comparison:
    """The verdict over consecutive stages: the passes, then (``final``) the image.

    The table linked into the final image comes from the last pass, the one linked
    into the last pass from the pass before: if their visible symbols differ, the
    final System.map cannot equal the last pass's list. So the culprits are the
    visible linker-made names that differ between the last two passes, and between
    the last pass and the final image. ``kernel_failed``: the build log says the
    check failed; ``final_differs``: System.map is not the last pass's list (None
    where either is missing).
    """
    diffs = [diff_stages(a, b) for a, b in pairwise(stages)]
    last = stages[-1]
    made_all = frozenset().union(*(s.made for s in stages))
    made_names = [n for n in last.table.names if n in last.made]
    families = infer_families(made_names or sorted(made_all), last.table.names)
    reports = family_reports(last, families, corpus.names if corpus else frozenset())
    visible_made = sorted({n for r in reports for n in r.visible})
    # A regex in mksysmap reaches the kallsyms table only where kallsyms reads its output.
    wide = (family_wide(families, last.table.names, made_all)
            if rules.kallsyms_reads_sysmap and visible_made else None)
    n_passes = len(stages) - (1 if final else 0)
    deciding = diffs[max(0, n_passes - 2):]  # last pass-to-pass diff, and the final one
    culprits = sorted({n for d in deciding for n in d.made_added + d.made_removed})
    final_diff = diffs[-1] if final and diffs else None
    differs = bool(final_diff and (final_diff.visible_added or final_diff.visible_removed
                                   or final_diff.map_changed))
    if not final and diffs:  # two files compared: any visible difference counts
        differs = bool(diffs[-1].visible_added or diffs[-1].visible_removed)
    failed = bool(kernel_failed) or bool(final_differs) or differs
    if failed and culprits:
        verdict = Verdict.DIVERGED
        reason = (f"{len(culprits)} linker-made symbol(s) visible to kallsyms appear or vanish"
                  " between the last stages, so the final System.map cannot match")
    elif failed and not evidence.confirmed:
        verdict = Verdict.DIVERGED_OTHER
        reason = ("the stages differ, but in no name shaped like a linker's; without the"
                  " link's inputs (vmlinux.o) it is unconfirmed which names the linker made")
    elif failed:
        verdict = Verdict.DIVERGED_OTHER
        reason = ("the stages differ, but in no linker-made name: not a linker naming"
                  " problem (kallsyms' own symbols, alignment?)")
    elif visible_made:
        verdict = Verdict.AT_RISK
        reason = (f"converged, but kallsyms sees {len(visible_made)} linker-made symbol(s):"
                  " another layout can make their number change between passes")
    else:
        verdict = Verdict.CONVERGED
        reason = "no linker-made symbol is visible to kallsyms"
    if not evidence.confirmed and verdict is not Verdict.DIVERGED_OTHER:
        reason += " (linker-made names known by their shape only: unconfirmed)"
    return Comparison(list(stages), diffs, reports, wide, culprits, verdict, reason, evidence,
                      corpus.labels if corpus else ())
