"""Renderings of a tree's kallsyms rules, and of what they do to a symbol table."""

from __future__ import annotations

from typing import Any

from lldbisect.analysis.crosscheck import CrossCheck
from lldbisect.elf.table import SymbolTable
from lldbisect.kernel.model import Rule
from lldbisect.kernel.rules import RuleSet, Visibility

__all__ = ["RULES_SCHEMA", "rule_json", "rules_json", "rules_text"]

RULES_SCHEMA = "lldbisect.rules/1"


def rule_json(rule: Rule) -> dict[str, object]:
    return {
        "stage": rule.stage.value, "kind": rule.kind.value, "pattern": rule.pattern,
        "file": rule.file, "line": rule.line, "comment": rule.comment,
        "source": rule.source, "regex": rule.regex, "keep": sorted(rule.keep),
        "warning": rule.warning,
    }


def rules_json(ruleset: RuleSet, table: SymbolTable | None,
               visibility: Visibility | None,
               check: CrossCheck | None = None, note: str = "") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": RULES_SCHEMA, "tree": ruleset.tree, "version": ruleset.version,
        "era": ruleset.era, "kallsyms_reads_sysmap": ruleset.kallsyms_reads_sysmap,
        "rules": [rule_json(r) for r in ruleset.rules], "warnings": ruleset.warnings,
        "unread": list(ruleset.unread),
    }
    if table is not None and visibility is not None:
        doc["symbols"] = [
            {"name": table.name(i), "type": table.letters[i],
             "in_kallsyms": visibility.in_kallsyms(i),
             "in_system_map": visibility.in_system_map(i),
             "hidden_by": (None if (r := visibility.hidden_by(i)) is None
                           else f"{r.file}:{r.line}")}
            for i in range(len(table))]
        doc["cross_check"] = {
            "ran": check is not None, "agrees": None if check is None else check.agrees,
            "how": None if check is None else check.how,
            "note": note or ("" if check is None or not check.table_note
                             else f"kallsyms table not checked: {check.table_note}"),
            "answer": "model" if check is None else check.answer,
            "disagreement": None if check is None or check.agrees else check.describe(),
            "unread": list(ruleset.unread)}
    return doc


def rules_text(ruleset: RuleSet, table: SymbolTable | None,
               visibility: Visibility | None,
               check: CrossCheck | None = None, note: str = "") -> str:
    out = [f"kernel {ruleset.version} at {ruleset.tree}", f"era: {ruleset.era}",
           "kallsyms reads: " + ("mksysmap's output" if ruleset.kallsyms_reads_sysmap
                                 else "nm's output (mksysmap only makes System.map)"), ""]
    for r in ruleset.rules:
        keep = f" except {', '.join(sorted(r.keep))}" if r.keep else ""
        comment = f"  # {r.comment}" if r.comment else ""
        out.append(f"{r.file}:{r.line}: {r.stage.value:8} {r.kind.value:9} "
                   f"{r.pattern!r}{keep}{comment}")
    for w in ruleset.warnings:
        out.append(f"warning: {w}")
    for u in ruleset.unread:
        out.append(f"not read by the model: {u} (its rules are missing above;"
                   " --apply FILE answers by running the tree's own scripts)")
    if table is not None and visibility is not None:
        out.append("")
        for i in range(len(table)):
            name = table.name(i)
            if visibility.in_kallsyms(i):
                out.append(f"visible {table.letters[i]} {name}")
                continue
            rule = visibility.hidden_by(i)
            by = rule.describe() if rule is not None else "the tree's own scripts"
            out.append(f"hidden  {table.letters[i]} {name}  by {by}")
        if check is not None:
            out.append(f"cross-check: {check.describe()}")
            if check.table_note:
                out.append(f"cross-check: kallsyms table not checked: {check.table_note}")
        elif note:
            out.append(f"cross-check: {note}")
    return "\n".join(out) + "\n"
