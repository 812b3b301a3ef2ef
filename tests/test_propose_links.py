"""propose --from a probe or validate report: every family the linker makes that the
tree lets through, in its own architecture's group, proved by the patched tree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lldbisect.elf.nmlist import parse_nm_listing
from lldbisect.kernel.rules import load_rules
from tests.proposing import patched_copy

TREES = Path(__file__).parent / "fixtures" / "trees"
TREE = TREES / "f4-m2-kallsyms-object"
RUN = [sys.executable, "-m", "lldbisect"]
LLD = {n: Path(f"/usr/lib/llvm-{n}/bin/ld.lld") for n in (15, 16)}
pytestmark = pytest.mark.skipif(not all(p.exists() for p in LLD.values()),
                                reason="needs Debian's lld-15 and lld-16")


def _corpus(tmp: Path) -> Path:
    # Kernel functions whose names a careless pattern would hide.
    names = ["__plt_entry_setup", "long_branch_fixup", "__ARMv4_setup", "printk"]
    listing = tmp / "corpus.txt"
    listing.write_text("".join(f"{0x1000 + 16 * k:08x} T {n}\n" for k, n in enumerate(names)))
    return listing


def _propose(report: Path, corpus: Path | None, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    args = [*RUN, "propose", "--from", str(report), "--kernel", str(TREE)]
    return subprocess.run(args + (["--corpus", str(corpus)] if corpus else []),
                          capture_output=True, text=True, env=env)


def _families(doc: dict, key: str | None = None) -> dict[str, list[str]]:
    cases = [c[key] for c in doc["cases"] if c.get(key)] if key else doc["cases"]
    out: dict[str, list[str]] = {}
    for c in cases:
        for f in c.get("families", []):
            out.setdefault(f["pattern"], []).extend(f["members"])
    return out


def _hidden_after(patch: str, tmp: Path, names: list[str]) -> list[str]:
    """The names the patched tree (applied by git am) still lets kallsyms see."""
    repo = patched_copy(TREE, patch, tmp)
    table = parse_nm_listing("".join(f"{k:08x} t {n}\n" for k, n in enumerate(names)), "x")
    mask = load_rules(repo).apply(table).kallsyms_mask()
    return [n for n, k in zip(names, mask) if k]


def test_a_probe_report_gives_a_patch_for_every_family_the_tree_sees(tmp_path: Path) -> None:
    report = tmp_path / "probe.json"
    done = subprocess.run([*RUN, "probe", "--ld", str(LLD[16]), "--arch", "arm", "--arch",
                           "powerpc", "--kernel", str(TREE), "--json"],
                          capture_output=True, text=True, check=True)
    report.write_text(done.stdout)
    doc = json.loads(done.stdout)
    families = _families(doc)
    visible = {f["pattern"] for c in doc["cases"] for f in c.get("families", [])
               if f["visible_to"]}
    assert "__ARMv4PILongBXThunk_" in visible and "__ARMV7PILongThunk_" not in visible
    proposed = _propose(report, _corpus(tmp_path))
    assert proposed.returncode == 0, proposed.stderr
    patch = proposed.stdout
    # Each family in its own architecture's group; none the tree already hides.
    hunk = next(h for h in patch.split("\n@@ ") if "+/ __ARMv4PILongBXThunk_/d" in h)
    assert " / __ARMV5PILongThunk_/d" in hunk  # with the tree's own arm lld names
    assert "+/ __ARMV7PILongThunk_/d" not in patch
    assert "+# ppc64 lld\n+/ __long_branch_/d\n" in patch
    words = " ".join(patch.split())
    assert "lldbisect probe: arm-v7-pic" in words and "Inconsistent kallsyms" not in words
    every = [n for names in families.values() for n in names]
    assert _hidden_after(patch, tmp_path / "applied", every) == []
    # No kernel image to judge a pattern by, and no corpus: no patch, said so.
    empty = dict(__import__("os").environ, LLDBISECT_CACHE=str(tmp_path / "nocache"))
    refused = _propose(report, None, env=empty)
    assert refused.returncode == 1 and "no kernel image to check a pattern" in refused.stderr


def test_a_pattern_that_would_hide_a_kernel_function_becomes_exact_names(tmp_path: Path
                                                                         ) -> None:
    report = tmp_path / "probe.json"
    done = subprocess.run([*RUN, "probe", "--ld", str(LLD[16]), "--case", "ppc64",
                           "--kernel", str(TREE), "--json"], capture_output=True, text=True,
                          check=True)
    report.write_text(done.stdout)
    patch = _propose(report, _corpus(tmp_path)).stdout
    # `__plt_` would hide __plt_entry_setup: the stub's own names instead.
    assert "+/ __plt_/d" not in patch and "+/ __plt_ifunc_func$/d" in patch
    assert "+/ __long_branch_/d" in patch


def test_a_validate_report_proposes_the_new_linkers_families(tmp_path: Path) -> None:
    report = tmp_path / "validate.json"
    done = subprocess.run([*RUN, "validate", "--ld", str(LLD[16]), "--baseline",
                           str(LLD[15]), "--arch", "arm", "--kernel", str(TREE), "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # lld 16 brings families 6.8's rules see
    report.write_text(done.stdout)
    proposed = _propose(report, _corpus(tmp_path))
    assert proposed.returncode == 0, proposed.stderr
    new = _families(json.loads(done.stdout), "new")
    assert _hidden_after(proposed.stdout, tmp_path / "applied",
                         [n for names in new.values() for n in names]) == []
    assert "lldbisect validate: arm-v7-pic" in " ".join(proposed.stdout.split())


def test_complete_adds_the_probes_families_the_build_did_not_show() -> None:
    """propose --complete's merge: a probe family the build lacks joins the patch (and
    its own paragraph); one whose pattern would hide an ordinary symbol of the image,
    or of another machine, does not; a probe name never becomes an exact rule."""
    from lldbisect.analysis.convergence import Verdict
    from lldbisect.kernel.model import RuleKind
    from lldbisect.patch.propose import FamilyFinding, Finding, complete, propose

    def fam(pattern: str, members: list[str], machine: str = "EM_ARM",
            safe: bool = True) -> FamilyFinding:
        return FamilyFinding(RuleKind.PREFIX, pattern, None, len(members), members,
                             len(members), safe, [], None, "", machine)

    seen = fam("__ARMv4PILongBXThunk_", ["__ARMv4PILongBXThunk_printk"])
    build = Finding(Verdict.DIVERGED, "diverged", [seen], ["__ARMv4PILongBXThunk_printk"],
                    None, None, "EM_ARM", "Debian LLD 16.0.6")
    probed = Finding(Verdict.AT_RISK, "probe", [
        fam("__ARMv4PILongBXThunk_", ["__ARMv4PILongBXThunk_far_arm"]),  # already there
        fam("__Thumbv4PILongBXThunk_", ["__Thumbv4PILongBXThunk_far_thumb"]),  # new
        fam("__far_", ["__far_arm_veneer"]),  # would hide the image's __far_work
        fam("__AArch64ADRPThunk_", ["__AArch64ADRPThunk_far"], machine="EM_AARCH64"),
        fam("__ARMv4PILongThunk_", ["__ARMv4PILongThunk_x"], safe=False),  # no exact rule
    ], [], None, None, "", "Debian LLD 16.0.6", from_links=True)
    image = parse_nm_listing("00000000 T __far_work\n00000010 t __ARMv4PILongBXThunk_printk\n",
                             "vmlinux")
    merged, left_out = complete(build, probed, image,
                                frozenset({"__ARMv4PILongBXThunk_printk"}))
    assert [(f.pattern, f.origin) for f in merged.families] == [
        ("__ARMv4PILongBXThunk_", ""), ("__Thumbv4PILongBXThunk_", "probe"),
        ("__ARMv4PILongThunk_", "probe")]
    assert left_out == ["prefix __far_ (it would hide __far_work of this image)"]
    rules = load_rules(Path(__file__).parent / "fixtures" / "trees" / "f4-m2")
    proposal = propose(merged, rules, author="A <a@example.org>", date="Thu, 3 Dec 2026")
    assert proposal.patch is not None
    assert [a.pattern for a in proposal.additions] == ["__ARMv4PILongBXThunk_",
                                                       "__Thumbv4PILongBXThunk_"]
    body = " ".join(proposal.patch.split())
    assert "This build's layout did not need all that ld.lld makes" in body
    assert "__Thumbv4PILongBXThunk_* (e.g. __Thumbv4PILongBXThunk_far_thumb)" in body
