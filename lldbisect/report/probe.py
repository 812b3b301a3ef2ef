"""Text, JSON and JUnit XML renderings of probe and validation results (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from lldbisect.linkers.coverage import Coverage
from lldbisect.linkers.probe import CaseResult, CaseStatus, ProbeFamily
from lldbisect.linkers.validate import BuildComparison, CaseChange, Validation

__all__ = ["coverage_json", "coverage_text", "probe_json", "probe_text", "validation_json",
           "validation_junit", "validation_text"]


def _family_json(f: ProbeFamily) -> dict[str, Any]:
    fam = f.family
    return {"key": f.key, "kind": fam.kind.value, "pattern": fam.pattern, "shape": fam.shape,
            "label": fam.label, "count": fam.count, "members": list(fam.members),
            "visible_to": f.visible_to(),
            "hidden_by": {label: rule for label, rule in f.hidden_by if rule}}


def _case_json(r: CaseResult) -> dict[str, Any]:
    return {"case": r.case.name, "arch": r.case.arch, "what": r.case.what,
            "flags": list(r.case.flags), "status": r.status.value, "message": r.message,
            "seconds": round(r.seconds, 3),
            "families": [_family_json(f) for f in r.families]}


def probe_json(ld: str, version: str, kernels: list[str], results: list[CaseResult],
               covered: Coverage | None = None) -> dict[str, Any]:
    return {"schema": "lldbisect.probe/1", "linker": ld, "version": version,
            "kernels": kernels, "cases": [_case_json(r) for r in results],
            "coverage": None if covered is None else coverage_json(covered)}


def coverage_json(c: Coverage) -> dict[str, Any]:
    kernel = c.kernel_families()
    percent = c.percent()
    return {"source": c.source, "made": c.produced(), "of": len(kernel),
            "percent": None if percent is None else round(percent, 1),
            "unlinked": list(c.unlinked),
            "families": [{"kind": f.pattern.kind.value, "pattern": f.pattern.text,
                          "arch": f.arch, "kernel_arch": f.kernel, "where": f.where,
                          "made_by": cases} for f, cases in c.families]}


def coverage_text(c: Coverage) -> str:
    kernel = c.kernel_families()
    percent = c.percent()
    if percent is None:
        lines = [f"coverage: nothing measured: no case linked an architecture the kernel"
                 f" links for which {c.source} builds names"]
    else:
        lines = [f"coverage: the corpus made {c.produced()} of the {len(kernel)} name"
                 f" families {c.source} builds for the architectures the kernel links and"
                 f" this linker links ({percent:.0f} %)"]
    if c.unlinked:
        lines.append("  not measured, no case of theirs linked: " + ", ".join(c.unlinked))
    rows = [["arch", "family", "made by", "in the source"]]
    for f, cases in c.families:
        shown = ", ".join(cases[:3]) + (f" +{len(cases) - 3}" if len(cases) > 3 else "")
        rows.append([f.arch or "?", str(f.pattern),
                     shown or ("NOT MADE" if f.kernel else "(no kernel architecture)"),
                     f.where])
    return "\n".join([*lines, *("  " + r for r in _table(rows))]) + "\n"


def _seen(f: ProbeFamily, kernels: list[str]) -> str:
    if not kernels:
        return ""
    return ", ".join(f.visible_to()) or "none"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def probe_text(ld: str, version: str, kernels: list[str], results: list[CaseResult],
               covered: Coverage | None = None) -> str:
    head = ["case", "arch", "family", "n", "seen by kallsyms of" if kernels else "", "label"]
    rows = [head]
    for r in results:
        if r.status is not CaseStatus.OK:
            said = r.message if len(r.message) <= 100 else r.message[:99] + "…"
            rows.append([r.case.name, r.case.arch, f"{r.status.value}: {said}", "", "", ""])
            continue
        if not r.families:
            rows.append([r.case.name, r.case.arch, "(no linker-made symbols)", "", "", ""])
        for f in r.families:
            rows.append([r.case.name, r.case.arch, f.key, str(f.family.count),
                         _seen(f, kernels), f.family.label or ""])
    lines = [f"linker: {version} ({ld})"]
    if kernels:
        lines.append(f"kernels: {', '.join(kernels)}")
    out = "\n".join([*lines, "", *_table(rows)]) + "\n"
    return out if covered is None else out + "\n" + coverage_text(covered)


def _build_json(b: BuildComparison) -> dict[str, Any]:
    return {"build": b.build, "baseline": BuildComparison.state(b.old),
            "new": BuildComparison.state(b.new), "regressed": b.regressed(),
            "crashed": b.crashed(),
            "new_reason": b.new.reason, "new_culprits": list(b.new.culprits),
            "seconds": round(b.old.seconds + b.new.seconds, 1)}


def _change_json(c: CaseChange) -> dict[str, Any]:
    return {"case": c.case.name, "arch": c.case.arch, "failed": c.failed(),
            "lost_support": c.lost_support(), "crashed": c.crashed(),
            "new_crash": c.new_crash(),
            "baseline": _case_json(c.old), "new": _case_json(c.new),
            "changes": [{"change": ch.change.value, **_family_json(ch.family)}
                        for ch in c.changes]}


def validation_json(v: Validation) -> dict[str, Any]:
    return {"schema": "lldbisect.validate/1", "new": {"linker": v.new_ld,
                                                      "version": v.new_version},
            "baseline": {"linker": v.old_ld, "version": v.old_version},
            "kernels": v.kernels, "shard": f"{v.shard.index}/{v.shard.count}",
            "failed": v.failed(), "cases": [_change_json(c) for c in v.cases],
            "builds": [_build_json(b) for b in v.builds]}


def validation_text(v: Validation) -> str:
    lines = [f"new:      {v.new_version} ({v.new_ld})",
             f"baseline: {v.old_version} ({v.old_ld})"]
    if v.kernels:
        lines.append(f"kernels:  {', '.join(v.kernels)}")
    if v.shard.count > 1:
        lines.append(f"shard:    {v.shard.index}/{v.shard.count}")
    rows = [["case", "change", "family", "seen by kallsyms of", "label"]]
    for c in v.cases:
        if c.crashed():
            rows.append([c.case.name, "CRASH", f"the new linker crashed: {c.new.message}"
                         + ("" if c.new_crash() else " (so did the baseline)"), "", ""])
        if c.lost_support():
            rows.append([c.case.name, "lost", f"cannot link: {c.new.message}", "", ""])
        for ch in c.changes:
            seen = (", ".join(ch.visible_to) or "none") if v.kernels else ""
            rows.append([c.case.name, ch.change.value, ch.family.key, seen,
                         ch.family.family.label or ""])
    quiet = sum(1 for c in v.cases if not c.changes and not c.failed() and not c.crashed())
    lines.append("")
    if len(rows) > 1:
        lines += _table(rows)
    lines.append(f"{quiet} of {len(v.cases)} cases unchanged")
    if v.builds:
        lines += ["", *_table([["kernel build", "baseline", "new", ""]] + [
            [b.build, BuildComparison.state(b.old), BuildComparison.state(b.new),
             "CRASH" if b.crashed() else "REGRESSION" if b.regressed() else ""]
            for b in v.builds])]
    lines += ["", _verdict(v)]
    return "\n".join(lines) + "\n"


def _verdict(v: Validation) -> str:
    seen = sorted({k for c in v.cases for ch in c.regressions() for k in ch.visible_to})
    broken = [b.build for b in v.builds if b.regressed() and not b.crashed()]
    lost = [c.case.name for c in v.cases if c.lost_support()]
    crashes = [c.case.name for c in v.cases if c.new_crash()] + [
        b.build for b in v.builds if b.crashed()]
    old_crashes = [c.case.name for c in v.cases if c.crashed() and not c.new_crash()]
    also = (f" (both linkers crash on {', '.join(old_crashes)})" if old_crashes else "")
    if not (seen or broken or lost or crashes):
        if not v.kernels and any(c.changes for c in v.cases):
            return ("verdict: no --kernel given: the new families above are judged by no"
                    " kernel's rules" + also)
        return "verdict: nothing new that a given kernel would see" + also
    parts = []
    if crashes:
        parts.append(f"the new linker crashed on {', '.join(crashes)}")
    if seen:
        parts.append(f"new families visible to kernel {', '.join(seen)}")
    if lost:
        parts.append(f"cannot link {', '.join(lost)}")
    if broken:
        parts.append(f"{len(broken)} build(s) stop converging")
    return "verdict: FAIL: " + "; ".join(parts) + also


def validation_junit(v: Validation) -> bytes:
    """One test case per corpus case and per kernel build; a failure where NEW regresses."""
    suite = ET.Element("testsuite", name="lldbisect.validate")
    failures = skipped = 0
    for c in v.cases:
        tc = ET.SubElement(suite, "testcase", classname=f"probe.{c.case.arch}",
                           name=c.case.name, time=f"{c.old.seconds + c.new.seconds:.3f}")
        if c.failed():
            failures += 1
            bad = [f"{ch.family.key} visible to {', '.join(ch.visible_to)}"
                   for ch in c.regressions()]
            if c.lost_support():
                bad.append(f"the new linker cannot link it: {c.new.message}")
            if c.new_crash():
                bad.append(f"the new linker crashed: {c.new.message}")
            ET.SubElement(tc, "failure", message="; ".join(bad)).text = "\n".join(
                f"{ch.change.value}: {ch.family.key} ({', '.join(ch.family.family.members)})"
                for ch in c.changes)
        elif c.new.status is CaseStatus.UNSUPPORTED:
            skipped += 1
            ET.SubElement(tc, "skipped", message=c.new.message)
        elif c.changes:
            ET.SubElement(tc, "system-out").text = "\n".join(
                f"{ch.change.value}: {ch.family.key}" for ch in c.changes)
    for b in v.builds:
        tc = ET.SubElement(suite, "testcase", classname="kernel-build", name=b.build,
                           time=f"{b.old.seconds + b.new.seconds:.1f}")
        if b.regressed():
            failures += 1
            ET.SubElement(tc, "failure", message=(
                f"{BuildComparison.state(b.old)} with the baseline, {BuildComparison.state(b.new)}"
                f" with the new linker")).text = b.new.reason
    suite.set("tests", str(len(v.cases) + len(v.builds)))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suites = ET.Element("testsuites", name="lldbisect validate")
    suites.append(suite)
    ET.indent(suites)
    data: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
