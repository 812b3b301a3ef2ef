"""Decide what patch a finding calls for, in the right file and form for the tree's era.

Input is a ``Finding`` — built from a ``check`` result or from its JSON report, so a CI
job can propose from a report made elsewhere — and the tree's ``RuleSet``; output is a
``Proposal``: the edits and the mail, or the reason there is no patch.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lldbisect.analysis.check import CheckResult, judge
from lldbisect.analysis.convergence import Corpus, Verdict
from lldbisect.arch import by_kernel_arch, by_machine
from lldbisect.elf.nmlist import parse_nm_listing
from lldbisect.elf.table import SymbolTable
from lldbisect.errors import InputError, RulesError
from lldbisect.kernel.bre import translate
from lldbisect.kernel.model import Filter, Rule, RuleKind, name_matches
from lldbisect.kernel.rules import RuleSet, Visibility
from lldbisect.patch.edit import (
    Addition,
    EditError,
    FileEdit,
    edit_kallsyms_c,
    edit_mksysmap,
    sed_pattern,
)
from lldbisect.patch.edit import format_patch as render

__all__ = ["FamilyFinding", "Finding", "Proposal", "complete", "propose"]



@dataclass(frozen=True)
class FamilyFinding:
    kind: RuleKind
    pattern: str
    label: str | None
    count: int
    members: list[str]
    visible: int
    safe: bool
    exact_names: list[str]
    hidden_by: str | None  # "file:line" of the rule already hiding it
    shape: str = ""  # how the names are built: "__CortexA53843419_<hex>"
    machine: str = ""  # its own ELF machine, where the finding covers several (a probe)
    origin: str = ""  # "probe": added by --complete, not seen in this build


@dataclass(frozen=True)
class Finding:
    """What ``check`` found, as much as a patch needs."""

    verdict: Verdict
    reason: str
    families: list[FamilyFinding]
    culprits: list[str]
    family_wide: str | None
    failure_message: str | None
    machine: str
    linker: str | None
    confirmed: bool = True  # linker-made names found against the link's inputs
    evidence: str = ""  # what they were found by, in words
    # The deciding stage changes: (before, after, linker-made added, removed), for the
    # last pass and the final link.
    changes: list[tuple[str, str, list[str], list[str]]] = field(default_factory=list)
    corpus: list[str] = field(default_factory=list)  # real kernels patterns were checked on
    from_links: bool = False  # from probe or validate links, not from a kernel build

    @classmethod
    def from_check(cls, r: CheckResult, linker: str | None) -> Finding:
        c = r.comparison
        fams = [FamilyFinding(f.family.kind, f.family.pattern, f.family.label,
                              f.family.count, list(f.family.members), len(f.visible),
                              f.safe_pattern is not None, f.exact_names,
                              None if f.hidden_by is None else
                              f"{f.hidden_by.file}:{f.hidden_by.line}", f.family.shape)
                for f in c.families]
        machines = [s.table.machine for s in c.stages if s.table.machine != "nm listing"]
        changes = _deciding([(d.before, d.after, d.made_added, d.made_removed)
                             for d in c.diffs])
        return cls(c.verdict, c.reason, fams, c.culprits, c.family_wide,
                   r.failure_message, machines[-1] if machines else "", linker,
                   c.evidence.confirmed, c.evidence.describe(), changes, list(c.corpus))

    @classmethod
    def from_json(cls, doc: object, path: str) -> Finding:
        """A finding from a ``check``, ``diff``, ``probe`` or ``validate`` JSON report."""
        if not isinstance(doc, dict):
            raise InputError(path, f"not a report propose reads: the JSON is a"
                                   f" {type(doc).__name__}, not an object")
        if doc.get("schema") not in REPORT_SCHEMAS:
            raise InputError(path, f"not a report propose reads (schema"
                                   f" {doc.get('schema')!r}, expected one of"
                                   f" {', '.join(REPORT_SCHEMAS)})")
        if doc["schema"] in LINK_SCHEMAS:
            try:
                return cls._from_links(doc, path)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise InputError(path, f"malformed {doc['schema']} report:"
                                       f" {type(e).__name__} {e}") from None
        try:
            fams = [FamilyFinding(
                RuleKind(f["kind"]), f["pattern"], f.get("label"), f["count"],
                f.get("members") or f.get("examples", []), f["visible"],
                f.get("safe_pattern") is not None,
                f.get("exact_names", []),
                None if not f.get("hidden_by") else
                f"{f['hidden_by']['file']}:{f['hidden_by']['line']}", f.get("shape", ""))
                for f in doc["families"]]
            # Reports from before "evidence" say it by their "inputs": none, shapes.
            ev = doc.get("evidence") or {"confirmed": bool(doc.get("inputs")),
                                         "source": "inputs" if doc.get("inputs")
                                         else "shapes"}
            stage_machines = [s.get("machine") for s in doc.get("stages", [])
                              if s.get("machine") not in (None, "nm listing")]
            machine = doc.get("machine")
            if machine in (None, "nm listing"):
                machine = stage_machines[-1] if stage_machines else ""
            changes = _deciding([(d["before"], d["after"], d["linker_made_added"],
                                  d["linker_made_removed"]) for d in doc.get("diffs", [])])
            return cls(Verdict(doc["verdict"]), doc["reason"], fams, doc["culprits"],
                       doc.get("family_wide_regex"), doc.get("failure_message"),
                       machine, doc.get("linker"), bool(ev["confirmed"]),
                       f"the report's {ev['source']}", changes,
                       [str(c) for c in doc.get("corpus", [])])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise InputError(path, f"malformed check report: {type(e).__name__} {e}") from None


    @classmethod
    def _from_links(cls, doc: dict[str, Any], path: str) -> Finding:
        """What a linker makes, from the links of ``probe`` (or of ``validate``'s new
        linker): every family of every case it linked, with the case's architecture.
        Nothing diverged here: the verdict is at-risk, and the families' visibility is
        the target tree's to decide."""
        if doc["schema"] == "lldbisect.validate/1":
            linker, cases = doc["new"]["version"], [c["new"] for c in doc["cases"]
                                                     if c.get("new")]
        else:
            linker, cases = doc["version"], doc["cases"]
        merged: dict[tuple[str, str, str], FamilyFinding] = {}
        linked = []
        for case in cases:
            if case["status"] != "ok":
                continue
            linked.append(case["case"])
            machine = _case_machine(case["case"], case["arch"])
            for f in case["families"]:
                key = (f["kind"], f["pattern"], machine)
                members = list(f["members"])
                old = merged.get(key)
                if old is not None:
                    members = list(dict.fromkeys([*old.members, *members]))
                merged[key] = FamilyFinding(
                    RuleKind(f["kind"]), f["pattern"], f.get("label"), len(members), members,
                    len(members), True, [], None, f.get("shape", ""), machine)
        if not linked:
            raise InputError(path, "no case of the report was linked: nothing it says"
                                   " the linker makes")
        machines = sorted({f.machine for f in merged.values()})
        return cls(Verdict.AT_RISK, f"{linker} makes these names in far-call links",
                   list(merged.values()), [], None, None,
                   machines[0] if len(machines) == 1 else "", linker, True,
                   f"lldbisect {doc['schema'].split('.')[1].split('/')[0]}: {', '.join(linked)}",
                   [], [], from_links=True)


