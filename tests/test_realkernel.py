"""check on a real kernel: Debian's 6.1, the tiny ARMv5 recipe, real linkers.

The kernel is built once per session; each case relinks it (seconds) with another
linker or padding (lldbisect.kernel.repro).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lldbisect.analysis.check import check_build
from lldbisect.analysis.convergence import Verdict
from lldbisect.kernel.repro import TinyArmBuild
from tests.schemas import documented

pytestmark = [pytest.mark.kernel, pytest.mark.realbuild]

LLD = "/usr/lib/llvm-{}/bin/ld.lld"
KEEP = str(Path(__file__).resolve().parent.parent / "bisect-scripts" / "ld-keep-stages")


def _syms_names(path: Path) -> set[str]:
    return {line.split()[-1] for line in path.read_text().splitlines()}


@pytest.fixture(scope="module")
def failing(tiny_arm: TinyArmBuild) -> int:
    found = tiny_arm.failing_pad(LLD.format(16))
    if found is None:
        pytest.fail("no failing padding near the recipe's value with lld-16")
    return found[0]


def test_lld15_converges(tiny_arm: TinyArmBuild, failing: int) -> None:
    result = tiny_arm.build(LLD.format(15), failing)
    assert result.returncode == 0, result.log[-2000:]
    found = check_build(tiny_arm.build_dir, log=result.log)
    c = found.comparison
    assert c.verdict is Verdict.CONVERGED, c.reason
    fam = {f.family.pattern: f for f in c.families}
    assert fam["__ARMV5PILongThunk_"].family.count > 100  # made, and hidden by 6.1
    assert fam["__ARMV5PILongThunk_"].hidden_by is not None
    assert found.system_map_matches is True and found.failure_message is None


def test_lld16_diverges_naming_the_culprits(tiny_arm: TinyArmBuild, failing: int) -> None:
    result = tiny_arm.build(LLD.format(16), failing)
    assert result.inconsistent_kallsyms
    found = check_build(tiny_arm.build_dir, log=result.log)
    c = found.comparison
    assert c.verdict is Verdict.DIVERGED, c.reason
    assert found.stages.third_pass and found.system_map_matches is False
    # The layout is what this real build wrote: every pass's files are on disk.
    assert found.stages.layout == "6.1-6.9"
    for p in found.stages.passes:
        assert p.image is not None and p.image.name == f".tmp_vmlinux.kallsyms{p.number}"
        assert p.syms is not None and p.syms.exists() and p.image.exists()
    assert "Inconsistent kallsyms data" in (found.failure_message or "")
    # The culprits are exactly the visible names the last pass added (compared here
    # on the kernel's own .syms lists, independently of lldbisect's reading).
    b = tiny_arm.build_dir
    new = _syms_names(b / ".tmp_vmlinux.kallsyms3.syms") - _syms_names(
        b / ".tmp_vmlinux.kallsyms2.syms")
    assert c.culprits == sorted(new) and c.culprits
    assert all(n.startswith("__ARMv4PILongBXThunk_") for n in c.culprits)
    (family,) = c.families
    assert family.family.pattern == "__ARMv4PILongBXThunk_" and family.hidden_by is None
    assert family.safe_pattern is not None and not family.collateral
    assert c.family_wide == "__[[:alnum:]]*Thunk_"
    sizes = [p.kallsyms_size for p in found.stages.passes]
    assert len(sizes) == 3 and sizes[0] != sizes[1] != sizes[2]


def test_lld16_at_risk(tiny_arm: TinyArmBuild) -> None:
    found_pad = tiny_arm.at_risk_pad(LLD.format(16))
    if found_pad is None:
        pytest.fail("no padding near the recipe's at which lld-16 links in three passes")
    _pad, result = found_pad
    found = check_build(tiny_arm.build_dir, log=result.log)
    assert found.comparison.verdict is Verdict.AT_RISK, found.comparison.reason
    assert found.stages.third_pass


def test_gnu_ld_converges(tiny_arm: TinyArmBuild, failing: int) -> None:
    result = tiny_arm.build("arm-linux-gnueabihf-ld", failing)
    assert result.returncode == 0, result.log[-2000:]
    c = check_build(tiny_arm.build_dir, log=result.log).comparison
    assert c.verdict is Verdict.CONVERGED, c.reason
    veneers = next(f for f in c.families if f.family.pattern == "_veneer")
    assert veneers.family.count > 100 and veneers.hidden_by is not None


def test_cli_check_json_and_exit(tiny_arm: TinyArmBuild, failing: int, tmp_path: Path) -> None:
    result = tiny_arm.build(LLD.format(16), failing)
    log = tmp_path / "build.log"
    log.write_text(result.log)
    done = subprocess.run([sys.executable, "-m", "lldbisect", "check", "--json",
                           "--log", str(log), str(tiny_arm.build_dir)],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    doc = documented(done.stdout)
    assert doc["schema"] == "lldbisect.check/1" and doc["verdict"] == "diverged"
    assert doc["third_pass"] is True and doc["failure_message"].startswith("Inconsistent")
    assert doc["families"][0]["label"].startswith("lld ARM thunk")


def test_keep_stages_wrapper_saves_what_old_kernels_delete(tiny_arm: TinyArmBuild,
                                                          failing: int) -> None:
    result = tiny_arm.build(f"{KEEP} {LLD.format(16)}", failing)
    assert result.inconsistent_kallsyms
    b = tiny_arm.build_dir
    kept = b / ".lldbisect-stages"
    assert {p.name for p in kept.iterdir()} >= {
        ".tmp_vmlinux.kallsyms1", ".tmp_vmlinux.kallsyms2", ".tmp_vmlinux.kallsyms3",
        ".tmp_vmlinux.kallsyms1.o", ".tmp_vmlinux.kallsyms2.o"}
    # What a pre-5.13 kernel leaves after the failure: no temporary images or objects.
    for n in (1, 2, 3):
        for suffix in ("", ".o"):
            (b / f".tmp_vmlinux.kallsyms{n}{suffix}").unlink(missing_ok=True)
    try:
        c = check_build(b, log=result.log).comparison
        assert c.verdict is Verdict.DIVERGED and c.culprits
    finally:
        shutil.rmtree(kept)


def test_proposed_patch_makes_lld16_converge(tiny_arm: TinyArmBuild, failing: int,
                                             tmp_path: Path) -> None:
    """The whole answer: check the failing build, propose, apply, relink: two passes."""
    from lldbisect.patch.propose import Finding, propose
    from tests.proposing import AUTHOR, DATE
    from tests.test_propose_real import assert_clean, checkpatch

    result = tiny_arm.build(LLD.format(16), failing)
    found = check_build(tiny_arm.build_dir, log=result.log)
    proposal = propose(Finding.from_check(found, "Debian LLD 16.0.6"), found.rules,
                       author=AUTHOR, date=DATE, signoff=True)
    assert proposal.patch is not None
    assert_clean(checkpatch(tiny_arm.tree, proposal.patch, tmp_path))
    from lldbisect.kernel.overlay import patched_tree
    from lldbisect.kernel.relink import KernelRelinker
    from lldbisect.kernel.snapshot import kept_build

    scripts = {p: p.read_bytes() for p in (tiny_arm.tree / "scripts" / "kallsyms.c",
                                           tiny_arm.tree / "scripts" / "mksysmap")}
    def link() -> dict[str, int]:
        return {p.name: p.stat().st_mtime_ns for p in tiny_arm.build_dir.iterdir()
                if p.is_file()}

    last_link = link()
    relinker = KernelRelinker(tiny_arm.build_dir, config_ld=tiny_arm.config_ld)
    with kept_build(tiny_arm.build_dir), patched_tree(tiny_arm.tree, proposal.patch) as view:
        assert not view.in_place  # root here: the shared tree is never written
        status, log = relinker.relink(LLD.format(16), view)
        assert status == 0, log[-2000:]
        after = check_build(tiny_arm.build_dir, log=log, kernel=view.rules_tree)
        assert len(after.stages.passes) == 2 and not after.stages.third_pass
        assert after.comparison.verdict is Verdict.CONVERGED
    assert {p: p.read_bytes() for p in scripts} == scripts
    assert link() == last_link
    # The build's own kallsyms program is the unpatched one again: lld 16 fails as before.
    assert tiny_arm.build(LLD.format(16), failing).inconsistent_kallsyms


def test_propose_complete_probes_the_configurations_cpu_level(tiny_arm: TinyArmBuild,
                                                             failing: int,
                                                             tmp_path: Path) -> None:
    """--complete on the ARMv5 build: lld 16 (named by the image's .comment) probed with
    the v5 case alone, the CPU level its .config names; it makes nothing more than the
    build showed, and says so: no rule for another CPU level's thunks."""
    from tests.test_propose_real import assert_clean, checkpatch

    tiny_arm.build(LLD.format(16), failing)
    done = subprocess.run([sys.executable, "-m", "lldbisect", "propose",
                           str(tiny_arm.build_dir), "--complete", "--signoff"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert ("probing /usr/lib/llvm-16/bin/ld.lld with the cases of this configuration:"
            " arm-v5-pic") in done.stderr
    assert "make nothing more than this build showed" in done.stderr
    added = [ln.strip().split('"')[1] for ln in done.stdout.splitlines()
             if ln.startswith("+\t") and '"' in ln]
    assert added == ["__ARMv4PILongBXThunk_"]
    assert_clean(checkpatch(tiny_arm.tree, done.stdout, tmp_path))
