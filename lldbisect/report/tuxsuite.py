"""The TuxSuite part of a validation report: the plan written, and each build's
outcome when the results were read."""

from __future__ import annotations

from typing import Any

from lldbisect.linkers.tuxsuite import PlanBuild, TuxVerdict

__all__ = ["tuxsuite_json", "tuxsuite_text"]


def tuxsuite_text(checked: str, planned: list[PlanBuild], verdict: TuxVerdict | None) -> str:
    out = [f"tuxsuite: {len(planned)} builds planned ({checked})"]
    if verdict is None:
        out.append("  not submitted: `tuxsuite plan submit --json-out FILE` it, then"
                   " --tuxsuite-results FILE")
        return "\n".join(out) + "\n"
    bad = {id(r) for r in verdict.regressions}
    for r in verdict.results:
        what = r.state + (" (Inconsistent kallsyms data)" if r.kallsyms else "")
        if r.state != "pass" and r.message and not r.kallsyms:
            what += f": {r.message[:200]}"
        flag = "REGRESSION " if id(r) in bad else ""
        out.append(f"  {flag}{r.label}: {what}" + (f"; log {r.log}" if r.log and
                                                     r.state != "pass" else ""))
    for b in verdict.missing:
        out.append(f"  no outcome: {b.arch.kernel_arch}/{b.build['kconfig']}"
                   f" {b.kernel.label} {b.linker.role} {b.linker.label}")
    if verdict.regressions:
        out.append(f"tuxsuite: {len(verdict.regressions)} builds of the new linker fail"
                   " where the baseline's do not")
    elif verdict.missing:
        out.append(f"tuxsuite: {len(verdict.missing)} of {len(planned)} builds have no"
                   " outcome: no verdict")
    else:
        out.append(f"tuxsuite: the new linker's builds fail nowhere the baseline's pass"
                   f" ({len(planned)} builds)")
    return "\n".join(out) + "\n"


def tuxsuite_json(checked: str, planned: list[PlanBuild], verdict: TuxVerdict | None
                  ) -> dict[str, Any]:
    doc: dict[str, Any] = {"checked": checked, "plan": [b.build for b in planned],
                           "submitted": verdict is not None}
    if verdict is not None:
        bad = {id(r) for r in verdict.regressions}
        doc["builds"] = [{"uid": r.uid, "build": r.label, "state": r.state,
                          "kallsyms": r.kallsyms, "message": r.message, "log": r.log,
                          "regression": id(r) in bad} for r in verdict.results]
        doc["missing"] = [b.build for b in verdict.missing]
    return doc