def complete(finding: Finding, probed: Finding, image: SymbolTable,
             made: frozenset[str]) -> tuple[Finding, list[str]]:
    """``finding`` (a build's) with every family ``probed`` (the same linker's probe
    links for the build's architecture) shows and the build did not: the next layout
    may need them. A probe family whose pattern would hide a symbol of the build's own
    image that the linker did not make is left out, and said (the second value)."""
    have = {(f.kind, f.pattern) for f in finding.families}
    added, left_out = [], []
    names = set(image.names)
    ordinary = names - made
    for f in probed.families:
        if (f.kind, f.pattern) in have or (finding.machine and f.machine
                                           and f.machine != finding.machine):
            continue
        if any(name_matches(f.kind, f.pattern, n) for n in ordinary):
            hit = next(n for n in ordinary if name_matches(f.kind, f.pattern, n))
            left_out.append(f"{f.kind.value} {f.pattern} (it would hide {hit} of this image)")
            continue
        added.append(replace(f, origin="probe"))
        have.add((f.kind, f.pattern))
    return replace(finding, families=[*finding.families, *added]), left_out


def _case_machine(case: str, arch: str) -> str:
    """The ELF machine of a probe case: ppc32 cases share ARCH=powerpc with ppc64."""
    if case.startswith("ppc32"):
        return "EM_PPC"
    row = by_kernel_arch(arch)
    return row.elf_machine if row else ""


