"""Renderings of bisect results: commit bisects (``bisect llvm|kernel``) and release
bisects (``bisect versions``), text and JSON."""

from __future__ import annotations

from typing import Any

from lldbisect.bisect.releases import ReleaseBisect, ReleaseStep

__all__ = ["VERSIONS_SCHEMA", "commit_bisect_text", "found_by_text", "versions_json",
           "versions_text"]

VERSIONS_SCHEMA = "lldbisect.bisect-versions/1"


def commit_bisect_text(doc: dict[str, Any], builds: int, what: str) -> str:
    """A ``lldbisect.bisect/1`` document as text."""
    culprit = doc.get("culprit")
    out = []
    if isinstance(culprit, dict):
        out += [f"culprit: {culprit['hexsha']} {culprit['subject']}",
                f"  author {culprit['author']}, {culprit['date']}",
                f"  confirmed: {doc['confirmed']} (confidence {doc['confidence']:.0%})"
                + ("; its linker is byte-identical to its parent's" if doc["noop"] else "")]
        if doc.get("culprit_check"):
            out.append(f"  check at the culprit: {doc['culprit_check']}")
        out.append(f"  reproduce: {doc['reproducer']}")
    else:
        out.append("no single culprit; candidates: " + " ".join(
            str(c)[:12] for c in doc.get("candidates") or []))
    out.append(found_by_text(doc))
    out.append(f"steps ({builds} {what}):")
    for s in doc["steps"]:
        out.append(f"  {s['revision'][:12]} {s['role']:16} {s['verdict']:5}"
                   f" {s['seconds']:6.1f} s{' cached' if s['cache_hit'] else ''}")
    return "\n".join(out) + "\n"


def found_by_text(doc: dict[str, Any]) -> str:
    """How the culprit was found, what it cost, and what a plain bisection would have."""
    prediction = doc.get("prediction")
    cost = (f"{doc.get('builds', 0)} build(s) besides the endpoints; a plain bisection"
            f" needs about {doc.get('plain_builds', 0)}")
    if not isinstance(prediction, dict):
        said = "not asked (--no-predict)"
    else:
        said = {"confirmed": "predicted and confirmed",
                "refuted": f"predicted {str(prediction.get('tested'))[:12]}, refuted by its"
                           " builds: bisected, its verdicts kept",
                "untestable": f"predicted {str(prediction.get('tested'))[:12]}, but it or its"
                              " parent could not be built: bisected, its verdicts kept",
                "no-candidate": "no commit's diff explains the bad build's names: bisected"
                                + (f" ({prediction.get('outside')} candidate(s) outside the"
                                   " pathspec)" if prediction.get("outside") else ""),
                "no-names": "the bad build shows no linker-made name to look for:"
                            " bisected"}.get(str(prediction.get("outcome")), "bisected")
        said += (f" (scanned {prediction.get('scanned', 0):,} commit(s) in"
                 f" {prediction.get('seconds', 0):.1f} s)")
    return f"found by: {said}; {cost}"


def _step_json(step: ReleaseStep) -> dict[str, Any]:
    return {"linker": step.linker, "version": str(step.version),
            "verdict": step.verdict.value,
            "check": None if step.check is None else step.check.value,
            "visible_families": list(step.visible_families),
            "seconds": round(step.seconds, 1)}


def versions_json(found: ReleaseBisect, narrow_with: str) -> dict[str, Any]:
    assert found.last_good is not None
    (good_ld, good_v), (bad_ld, bad_v) = found.last_good, found.first_bad
    return {"schema": VERSIONS_SCHEMA,
            "last_good": {"linker": good_ld, "version": str(good_v)},
            "first_bad": {"linker": bad_ld, "version": str(bad_v)},
            "new_visible_families": found.new_visible_families,
            "steps": [_step_json(s) for s in found.steps], "narrow_with": narrow_with,
            "skipped": found.skipped, "ambiguous": found.ambiguous}


def versions_text(found: ReleaseBisect, narrow_with: str) -> str:
    assert found.last_good is not None
    (good_ld, good_v), (bad_ld, bad_v) = found.last_good, found.first_bad
    out = (f"last good: {good_ld} ({good_v})\nfirst bad: {bad_ld} ({bad_v})\n"
           f"new with it, visible to kallsyms: "
           f"{', '.join(found.new_visible_families) or 'nothing'}\n"
           f"narrow it to a commit with:\n  {narrow_with}\n")
    if found.skipped:
        out += (f"could not link this build (skipped): {', '.join(found.skipped)}"
                + (f"; the first bad may be among {', '.join(found.ambiguous)}"
                   if found.ambiguous else "") + "\n")
    return out
