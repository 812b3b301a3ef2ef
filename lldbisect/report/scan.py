"""Renderings of the symbol-name patterns a commit adds, removes or renames."""

from __future__ import annotations

from typing import Any

from lldbisect.analysis.commitscan import ScanItem

__all__ = ["SCAN_SCHEMA", "item_json", "scan_text"]

SCAN_SCHEMA = "lldbisect.scan/1"


def item_json(item: ScanItem) -> dict[str, Any]:
    return {"change": item.change.value, "kind": item.pattern.kind.value,
            "pattern": item.pattern.text, "file": item.file, "line": item.line,
            "scope": item.scope, "spelling": item.spelling,
            "was": None if item.was is None else {"kind": item.was.kind.value,
                                                  "pattern": item.was.text,
                                                  "line": item.was_line},
            "hidden_by": item.hidden_by, "observed": item.observed,
            "commit": item.commit or None}


def scan_text(items: list[ScanItem], kernels: list[str], observed: bool) -> str:
    if not items:
        return "no symbol-name patterns added, removed or renamed\n"
    lines = []
    for it in items:
        what = f"{it.change.value:<8} {it.pattern}"
        if it.was is not None:
            what += f"   (was {it.was}, line {it.was_line})"
        lines.append(what)
        lines.append(f"         at {it.file}:{it.line}" + (f" in {it.scope}" if it.scope else "")
                     + (f" (commit {it.commit[:12]})" if it.commit else ""))
        for k in kernels:
            rule = it.hidden_by.get(k)
            lines.append(f"         {k}: " + (f"hidden by {rule}" if rule else
                                             "kallsyms would see it"))
        if observed:
            lines.append("         " + (f"confirmed: {', '.join(it.observed[:4])}"
                                      if it.observed else "only in the source"))
    return "\n".join(lines) + "\n"