REPORT_SCHEMAS = ("lldbisect.check/1", "lldbisect.diff/1", "lldbisect.probe/1",
                  "lldbisect.validate/1")
LINK_SCHEMAS = ("lldbisect.probe/1", "lldbisect.validate/1")


def _deciding(diffs: list[tuple[str, str, list[str], list[str]]]
              ) -> list[tuple[str, str, list[str], list[str]]]:
    """The diffs that decide the verdict, as ``compare`` takes them: the last one into a
    pass and the one after it (into the final image), or the only one."""
    into_pass = [k for k, d in enumerate(diffs) if d[1].startswith("pass ")]
    start = into_pass[-1] if into_pass else max(0, len(diffs) - 1)
    return [(b, a, sorted(set(add)), sorted(set(rem))) for b, a, add, rem in diffs[start:]]


def _distinct(families: list[FamilyFinding]) -> list[FamilyFinding]:
    """Without a family whose every member another family's pattern covers (a bare
    ``__long_branch_`` beside the ``__long_branch_`` prefix): one entry, one paragraph."""
    def covered(f: FamilyFinding) -> bool:
        return bool(f.members) and any(
            g is not f and g.kind is not RuleKind.EXACT and g.safe
            and all(name_matches(g.kind, g.pattern, n) for n in f.members)
            for g in families)
    return [f for f in families if not covered(f)]


def _against_corpus(f: FamilyFinding, corpus: Corpus | None) -> FamilyFinding:
    """Unsafe if the pattern hides a name of a real kernel (``corpus``) that is none of
    the family's: such a rule would hide an ordinary kernel function elsewhere."""
    if corpus is None or not f.safe or f.kind is RuleKind.EXACT:
        return f
    members = set(f.members)
    if any(name_matches(f.kind, f.pattern, n) for n in corpus.names - members):
        return replace(f, safe=False)
    return f


def _members_table(names: list[str]) -> SymbolTable:
    listing = "".join(f"{k:08x} t {n}\n" for k, n in enumerate(names))
    return parse_nm_listing(listing, "<family>")


def _against_tree(f: FamilyFinding, see: Callable[[SymbolTable], Visibility]
                  ) -> FamilyFinding:
    """The family as the target tree sees it: its own rules (``see``) decide which
    members kallsyms sees and what hides them, whatever tree the report was made with."""
    if not f.members:
        return f
    vis = see(_members_table(f.members))
    visible = sum(vis.kallsyms_mask())
    # Members are distinct names; scale to the family's count (duplicates included).
    seen = 0 if not visible else (f.count if visible == len(f.members) else visible)
    hider = vis.family_hider(range(len(f.members)))
    by = None if hider is None else f"{hider.file}:{hider.line}"
    if by is None and not visible:  # hidden, by a file only the real scripts read
        by = "the tree's own scripts"
    return replace(f, visible=seen, hidden_by=by)


@dataclass(frozen=True)
class Proposal:
    """A patch, or why there is none (``patch`` None, ``reason`` says)."""

    patch: str | None
    reason: str
    additions: list[Addition] = field(default_factory=list)
    edits: list[FileEdit] = field(default_factory=list)
    redundant: list[Rule] = field(default_factory=list)


def _linker_word(f: FamilyFinding, linker: str | None) -> str:
    if f.label and f.label.startswith("lld"):
        return "lld"
    if f.label and f.label.startswith("GNU ld"):
        return ""
    return "lld" if linker and "LLD" in linker.upper() else "linker"


def _group(f: FamilyFinding, finding: Finding) -> str:
    machine = f.machine or finding.machine
    row = by_machine(machine)
    arch = row.group if row else machine.lower().removeprefix("em_") or "linker"
    word = _linker_word(f, finding.linker)
    return f"{arch} {word}".strip()


def _additions(finding: Finding, kinds: set[RuleKind] | None) -> list[Addition]:
    """One rule per visible family; exact names where the pattern is unsafe or the
    tree has no array of its kind (``kinds``: the kinds it has; None: any)."""
    out = []
    for f in finding.families:
        if not f.visible:
            continue
        group = _group(f, finding)
        if f.safe and (kinds is None or f.kind in kinds):
            out.append(Addition(f.kind, f.pattern, group))
        elif f.origin == "probe":
            continue  # a probe link's names are no names of this kernel: no exact rules
        else:
            out += [Addition(RuleKind.EXACT, n, group)
                    for n in (f.exact_names or f.members)]
    return out


