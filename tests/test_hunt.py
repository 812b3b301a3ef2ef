"""hunt: the whole job on the real tiny ARMv5 6.1 build with Debian's lld releases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lldbisect.kernel.repro import TinyArmBuild
from tests.schemas import documented

pytestmark = [pytest.mark.kernel, pytest.mark.realbuild]


def test_hunt_demo_ends_with_a_patch_that_converges(tiny_arm: TinyArmBuild) -> None:
    done = subprocess.run([sys.executable, "-m", "lldbisect", "hunt", "--demo", "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = documented(done.stdout)
    assert doc["first_bad"][1].startswith("16.") and doc["last_good"][1].startswith("15.")
    assert doc["diagnosis"]["verdict"] == "diverged"
    assert '+\t\t"__ARMv4PILongBXThunk_",' in doc["patch"]
    assert doc["verified"] is True and "2 passes: converged" in doc["verify_detail"]
    assert "preparing linux-source-6.1" in done.stderr  # progress shown


def test_hunt_between_two_given_linkers(tiny_arm: TinyArmBuild, tmp_path: Path) -> None:
    found = tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld")
    assert found is not None
    out = tmp_path / "0001.patch"
    done = subprocess.run([sys.executable, "-m", "lldbisect", "hunt", "--kernel-build",
                           str(tiny_arm.build_dir), "--ld", "ld.lld-16", "--ld", "ld.lld-15",
                           "--verify", "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "first bad: " in done.stdout and "verified: with the patch" in done.stdout
    assert "__ARMv4PILongBXThunk_" in out.read_text()


def test_hunt_over_llvm_commits_scans_the_culprit(tiny_arm: TinyArmBuild,
                                                   tmp_path: Path) -> None:
    """Two LLVM revisions: bisect the commits (each "built" by picking a Debian lld),
    diagnose the culprit's build, scan the culprit commit, write the patch."""
    from tests.llvmrepo import BUILD_CMD, CULPRIT, HISTORY, make_repo

    assert tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld") is not None
    src = tmp_path / "llvm-project"
    hashes = make_repo(src)
    done = subprocess.run(
        [sys.executable, "-m", "lldbisect", "hunt", "--kernel-build", str(tiny_arm.build_dir),
         "--llvm-src", str(src), "--good", hashes[CULPRIT - 1], "--bad", hashes[CULPRIT],
         "--build-cmd", BUILD_CMD.format(counter=tmp_path / "builds"), "--json"],
        capture_output=True, text=True, env={**os.environ,
                                             "LLDBISECT_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    doc = documented(done.stdout)
    assert doc["bisect"]["culprit"]["hexsha"] == hashes[CULPRIT]
    assert doc["bisect"]["culprit"]["subject"] == HISTORY[CULPRIT][0]
    assert doc["diagnosis"]["verdict"] == "diverged"
    renamed = {(i["change"], i["pattern"], i["was"]["pattern"] if i["was"] else None): i
               for i in doc["scan"]}
    bx = renamed[("renamed", "__ARMv4PILongBXThunk_", "__ARMV5PILongThunk_")]
    from lldbisect.kernel.rules import load_rules

    # 6.1 does not hide it: the regression
    assert bx["hidden_by"] == {load_rules(tiny_arm.tree).version: None}
    assert bx["observed"] and all(n.startswith("__ARMv4PILongBXThunk_")
                                  for n in bx["observed"])
    assert '+\t\t"__ARMv4PILongBXThunk_",' in doc["patch"]
