"""Decide what patch a finding calls for, in the right file and form for the tree's era.

Input is a ``Finding`` — built from a ``check`` result or from its JSON report, so a CI
job can propose from a report made elsewhere — and the tree's ``RuleSet``; output is a
``Proposal``: the edits and the mail, or the reason there is no patch.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from lldbisect.analysis.check import CheckResult
from lldbisect.analysis.convergence import Verdict
from lldbisect.arch import by_machine
from lldbisect.errors import InputError
from lldbisect.kernel.bre import translate
from lldbisect.kernel.model import Filter, Rule, RuleKind
from lldbisect.kernel.rules import RuleSet
from lldbisect.patch.edit import Addition, EditError, FileEdit, edit_kallsyms_c, edit_mksysmap
from lldbisect.patch.edit import format_patch as render

__all__ = ["FamilyFinding", "Finding", "Proposal", "propose"]



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

    @classmethod
    def from_check(cls, r: CheckResult, linker: str | None) -> Finding:
        c = r.comparison
        fams = [FamilyFinding(f.family.kind, f.family.pattern, f.family.label,
                              f.family.count, list(f.family.members), len(f.visible),
                              f.safe_pattern is not None, f.exact_names,
                              None if f.hidden_by is None else
                              f"{f.hidden_by.file}:{f.hidden_by.line}")
                for f in c.families]
        machines = [s.table.machine for s in c.stages if s.table.machine != "nm listing"]
        return cls(c.verdict, c.reason, fams, c.culprits, c.family_wide,
                   r.failure_message, machines[-1] if machines else "", linker,
                   c.evidence.confirmed, c.evidence.describe())

    @classmethod
    def from_json(cls, doc: object, path: str) -> Finding:
        if not isinstance(doc, dict):
            raise InputError(path, f"not a check report: the JSON is a"
                                   f" {type(doc).__name__}, not an object")
        if doc.get("schema") != "lldbisect.check/1":
            raise InputError(path, f"not a check report (schema {doc.get('schema')!r},"
                                   " expected 'lldbisect.check/1')")
        try:
            fams = [FamilyFinding(
                RuleKind(f["kind"]), f["pattern"], f.get("label"), f["count"],
                f.get("members") or f.get("examples", []), f["visible"],
                f.get("safe_pattern") is not None,
                f.get("exact_names", []),
                None if not f.get("hidden_by") else
                f"{f['hidden_by']['file']}:{f['hidden_by']['line']}")
                for f in doc["families"]]
            # Reports from before "evidence" say it by their "inputs": none, shapes.
            ev = doc.get("evidence") or {"confirmed": bool(doc.get("inputs")),
                                         "source": "inputs" if doc.get("inputs")
                                         else "shapes"}
            return cls(Verdict(doc["verdict"]), doc["reason"], fams, doc["culprits"],
                       doc.get("family_wide_regex"), doc.get("failure_message"),
                       doc.get("machine", ""), doc.get("linker"), bool(ev["confirmed"]),
                       f"the report's {ev['source']}")
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(path, f"malformed check report: {e}") from None


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
    row = by_machine(finding.machine)
    arch = row.group if row else finding.machine.lower().removeprefix("em_") or "linker"
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
            link: str | None = None, unconfirmed: bool = False) -> Proposal:
    """The patch that makes the tree hide what kallsyms sees, or why there is none.
    ``unconfirmed``: write it even when the linker-made names are known by their shape
    only (the patch message then says so)."""
    if not finding.confirmed and not unconfirmed and any(f.visible for f in finding.families):
        return Proposal(None, "no patch: the linker-made names are known by the shape of"
                              " their names only, unconfirmed (no vmlinux.o and no vmlinux.a"
                              " to compare with); give the build with them, or pass"
                              " --unconfirmed")
    if finding.verdict is Verdict.DIVERGED_OTHER:
        return Proposal(None, "no patch: the stages differ, but in no linker-made name"
                              f" ({finding.reason}); an ignore rule would not help")
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
        edits = [_edit(tree, "scripts/mksysmap", [wide])]
        if keep:
            edits.append(_edit(tree, _target(rules), keep))
        additions = [wide, *keep]
    else:
        target = _target(rules)
        edits = [_edit(tree, target, additions)]
    subject, body = _message(finding, additions, redundant)
    trailers = [f"Link: {link}"] if link else []
    if signoff:
        trailers.append(f"Signed-off-by: {author}")
    patch = render(edits, subject, body, author, date, trailers)
    return Proposal(patch, "", additions, edits, redundant)


def _edit(tree: Path, rel: str, additions: list[Addition]) -> FileEdit:
    old = _read(tree, rel)
    try:
        new = (edit_kallsyms_c if rel.endswith(".c") else edit_mksysmap)(old, additions)
    except EditError as e:
        raise InputError(tree / rel, str(e)) from None
    return FileEdit(rel, old, new)


def _describe(a: Addition) -> str:
    return {RuleKind.PREFIX: f"{a.pattern}*", RuleKind.SUFFIX: f"*{a.pattern}",
            RuleKind.SUBSTRING: f"*{a.pattern}*", RuleKind.EXACT: a.pattern,
            RuleKind.REGEX: a.pattern}[a.kind]


def _message(finding: Finding, additions: list[Addition],
             redundant: list[Rule]) -> tuple[str, str]:
    linker = finding.linker or "the linker"
    short = "ld.lld" if "LLD" in linker.upper() else "the linker"
    names = [_describe(a) for a in additions]
    subject = f"kallsyms: ignore {names[0]} symbols made by {short}"
    if len(subject) > 70 or len(names) > 1:
        subject = f"kallsyms: ignore more symbols made by {short}"
    paras = []
    if finding.verdict is Verdict.DIVERGED:
        msg = finding.failure_message or ("Inconsistent kallsyms data\n"
                                          "Try make KALLSYMS_EXTRA_PASS=1 as a workaround")
        paras.append(f"Linking vmlinux with {linker} fails:")
        paras.append("\n".join("  " + ln for ln in msg.splitlines()))
    else:
        paras.append(f"Linking vmlinux with {linker} converges only by luck of the layout:"
                     " kallsyms sees symbols the linker makes, and another configuration"
                     " can change their number between the kallsyms passes.")
    visible = [f for f in finding.families if f.visible]
    for f in visible:
        shape = _describe(Addition(f.kind, f.pattern, ""))
        kind = f" They are {f.label}." if f.label else ""
        paras.append(f"{short.capitalize() if short == 'the linker' else short} adds"
                     f" {f.count} symbols named {shape}, e.g. {', '.join(f.members[:2])}."
                     f"{kind} How many it adds depends on the layout, which the kallsyms"
                     " table changes, so the passes need not agree.")
    if finding.culprits:
        shown = ", ".join(finding.culprits[:4]) + (", ..." if len(finding.culprits) > 4
                                                   else "")
        paras.append(f"The last pass added {len(finding.culprits)} of them: {shown}.")
    paras.append("Ignore them like the other linker-generated symbols. The new pattern"
                 " hides no other symbol of the image.")
    if not finding.confirmed:
        paras.append("These symbols were told apart from the kernel's own by the shape of"
                     " their names only, without the link's inputs.")
    if redundant:
        paras.append("The regular expression also covers, and makes redundant: "
                     + ", ".join(sorted({r.pattern for r in redundant})) + ".")
    body = "\n\n".join(p if p.startswith("  ") else textwrap.fill(
        p, 72, break_long_words=False, break_on_hyphens=False) for p in paras)
    return subject, body