def _read(tree: Path, rel: str) -> str:
    try:
        return (tree / rel).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as e:
        raise InputError(tree / rel, f"cannot read: {e.strerror}") from None


def _target(rules: RuleSet) -> str:
    """The file that should carry the rules: kallsyms.c while it has the arrays
    (up to 6.3), mksysmap from when it holds every name rule (6.4+)."""
    has_arrays = any(r.stage is Filter.KALLSYMS and r.source.startswith('"')
                     for r in rules.rules)
    if has_arrays:
        return "scripts/kallsyms.c"
    if not rules.kallsyms_reads_sysmap:
        raise InputError(rules.tree, "this tree's kallsyms.c has no name arrays and kallsyms"
                                     " does not read mksysmap's output: no place for a rule")
    return "scripts/mksysmap"


def propose(finding: Finding, rules: RuleSet, *, author: str, date: str,
            signoff: bool = False, generalize: bool = False,
            link: str | None = None, unconfirmed: bool = False,
            corpus: Corpus | None = None) -> Proposal:
    """The patch that makes the tree hide what kallsyms sees, or why there is none.
    ``unconfirmed``: write it even when the linker-made names are known by their shape
    only (the patch message then says so). The families are judged by ``rules``, the
    target tree's own, whatever tree the finding was made with."""
    see = judge(rules)
    finding = replace(finding, families=_distinct(
        [_against_corpus(_against_tree(f, see), corpus) for f in finding.families]))
    if corpus is not None:
        finding = replace(finding, corpus=sorted(set(finding.corpus) | set(corpus.labels)))
    if not finding.confirmed and not unconfirmed and any(f.visible for f in finding.families):
        return Proposal(None, "no patch: the linker-made names are known by the shape of"
                              " their names only, unconfirmed (no vmlinux.o and no vmlinux.a"
                              " to compare with); give the build with them, or pass"
                              " --unconfirmed")
    if finding.from_links and corpus is None:
        # No image to judge a pattern against: real kernels must say it hides nothing.
        return Proposal(None, "no patch: the names come from probe links, with no kernel"
                              " image to check a pattern against; fetch real kernels with"
                              " `lldbisect corpus`, or give --corpus")
    if finding.verdict is Verdict.DIVERGED_OTHER:
        return Proposal(None, f"no patch: {finding.reason}; an ignore rule would not help")
    array_kinds = {r.kind for r in rules.rules if r.stage is Filter.KALLSYMS
                   and r.source.startswith('"')}
    additions = _additions(finding, array_kinds or None)
    if not additions:
        hidden = [f"{f.pattern!r} (hidden by {f.hidden_by})" for f in finding.families
                  if f.hidden_by]
        why = ("every linker-made family is already hidden: " + ", ".join(hidden)
               if hidden else "no linker-made symbol is visible to kallsyms")
        return Proposal(None, f"no patch: {why}")
    tree = Path(rules.tree)
    redundant: list[Rule] = []
    if generalize and finding.family_wide and rules.kallsyms_reads_sysmap:
        wide = Addition(RuleKind.REGEX, finding.family_wide, "lld thunks")
        covered = re.compile("^" + translate(finding.family_wide))
        keep = [a for a in additions if not (a.kind is RuleKind.PREFIX
                                             and covered.match(a.pattern))]
        redundant = [r for r in rules.rules if r.kind is RuleKind.PREFIX
                     and covered.match(r.pattern)]
        edits = [_edit(tree, "scripts/mksysmap", [wide], rules.unread)]
        if keep:
            edits.append(_edit(tree, _target(rules), keep, rules.unread))
        additions = [wide, *keep]
    else:
        target = _target(rules)
        edits = [_edit(tree, target, additions, rules.unread)]
    for edit in edits:
        _prove_unread(rules, edit, finding)
    subject, body = _message(finding, additions, redundant)
    trailers = [f"Link: {link}"] if link else []
    if signoff:
        trailers.append(f"Signed-off-by: {author}")
    patch = render(edits, subject, body, author, date, trailers)
    return Proposal(patch, "", additions, edits, redundant)


