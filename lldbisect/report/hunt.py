"""Renderings of a hunt: the bisect, the diagnosis, the patch and its proof."""

from __future__ import annotations

from typing import Any

from lldbisect.bisect.hunt import HuntResult
from lldbisect.report.bisect import found_by_text
from lldbisect.report.check import check_json, check_text
from lldbisect.report.scan import item_json, scan_text

__all__ = ["HUNT_SCHEMA", "hunt_json", "hunt_text"]

HUNT_SCHEMA = "lldbisect.hunt/1"


def hunt_json(result: HuntResult) -> dict[str, Any]:
    proposal = result.proposal
    return {"schema": HUNT_SCHEMA, "last_good": result.last_good,
            "first_bad": result.first_bad,
            "tested": [[s.linker, str(s.version), s.verdict.value] for s in result.tested],
            "skipped": result.skipped, "no_good_release": result.no_good_release or None,
            "diagnosis": check_json(result.diagnosis) if result.diagnosis else None,
            "patch": proposal.patch if proposal else None,
            "no_patch_reason": proposal.reason if proposal else None,
            "verified": result.verified, "verify_detail": result.verify_detail,
            "bisect": result.bisect.to_json() if result.bisect else None,
            "scan": [item_json(i) for i in result.scan]}


def hunt_text(result: HuntResult) -> str:
    out = []
    if result.bisect is not None:
        culprit = result.bisect.culprit
        out.append(f"culprit: {culprit.hexsha} {culprit.subject}\n" if culprit else
                   "no single culprit; candidates: "
                   + " ".join(c[:12] for c in result.bisect.candidates) + "\n")
        out.append(found_by_text(result.bisect.to_json()) + "\n")
        if result.scan:
            kernels = [result.diagnosis.rules.version] if result.diagnosis else []
            out.append(scan_text(result.scan, kernels, True))
    if result.no_good_release:
        out.append(result.no_good_release + "\n")
    for label, which in (("last good", result.last_good), ("first bad", result.first_bad)):
        if which is not None:
            out.append(f"{label}: {which[0]} ({which[1]})\n")
    if result.skipped:
        out.append(f"could not link this build (skipped): {', '.join(result.skipped)}\n")
    if result.diagnosis is not None:
        out.append(check_text(result.diagnosis))
    proposal = result.proposal
    if proposal is not None and proposal.patch:
        if result.verified is not None:
            out.append(f"verified: {result.verify_detail}\n")
        out.append("\n" + proposal.patch)
    elif proposal is not None:
        out.append(proposal.reason + "\n")
    return "".join(out)
