"""Text and JSON renderings of what ``check`` and ``diff`` found (pure)."""

from __future__ import annotations

from typing import Any

from lldbisect.analysis.check import CheckResult
from lldbisect.analysis.convergence import Comparison, FamilyReport, StageDiff
from lldbisect.analysis.crosscheck import CrossCheck
from lldbisect.kernel.model import Rule

CHECK_SCHEMA = "lldbisect.check/1"
DIFF_SCHEMA = "lldbisect.diff/1"


def _rule(rule: Rule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {"stage": rule.stage.value, "kind": rule.kind.value, "pattern": rule.pattern,
            "file": rule.file, "line": rule.line}


def _family(r: FamilyReport) -> dict[str, Any]:
    f = r.family
    return {
        "kind": f.kind.value, "pattern": f.pattern, "shape": f.shape, "label": f.label,
        "count": f.count, "distinct": len(f.members), "examples": list(f.members[:5]),
        "members": list(f.members),
        "visible": len(r.visible), "visible_examples": r.visible[:5],
        "hidden_by": _rule(r.hidden_by),
        "safe_pattern": None if r.safe_pattern is None else {
            "kind": r.safe_pattern[0].value, "pattern": r.safe_pattern[1]},
        "collateral": r.collateral[:20], "exact_names": r.exact_names[:50],
    }


def _diff(d: StageDiff) -> dict[str, Any]:
    return {"before": d.before, "after": d.after, "added": d.added, "removed": d.removed,
            "moved": d.moved, "moved_examples": d.moved_examples,
            "visible_added": d.visible_added, "visible_removed": d.visible_removed,
            "system_map_names_changed": d.map_changed,
            "linker_made_added": d.made_added, "linker_made_removed": d.made_removed}


def comparison_json(c: Comparison) -> dict[str, Any]:
    e = c.evidence
    return {
        "verdict": c.verdict.value, "reason": c.reason, "culprits": c.culprits,
        "evidence": {"source": e.source.value, "confirmed": e.confirmed,
                     "files": list(e.files), "notes": list(e.notes)},
        "corpus": list(c.corpus),
        "stages": [{"label": s.label, "path": s.path, "machine": s.table.machine,
                    "symbols": len(s.table),
                    "linker_made": len(s.made),
                    "linker_made_visible": sum(
                        1 for i, n in enumerate(s.table.names) if n in s.made
                        and s.visibility.in_kallsyms(i))}
                   for s in c.stages],
        "diffs": [_diff(d) for d in c.diffs],
        "families": [_family(r) for r in c.families],
        "family_wide_regex": c.family_wide,
    }


def check_json(r: CheckResult, linker: str | None = None) -> dict[str, Any]:
    s = r.stages
    return {
        "schema": CHECK_SCHEMA, "build_dir": str(s.build_dir), "release": s.release,
        "machine": _machine(r), "linker": linker,
        "kernel": {"tree": r.rules.tree, "version": r.rules.version, "era": r.rules.era},
        "layout": s.layout,
        "passes": [{"number": p.number, "image": str(p.image) if p.image else None,
                    "syms": str(p.syms) if p.syms else None,
                    "kallsyms_object": str(p.kallsyms_object) if p.kallsyms_object else None,
                    "kallsyms_size": p.kallsyms_size} for p in s.passes],
        "third_pass": s.third_pass,
        "system_map_matches": r.system_map_matches,
        "failure_message": r.failure_message,
        "inputs": r.inputs_used,
        "cross_check": cross_check_json(r.cross_checks, r.cross_check_note),
        **comparison_json(r.comparison),
    }


def cross_check_json(checks: list[CrossCheck], note: str) -> dict[str, Any]:
    return {
        "ran": bool(checks), "agrees": all(c.agrees for c in checks) if checks else None,
        "how": checks[0].how if checks else None, "note": note,
        # Whose answer the verdict rests on: the model's, or the real tools' where the
        # model disagreed or could not read a file.
        "answer": ("real tools" if any(c.answer == "real tools" for c in checks)
                   else "model") if checks else "model (unchecked)",
        "unread": sorted({u for c in checks for u in c.unread}),
        "stages": [{"label": c.label, "agrees": c.agrees, "answer": c.answer,
                    "map_model_only": c.map_model_only, "map_real_only": c.map_real_only,
                    "table_model_only": c.table_model_only,
                    "table_real_only": c.table_real_only, "table_note": c.table_note}
                   for c in checks],
    }


def cross_check_lines(checks: list[CrossCheck], note: str) -> list[str]:
    """What checking the model against the tree's own scripts showed, in a few lines."""
    if not checks:
        return [f"  checked against the tree's own scripts: {note}"]
    unread = [c for c in checks if c.unread]
    if unread:
        out = ["  checked against the tree's own scripts: the answer is theirs on all"
               f" {len(checks)} stage(s), since the model could not read"
               f" {'; '.join(unread[0].unread)} ({checks[0].how})"]
    elif all(c.agrees for c in checks):
        out = [f"  checked against the tree's own scripts: the model agrees on all"
               f" {len(checks)} stage(s) ({checks[0].how})"]
    else:
        out = ["  checked against the tree's own scripts:"]
        out += [f"    {c.describe()}" for c in checks if not c.agrees]
    notes = sorted({c.table_note for c in checks if c.table_note})
    out += [f"    kallsyms table not checked: {n}" for n in notes]
    return out


def _machine(r: CheckResult) -> str | None:
    """The ELF machine of the build: its last ELF stage's (System.map says none)."""
    elves = [s.table.machine for s in r.comparison.stages if s.table.machine != "nm listing"]
    return elves[-1] if elves else None


def _family_lines(c: Comparison) -> list[str]:
    out = []
    unsure = "" if c.evidence.confirmed else " [unconfirmed]"
    for r in c.families:
        f = r.family
        label = (f" ({f.label})" if f.label else "") + unsure
        state = (f"hidden by {r.hidden_by.file}:{r.hidden_by.line}" if r.hidden_by
                 else f"{len(r.visible)} visible to kallsyms")
        out.append(f"  {f.kind.value:9} {f.pattern!r}{label}: {f.count} symbols, {state}")
        out.append(f"            e.g. {', '.join(f.members[:3])}")
        if r.safe_pattern is None and r.collateral:
            out.append(f"            pattern unsafe: would also hide {', '.join(r.collateral[:3])}"
                       " - use the exact names")
    return out


def comparison_text(c: Comparison) -> list[str]:
    out = []
    if c.corpus:
        out.append("patterns checked to hide nothing else in the image, nor in "
                   + ", ".join(c.corpus))
    out.append("stages:")
    for s in c.stages:
        out.append(f"  {s.label:12} {len(s.table):7} symbols, {len(s.made)} linker-made"
                   f"  ({s.path})")
    for d in c.diffs:
        out.append(f"{d.before} -> {d.after}: +{len(d.added)} -{len(d.removed)} by name,"
                   f" {d.moved} moved; visible to kallsyms: +{len(d.visible_added)}"
                   f" -{len(d.visible_removed)}")
        for n in d.made_added[:10]:
            out.append(f"    + {n}  (linker-made)")
        for n in d.made_removed[:10]:
            out.append(f"    - {n}  (linker-made)")
    if not c.evidence.confirmed:
        out.append("linker-made symbols: " + c.evidence.describe())
    if c.families:
        out.append("linker-made families:")
        out += _family_lines(c)
    if c.family_wide:
        out.append(f"family-wide rule the era allows: / {c.family_wide}/d")
    out.append(f"verdict: {c.verdict.value}: {c.reason}")
    for n in c.culprits:
        out.append(f"  culprit: {n}")
    return out


def check_text(r: CheckResult) -> str:
    s = r.stages
    out = [f"build {s.build_dir} ({s.layout} layout, kernel {r.rules.version},"
           f" {r.rules.era})"]
    for p in s.passes:
        size = p.kallsyms_size
        out.append(f"  pass {p.number}: {p.image or p.syms}"
                   + (f", kallsyms object {size} bytes" if size is not None else ""))
    out.append(f"  third pass: {'yes' if s.third_pass else 'no'}; System.map equals the last"
               f" pass's list: {_yes_no(r.system_map_matches)}")
    if r.failure_message:
        out.append("  kernel said: " + r.failure_message.replace("\n", " / "))
    e = r.comparison.evidence
    out.append("  linker-made symbols found by " + e.describe())
    out += [f"    note: {n}" for n in e.notes]
    out += cross_check_lines(r.cross_checks, r.cross_check_note)
    out += [ln for ln in comparison_text(r.comparison)
            if not ln.startswith("linker-made symbols: ")]
    return "\n".join(out) + "\n"


def _yes_no(v: bool | None) -> str:
    return "unknown" if v is None else ("yes" if v else "no")