def _edit(tree: Path, rel: str, additions: list[Addition], unread: tuple[str, ...] = ()
          ) -> FileEdit:
    old = _read(tree, rel)
    try:
        new = (edit_kallsyms_c if rel.endswith(".c") else edit_mksysmap)(old, additions)
    except EditError as e:
        cannot = [u for u in unread if u.startswith(rel)]
        if cannot:  # say where the rule goes, since we cannot write it there
            lines = ", ".join(f"/{sed_pattern(a)}/d" if rel == "scripts/mksysmap"
                              else repr(a.pattern) for a in additions)
            raise InputError(tree / rel, f"cannot place the rule ({e}): lldbisect could not"
                                         f" read {'; '.join(cannot)}; add by hand, where"
                                         f" the tree keeps its name patterns: {lines}"
                             ) from None
        raise InputError(tree / rel, str(e)) from None
    return FileEdit(rel, old, new)


def _prove_unread(rules: RuleSet, edit: FileEdit, finding: Finding) -> None:
    """An edit to a file the model could not read is proved by the tree's own scripts,
    run on a scratch copy holding the edit: every visible family must be hidden then.
    Raises InputError, saying where the rule would go, when it is not."""
    unread = [u for u in rules.unread if u.startswith(edit.path)]
    if not unread:
        return
    tree = Path(rules.tree)
    names = [n for f in finding.families if f.visible for n in f.members]
    # An ordinary function that must stay visible: a script that fails and writes an
    # empty System.map would otherwise "hide" every family.
    sentinel = "lldbisect_ordinary_function"
    with tempfile.TemporaryDirectory(prefix="lldbisect-prove-") as tmp:
        copy = Path(tmp)
        (copy / "scripts").mkdir()
        shutil.copy2(tree / "Makefile", copy / "Makefile")
        for f in (tree / "scripts").iterdir():  # what the scripts may read beside them
            if f.is_file():
                shutil.copy2(f, copy / "scripts" / f.name)
        (copy / edit.path).write_text(edit.new, encoding="utf-8", errors="surrogateescape")
        try:
            vis = judge(replace(rules, tree=str(copy)))(_members_table([*names, sentinel]))
        except RulesError as e:
            raise InputError(tree / edit.path, f"cannot prove the rule: with lldbisect's"
                                               f" edit the tree's own scripts do not run"
                                               f" ({e.detail.rsplit('could not run (', 1)[-1]}"
                                               f"; add the patterns by hand") from None
        mask = vis.kallsyms_mask()
        left = [n for n, k in zip(names, mask) if k]
    if not mask[-1]:
        raise InputError(tree / edit.path, f"cannot prove the rule: with lldbisect's edit,"
                                           f" {edit.path} hides even an ordinary function"
                                           f" when the tree's own scripts run (does it"
                                           f" still run?); add the patterns by hand")
    if left:
        raise InputError(tree / edit.path, f"cannot place the rule: lldbisect could not"
                                           f" read {'; '.join(unread)}, and its edit of"
                                           f" {edit.path} still lets {', '.join(left[:3])}"
                                           f" through when the tree's own scripts run;"
                                           f" add the patterns by hand")


def _describe(a: Addition) -> str:
    return {RuleKind.PREFIX: f"{a.pattern}*", RuleKind.SUFFIX: f"*{a.pattern}",
            RuleKind.SUBSTRING: f"*{a.pattern}*", RuleKind.EXACT: a.pattern,
            RuleKind.REGEX: a.pattern}[a.kind]


def _varying(shape: str) -> str:
    """What of the names the rule leaves out, because the next layout changes it."""
    parts = [what for token, what in (("<hex>", "an address"), ("<n>", "a counter"),
                                      ("[+addend]", "an addend")) if token in shape]
    if not parts:
        return ""
    return (f" Their names ({shape}) carry {' and '.join(parts)}, which the next layout"
            " changes: the pattern leaves that part out.")


def _stage_words(label: str) -> str:
    """``pass 2`` -> ``kallsyms pass 2``; ``vmlinux``/``System.map`` as they are."""
    return f"kallsyms {label}" if label.startswith("pass ") else Path(label).name


