"""hunt: the whole job on the real tiny ARMv5 6.1 build with Debian's lld releases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


def _hidden_record(tiny_arm: TinyArmBuild) -> tuple[Path, Path]:
    rec = tiny_arm.build_dir / "lldbisect.make-args"
    return rec, rec.with_name("lldbisect.make-args.hidden")


def _configuration(build: Path) -> dict[str, bytes]:
    files = [build / ".config", build / "Makefile", *(build / "include" / "config").rglob("*"),
             build / "include" / "generated" / "autoconf.h"]
    return {str(p): p.read_bytes() for p in files if p.is_file()}


def _objects(build: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in build.rglob("*")
            if p.suffix in (".o", ".a") and not p.name.startswith((".tmp_", ".vmlinux"))
            and p.name != "vmlinux.o"}


def test_hunt_reads_the_make_arguments_from_the_build(tiny_arm: TinyArmBuild,
                                                       tmp_path: Path) -> None:
    """No ARCH=, no LLVM=: the build says what it is. Only what no build records is
    given (the recipe's padding and its pinned version banner)."""
    found = tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld")
    assert found is not None
    rec, hidden = _hidden_record(tiny_arm)
    own = [a for a in rec.read_text().split() if not a.startswith(("ARCH=", "LLVM="))]
    before = _configuration(tiny_arm.build_dir)
    rec.rename(hidden)
    try:
        done = subprocess.run([sys.executable, "-m", "lldbisect", "hunt", "--kernel-build",
                               str(tiny_arm.build_dir), "--ld", "ld.lld-16", "--ld",
                               "ld.lld-15", *[f"--make-arg={a}" for a in own]],
                              capture_output=True, text=True)
    finally:
        hidden.rename(rec)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "inferred from the build: ARCH=arm (.config), LLVM=/usr/lib/llvm-14/bin/" in (
        done.stderr)
    assert "[step 1 of about" in done.stderr and "relinking" in done.stderr
    assert _configuration(tiny_arm.build_dir) == before


def test_a_relink_that_would_rebuild_is_stopped(tiny_arm: TinyArmBuild) -> None:
    """Leave out what the build cannot tell (the recipe's padding): make sets out to
    rebuild, is stopped, and the configuration and every object stay as they were."""
    assert tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld") is not None
    rec, hidden = _hidden_record(tiny_arm)
    before, objects = _configuration(tiny_arm.build_dir), _objects(tiny_arm.build_dir)
    rec.rename(hidden)
    try:
        done = subprocess.run([sys.executable, "-m", "lldbisect", "run-step", "ld", "--ld",
                               "ld.lld-15", "--kernel-build", str(tiny_arm.build_dir)],
                              capture_output=True, text=True)
    finally:
        hidden.rename(rec)
    assert done.returncode >= 128, done.stderr[-2000:]
    assert "relinking would" in done.stderr and "--make-arg" in done.stderr
    assert _configuration(tiny_arm.build_dir) == before
    assert _objects(tiny_arm.build_dir) == objects


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_relink_leaves_the_configuration(tiny_arm: TinyArmBuild,
                                                        sig: signal.Signals) -> None:
    assert tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld") is not None
    before, objects = _configuration(tiny_arm.build_dir), _objects(tiny_arm.build_dir)
    proc = subprocess.Popen([sys.executable, "-m", "lldbisect", "run-step", "ld", "--ld",
                             "ld.lld-16", "--kernel-build", str(tiny_arm.build_dir)],
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "relinking" in line:
            break
    time.sleep(1.5)  # make is linking now
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    assert proc.returncode >= 128
    assert _configuration(tiny_arm.build_dir) == before
    assert _objects(tiny_arm.build_dir) == objects


def test_no_good_release_is_still_an_answer(tiny_arm: TinyArmBuild) -> None:
    """Every lld given is bad: the newest is diagnosed, its patch verified, exit 0."""
    assert tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld") is not None
    done = subprocess.run([sys.executable, "-m", "lldbisect", "hunt", "--kernel-build",
                           str(tiny_arm.build_dir), "--ld", "ld.lld-16", "--ld", "ld.lld-22",
                           "--verify", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = documented(done.stdout)
    assert doc["last_good"] is None and "no linker given is good" in doc["no_good_release"]
    assert doc["first_bad"][0].endswith("ld.lld-22") and doc["verified"] is True


def test_gnu_ld_is_a_baseline(tiny_arm: TinyArmBuild) -> None:
    assert tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld") is not None
    done = subprocess.run([sys.executable, "-m", "lldbisect", "hunt", "--kernel-build",
                           str(tiny_arm.build_dir), "--ld", "ld.lld-16", "--ld",
                           "arm-linux-gnueabihf-ld", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = documented(done.stdout)
    assert doc["last_good"][0].endswith("arm-linux-gnueabihf-ld")
    assert doc["first_bad"][0].endswith("ld.lld-16")
