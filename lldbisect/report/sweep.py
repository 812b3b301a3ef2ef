"""The layout sweep, as text and as JSON."""

from __future__ import annotations

import shlex
from typing import Any

from lldbisect.layouts.sweep import Layout, SweepResult

__all__ = ["reproducer", "sweep_json", "sweep_text", "verify_text"]


def reproducer(result: SweepResult, padding: int) -> str:
    """The one command that relinks the build at ``padding`` and judges it."""
    return shlex.join(["lldbisect", "sweep", str(result.plan.build_dir), "--ld", result.ld,
                       "--section", result.plan.pad.output, "--at", str(padding)])


def _layout(layout: Layout) -> dict[str, Any]:
    return {"padding": layout.padding, "verdict": layout.verdict.value,
            "status": layout.status, "passes": layout.passes,
            "culprits": list(layout.culprits), "failure": layout.failure,
            "seconds": round(layout.seconds, 2), "predicted": layout.predicted,
            "placed": layout.placed, "undecided": layout.undecided}


def sweep_json(result: SweepResult) -> dict[str, Any]:
    plan = result.plan
    failing = result.failing
    return {
        "schema": "lldbisect.sweep/1",
        "build_dir": str(plan.build_dir),
        "linker": result.ld,
        "section": {"output": plan.pad.output, "input": plan.pad.input},
        "range": {"from": plan.lo, "to": plan.hi, "step": plan.step},
        "model": plan.model_note,
        "predicted": plan.predicted,
        "layouts": [_layout(x) for x in result.layouts],
        "failing": _layout(failing) if failing else None,
        "reproduce": reproducer(result, failing.padding) if failing else None,
        "relinks": len(result.layouts),
        "uniform_relinks_estimate": plan.uniform_estimate(),
        "covered": result.covered,
        "undecided": [{"padding": x.padding, "why": x.undecided} for x in result.undecided],
        "stopped": result.stopped or None,
    }


def sweep_text(result: SweepResult) -> str:
    plan = result.plan
    out = [f"sweep {plan.build_dir} with {result.ld}: padding in {plan.pad.output} (input"
           f" section {plan.pad.input}), {plan.lo}..{plan.hi} B",
           f"model: {plan.model_note}"]
    if plan.model is not None:
        shown = ", ".join(f"{a}..{b}" for a, b in plan.windows[:6])
        out.append(f"predicted failing paddings: {len(plan.windows)} window(s)"
                   + (f": {shown}" + (" ..." if len(plan.windows) > 6 else "")
                      if plan.windows else ": none"))
    failing = result.failing
    n = len(result.layouts)
    estimate = plan.uniform_estimate()
    uniform = (f"a uniform sweep in steps of {plan.step} B would need {estimate} (by the"
               " model)" if estimate is not None else
               f"a uniform sweep in steps of {plan.step} B: no estimate"
               + (" (the model says none of its points fails)" if plan.model else ""))
    if failing is not None:
        out.append(f"FAILING LAYOUT at padding {failing.padding} B: "
                   + (failing.failure.splitlines()[0] if failing.failure
                      else failing.verdict.value)
                   + f" ({failing.passes} passes)")
        out += [f"  culprit: {c}" for c in failing.culprits]
        out.append(f"reproduce: {reproducer(result, failing.padding)}")
        out.append(f"relinks: {n} ({sum(x.predicted for x in result.layouts)} predicted);"
                   f" {uniform}")
    else:
        undecided = result.undecided
        judged = n - len(undecided)
        predicted = sum(x.predicted for x in result.layouts)
        out.append(f"no failing layout at the {judged} padding(s) relinked and judged in"
                   f" {plan.lo}..{plan.hi} B ({predicted} predicted, then every"
                   f" {plan.step} B): each linked without the kernel's failure; paddings"
                   " between them were not relinked")
        out += [f"  UNDECIDED at padding {x.padding} B: {x.undecided}" for x in undecided]
        if not result.covered:
            left = len(plan.order) - n
            out.append("NOT COVERED: no verdict for the range: "
                       + "; ".join(([result.stopped] if result.stopped else [])
                                   + ([f"{left} of {len(plan.order)} paddings not relinked"]
                                      if left else [])
                                   + ([f"{len(undecided)} relink(s) undecided"]
                                      if undecided else [])))
        out.append(f"relinks: {n}; {uniform}")
    return "\n".join(out) + "\n"


def verify_text(layouts: list[Layout]) -> str:
    good = sum(x.verdict.value == "converged" for x in layouts)
    return f"converges at {good} of {len(layouts)} layouts"