def _message(finding: Finding, additions: list[Addition],
             redundant: list[Rule]) -> tuple[str, str]:
    linker = finding.linker or "the linker"
    short = "ld.lld" if "LLD" in linker.upper() else "the linker"
    names = [_describe(a) for a in additions]
    subject = f"kallsyms: ignore {names[0]} symbols made by {short}"
    if len(subject) > 70 or len(names) > 1:
        subject = f"kallsyms: ignore more symbols made by {short}"
    paras = []
    if finding.verdict is Verdict.DIVERGED and finding.failure_message:
        paras.append(f"Linking vmlinux with {linker} fails:")
        paras.append("\n".join("  " + ln for ln in finding.failure_message.splitlines()))
    elif finding.verdict is Verdict.DIVERGED:
        # No log was given: say what the stages show, not what the kernel would print.
        paras.append(f"Linking vmlinux with {linker} does not converge: the symbols"
                     " kallsyms sees differ between the last link stages, so the final"
                     " System.map cannot match the last pass's list.")
    elif finding.from_links:
        paras.append(f"{linker} makes symbols of its own when it links far calls with"
                     f" the kernel's link flags ({finding.evidence}), and kallsyms sees"
                     " them: how many a vmlinux gets depends on its layout, which each"
                     " kallsyms pass changes, so the passes of a kernel that needs them"
                     " need not agree.")
    elif not any(f.visible and f.origin != "probe" for f in finding.families):
        paras.append(f"Linking vmlinux with {linker} converges, and in this layout kallsyms"
                     " sees no symbol the linker made; another layout can need them.")
    else:
        paras.append(f"Linking vmlinux with {linker} converges only by luck of the layout:"
                     " kallsyms sees symbols the linker makes, and another configuration"
                     " can change their number between the kallsyms passes.")
    visible = [f for f in finding.families if f.visible and f.origin != "probe"]
    completed = [f for f in finding.families if f.visible and f.origin == "probe"]
    for f in visible if not finding.from_links else []:
        shape = _describe(Addition(f.kind, f.pattern, ""))
        kind = f" They are {f.label}." if f.label else ""
        kind += _varying(f.shape)
        paras.append(f"{short.capitalize() if short == 'the linker' else short} adds"
                     f" {f.count} symbols named {shape}, e.g. {', '.join(f.members[:2])}."
                     f"{kind} How many it adds depends on the layout, which the kallsyms"
                     " table changes, so the passes need not agree.")
    if finding.culprits and not finding.changes and finding.verdict is Verdict.DIVERGED:
        shown = ", ".join(finding.culprits[:4]) + (", ..." if len(finding.culprits) > 4
                                                   else "")
        paras.append(f"{len(finding.culprits)} of them differ between the last link"
                     f" stages: {shown}.")
    for before, after, added, removed in finding.changes:
        for names, did in ((added, "appear"), (removed, "vanish")):
            if names and finding.verdict is Verdict.DIVERGED:
                shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
                paras.append(f"From {_stage_words(before)} to {_stage_words(after)},"
                             f" {len(names)} of them {did}: {shown}.")
    if completed:
        paras.append(f"This build's layout did not need all that {short} makes: linking"
                     " far calls with the kernel's flags for this architecture (lldbisect"
                     " probe), it also makes " + "; ".join(
                         f"{_describe(Addition(f.kind, f.pattern, ''))}"
                         f" ({f.label or 'e.g. ' + f.members[0]})" for f in completed)
                     + ". Ignore those too, so that the next layout does not break the"
                     " build again.")
    if finding.from_links:
        paras.append("They are " + "; ".join(
            f"{_describe(Addition(f.kind, f.pattern, ''))} ({f.label or _group(f, finding)}"
            f", e.g. {f.members[0]})" for f in visible) + "."
            + "".join(_varying(f.shape) for f in visible))
        paras.append("Ignore them like the other linker-generated symbols. The new"
                     " patterns hide no symbol of " + ", ".join(finding.corpus) + ".")
    else:
        nor = (", nor any symbol of " + ", ".join(finding.corpus)) if finding.corpus else ""
        paras.append("Ignore them like the other linker-generated symbols. The new"
                     + (" patterns hide" if len(additions) > 1 else " pattern hides")
                     + f" no other symbol of the image{nor}.")
    if not finding.confirmed:
        paras.append("These symbols were told apart from the kernel's own by the shape of"
                     " their names only, without the link's inputs.")
    if redundant:
        paras.append("The regular expression also covers, and makes redundant: "
                     + ", ".join(sorted({r.pattern for r in redundant})) + ".")
    body = "\n\n".join(p if p.startswith("  ") else textwrap.fill(
        p, 72, break_long_words=False, break_on_hyphens=False) for p in paras)
    return subject, body
