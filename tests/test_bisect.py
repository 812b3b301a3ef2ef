"""Bisects with real git histories, real Debian linkers and the real tiny ARMv5 kernel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lldbisect.bisect.builders.llvm import LlvmRecipe, cmake_command, ninja_command
from lldbisect.kernel.repro import TinyArmBuild
from tests.llvmrepo import (
    BUILD_CMD,
    CULPRIT,
    HISTORY,
    commit_history,
    long_history,
    make_repo,
)
from tests.schemas import documented


def test_llvm_build_commands_golden() -> None:
    recipe = LlvmRecipe(targets="ARM", launcher="ccache")
    assert cmake_command(Path("/src"), Path("/build"), recipe) == [
        "cmake", "-G", "Ninja", "-S", "/src/llvm", "-B", "/build",
        "-DLLVM_ENABLE_PROJECTS=lld", "-DLLVM_TARGETS_TO_BUILD=ARM",
        "-DCMAKE_BUILD_TYPE=Release", "-DLLVM_APPEND_VC_REV=OFF",
        "-DLLVM_ENABLE_ASSERTIONS=OFF", "-DLLVM_INCLUDE_TESTS=OFF",
        "-DLLVM_INCLUDE_BENCHMARKS=OFF", "-DLLVM_INCLUDE_EXAMPLES=OFF",
        "-DCMAKE_C_COMPILER_LAUNCHER=ccache", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
    assert cmake_command(Path("/s"), Path("/b"), LlvmRecipe(launcher=""))[-2:] == [
        "-DCMAKE_C_COMPILER_LAUNCHER=", "-DCMAKE_CXX_COMPILER_LAUNCHER="]
    assert ninja_command(Path("/build")) == ["ninja", "-C", "/build", "lld"]
    assert ninja_command(Path("/build"), 8) == ["ninja", "-C", "/build", "-j8", "lld"]


@pytest.fixture(scope="module")
def failing_kernel(tiny_arm: TinyArmBuild) -> TinyArmBuild:
    found = tiny_arm.failing_pad("/usr/lib/llvm-16/bin/ld.lld")
    if found is None:
        pytest.fail("no failing padding for lld-16")
    return tiny_arm


def _lldbisect(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lldbisect", *args], capture_output=True,
                          text=True, **kw)  # type: ignore[call-overload]


def _snapshot(repo: Path) -> tuple[str, str, dict[str, bytes]]:
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                            capture_output=True, text=True, check=True).stdout
    files = {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*")
             if p.is_file() and ".git" not in p.parts}
    return head, status, files


@pytest.mark.kernel
@pytest.mark.realbuild
def test_bisect_llvm_finds_the_commit(failing_kernel: TinyArmBuild, tmp_path: Path) -> None:
    src = tmp_path / "llvm-project"
    hashes = make_repo(src)
    (src / "lld" / "local-edit.txt").write_text("the user's uncommitted work\n")
    before = _snapshot(src)
    counter = tmp_path / "builds"
    args = ["bisect", "llvm", "--llvm-src", str(src), "--good", hashes[0], "--bad",
            hashes[-1], "--kernel-build", str(failing_kernel.build_dir), "--build-cmd",
            BUILD_CMD.format(counter=counter), "--cache-dir", str(tmp_path / "cache"),
            "--json", "--no-predict"]  # a plain bisection (tests/test_predict.py: with)
    done = _lldbisect(*args)
    assert done.returncode == 0, done.stderr
    report = documented(done.stdout)
    assert report["found_by"] == "bisected" and report["prediction"] is None
    assert report["culprit"]["hexsha"] == hashes[CULPRIT]
    assert report["culprit"]["subject"] == HISTORY[CULPRIT][0]
    assert report["confirmed"] and report["confidence"] == 1.0 and not report["noop"]
    assert report["culprit_check"]["verdict"] == "diverged"
    tested = {s["revision"] for s in report["steps"]}
    outside = {hashes[1], hashes[3]}  # clang and llvm only: never tested
    assert not tested & outside
    # Every verdict is the one the commit's linker really earns: lld 15 good, lld 16
    # bad, a commit that does not build skipped.
    version, truth = "", {}
    for rev, (_subject, files) in zip(hashes, HISTORY):
        version = files.get("lld/VERSION", version).strip()
        truth[rev] = {"15": "good", "16": "bad", "broken": "skip"}[version]
    assert {s["revision"]: s["verdict"] for s in report["steps"]} == {
        s["revision"]: truth[s["revision"]] for s in report["steps"]}
    assert "git bisect start" in report["log"] and "run-step ld --ld" in report["reproducer"]
    assert "~" in done.stderr and "steps" in done.stderr  # progress
    assert _snapshot(src) == before  # the user's checkout, index and files untouched
    builds = len(counter.read_text().splitlines())
    # A second run of the same bisect builds nothing.
    again = _lldbisect(*args)
    assert again.returncode == 0, again.stderr
    assert documented(again.stdout)["linker_builds"] == 0
    assert len(counter.read_text().splitlines()) == builds
    assert documented(again.stdout)["culprit"]["hexsha"] == hashes[CULPRIT]


def _bisect_history(kernel: TinyArmBuild, tmp_path: Path, hashes: list[str], *args: str
                    ) -> subprocess.CompletedProcess[str]:
    """``bisect llvm`` over the whole of a long_history at tmp_path/llvm-project, each
    build counted in tmp_path/builds."""
    return _lldbisect("bisect", "llvm", "--llvm-src", str(tmp_path / "llvm-project"),
                      "--good", hashes[0], "--bad", hashes[-1], "--kernel-build",
                      str(kernel.build_dir), "--build-cmd",
                      BUILD_CMD.format(counter=tmp_path / "builds"), "--cache-dir",
                      str(tmp_path / "cache"), *args)


@pytest.mark.kernel
@pytest.mark.realbuild
def test_bisect_llvm_predicts_a_renaming_culprit_in_two_builds(
        failing_kernel: TinyArmBuild, tmp_path: Path) -> None:
    # A thousand lld/ELF commits; the culprit renames the v5 PIC thunk and "builds"
    # Debian's lld 16, whose real relink of the ARMv5 kernel fails.
    hashes = long_history(tmp_path / "llvm-project", 1000, culprit=613)
    counter = tmp_path / "builds"
    done = _bisect_history(failing_kernel, tmp_path, hashes, "--json")
    assert done.returncode == 0, done.stderr
    report = documented(done.stdout)
    assert report["culprit"]["hexsha"] == hashes[613] and report["confirmed"]
    assert report["found_by"] == "predicted"
    built = counter.read_text().splitlines()
    assert len(built) - 2 <= 3 and report["builds"] == 2  # endpoints not counted
    assert report["plain_builds"] == 10
    # The names the bad endpoint showed are lld 16's, and the scan read them.
    assert report["prediction"]["names"] and all(
        n.startswith("__ARMv4PILongBXThunk_") for n in report["prediction"]["names"])
    assert ("1 candidate(s); " + hashes[613][:12] + " renames __ARMV5PILongThunk_ ->"
            " __ARMv4PILongBXThunk_") in done.stderr
    assert "scanned 999 commit(s) in " in done.stderr
    text = _bisect_history(failing_kernel, tmp_path, hashes)
    assert text.returncode == 0, text.stderr
    assert ("found by: predicted and confirmed (scanned 999 commit(s) in ") in text.stdout
    assert "2 build(s) besides the endpoints; a plain bisection needs about 10" in text.stdout


@pytest.mark.kernel
@pytest.mark.realbuild
@pytest.mark.parametrize("culprit, decoy", [(700, 300), (457, None)],
                         ids=["decoy", "no-name-change"])
def test_bisect_llvm_falls_back_when_the_scan_cannot_say(
        failing_kernel: TinyArmBuild, tmp_path: Path, culprit: int, decoy: int | None) -> None:
    # The culprit moves to lld 16 without a name change; the decoy renames the thunk in
    # the source, but still "builds" lld 15.
    hashes = long_history(tmp_path / "llvm-project", 1000, culprit=culprit, renames=False,
                          decoy=decoy)
    counter = tmp_path / "builds"
    done = _bisect_history(failing_kernel, tmp_path, hashes, "--json")
    assert done.returncode == 0, done.stderr
    report = documented(done.stdout)
    assert report["culprit"]["hexsha"] == hashes[culprit] and report["confirmed"]
    assert report["found_by"] == "bisected"
    built = counter.read_text().splitlines()
    assert len(built) - 2 == report["builds"] <= 10 + 2
    if decoy is None:
        assert report["prediction"]["outcome"] == "no-candidate"
        assert "none explains __ARMv4PILongBXThunk_" in done.stderr
        return
    assert report["prediction"]["outcome"] == "refuted"
    assert report["prediction"]["tested"] == hashes[decoy]
    # The decoy built good: its parent is never built, the bisection starts above it.
    assert "the prediction is refuted: bisecting, with the 1 verdict(s) it cost kept" in (
        done.stderr)


@pytest.mark.kernel
@pytest.mark.realbuild
def test_bisect_llvm_refuses_wrong_endpoints(failing_kernel: TinyArmBuild,
                                             tmp_path: Path) -> None:
    src = tmp_path / "llvm-project"
    hashes = make_repo(src)
    done = _lldbisect("bisect", "llvm", "--llvm-src", str(src), "--good", hashes[-1],
                      "--bad", hashes[0], "--kernel-build", str(failing_kernel.build_dir),
                      "--build-cmd", BUILD_CMD.format(counter=tmp_path / "n"),
                      "--cache-dir", str(tmp_path / "cache"))
    assert done.returncode == 2
    assert "the good endpoint" in done.stderr and "tests bad, not good" in done.stderr


@pytest.mark.kernel
@pytest.mark.realbuild
def test_bisect_llvm_resumes_after_sigint(failing_kernel: TinyArmBuild,
                                          tmp_path: Path) -> None:
    src = tmp_path / "llvm-project"
    hashes = make_repo(src)
    before = _snapshot(src)
    cache = tmp_path / "cache"
    args = ["bisect", "llvm", "--llvm-src", str(src), "--good", hashes[0], "--bad",
            hashes[-1], "--kernel-build", str(failing_kernel.build_dir), "--build-cmd",
            BUILD_CMD.format(counter=tmp_path / "n"), "--cache-dir", str(cache), "--json",
            "--no-predict"]  # predicted, this history is done before it can be stopped
    proc = subprocess.Popen([sys.executable, "-m", "lldbisect", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sidecars = cache / "bisect"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        states = list(sidecars.glob("*.json")) if sidecars.exists() else []
        if states and len(json.loads(states[0].read_text() or "{}").get("steps", [])) >= 3:
            break
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode >= 128, err
    assert "resume with" in err
    state = json.loads(next(sidecars.glob("*.json")).read_text())
    assert len(state["steps"]) >= 3, state
    assert _snapshot(src) == before
    resumed = _lldbisect(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert documented(resumed.stdout)["culprit"]["hexsha"] == hashes[CULPRIT]


@pytest.mark.kernel
@pytest.mark.realbuild
def test_git_bisect_run_with_run_step(failing_kernel: TinyArmBuild, tmp_path: Path) -> None:
    """The predicate under git's own `git bisect run`, in the user's checkout."""
    src = tmp_path / "llvm-project"
    hashes = make_repo(src)
    git = ["git", "-C", str(src)]
    subprocess.run([*git, "bisect", "start", hashes[-1], hashes[0], "--", "lld"], check=True,
                   capture_output=True)
    env = {**os.environ, "LLDBISECT_CACHE": str(tmp_path / "cache"),
           "LLDBISECT_BUILD_CMD": BUILD_CMD.format(counter=tmp_path / "n")}
    script = Path(__file__).resolve().parent.parent / "bisect-scripts" / "bisect-llvm-step"
    done = subprocess.run([*git, "bisect", "run", str(script),
                           str(failing_kernel.build_dir)],
                          capture_output=True, text=True, env=env)
    assert f"{hashes[CULPRIT]} is the first bad commit" in done.stdout, done.stdout[-2000:]


def test_run_step_setup_errors_abort_and_touch_nothing(tmp_path: Path) -> None:
    """Setup errors abort the bisect (>= 128): never 2 (bad) nor 125 (skip every commit)."""
    assert _lldbisect("run-step", "llvm", "--bogus").returncode >= 128
    done = _lldbisect("run-step", "ld", "--ld", "/usr/lib/llvm-16/bin/ld.lld",
                      "--kernel-build", str(tmp_path / "nowhere"))
    assert done.returncode >= 128 and "not a kernel build directory" in done.stderr
    # A directory that is not a kernel build keeps its vmlinux.
    (tmp_path / "vmlinux").write_text("the user's")
    done = _lldbisect("run-step", "ld", "--ld", "/usr/lib/llvm-16/bin/ld.lld",
                      "--kernel-build", str(tmp_path))
    assert done.returncode >= 128 and "not a kernel build directory" in done.stderr
    assert (tmp_path / "vmlinux").read_text() == "the user's"


@pytest.mark.kernel
@pytest.mark.realbuild
def test_run_step_no_such_linker_aborts(failing_kernel: TinyArmBuild) -> None:
    vmlinux = failing_kernel.build_dir / ".tmp_vmlinux.kallsyms1"
    before = vmlinux.stat().st_mtime_ns
    done = _lldbisect("run-step", "ld", "--ld", "/nonexistent/ld.lld",
                      "--kernel-build", str(failing_kernel.build_dir))
    assert done.returncode >= 128 and "no such linker" in done.stderr
    assert vmlinux.stat().st_mtime_ns == before  # nothing relinked


@pytest.mark.kernel
@pytest.mark.realbuild
def test_git_bisect_run_with_a_skip_next_to_the_culprit(failing_kernel: TinyArmBuild,
                                                        tmp_path: Path) -> None:
    """A commit that does not build just before the culprit: git bisect run ends with
    both as candidates, and bisect llvm reports them instead of aborting."""
    broken = ("[lld] Writer: a change that does not build",
              {"lld/ELF/Writer.cpp": "// broken\n", "lld/VERSION": "broken\n"})
    history = [*HISTORY[:CULPRIT], broken, HISTORY[CULPRIT],
               ("[lld] Writer: fix the build", {"lld/ELF/Writer.cpp": "// fixed\n"})]
    src = tmp_path / "llvm-project"
    hashes = commit_history(src, history)
    env = {**os.environ, "LLDBISECT_CACHE": str(tmp_path / "cache"),
           "LLDBISECT_BUILD_CMD": BUILD_CMD.format(counter=tmp_path / "n")}
    git = ["git", "-C", str(src)]
    subprocess.run([*git, "bisect", "start", hashes[-1], hashes[0], "--", "lld"],
                   check=True, capture_output=True)
    script = Path(__file__).resolve().parent.parent / "bisect-scripts" / "bisect-llvm-step"
    done = subprocess.run([*git, "bisect", "run", str(script),
                           str(failing_kernel.build_dir)], capture_output=True, text=True,
                          env=env)
    out = done.stdout + done.stderr
    assert "only 'skip'ped commits left" in out, out[-2000:]
    assert hashes[CULPRIT] in out and hashes[CULPRIT + 1] in out
    subprocess.run([*git, "bisect", "reset"], check=True, capture_output=True)
    report = _lldbisect("bisect", "llvm", "--llvm-src", str(src), "--good", hashes[0],
                        "--bad", hashes[-1], "--kernel-build", str(failing_kernel.build_dir),
                        "--build-cmd", BUILD_CMD.format(counter=tmp_path / "n2"),
                        "--cache-dir", str(tmp_path / "cache2"), "--json")
    assert report.returncode == 1, report.stderr[-2000:]
    doc = documented(report.stdout)
    assert doc["culprit"] is None
    assert sorted(doc["candidates"]) == sorted([hashes[CULPRIT], hashes[CULPRIT + 1]])


@pytest.mark.kernel
@pytest.mark.realbuild
def test_bisect_versions_over_debian_lld(failing_kernel: TinyArmBuild) -> None:
    lds = [f"/usr/lib/llvm-{v}/bin/ld.lld" for v in (22, 13, 19, 15, 14, 16)]
    done = _lldbisect("bisect", "versions", "--kernel-build", str(failing_kernel.build_dir),
                      *[a for ld in lds for a in ("--ld", ld)], "--json")
    assert done.returncode == 0, done.stderr
    doc = documented(done.stdout)
    assert doc["first_bad"]["version"].startswith("16.")
    assert doc["last_good"]["version"].startswith("15.")
    assert doc["new_visible_families"] == ["__ARMv4PILongBXThunk_"]
    assert "--good llvmorg-15." in doc["narrow_with"] and "--bad llvmorg-16." in doc["narrow_with"]
    # lld 13 cannot link objects built for lld >= 14 (ARM group relocations): skipped,
    # not judged on a reconfigured kernel.
    assert doc["skipped"] == ["/usr/lib/llvm-13/bin/ld.lld"] and doc["ambiguous"] == []
    assert len(doc["steps"]) <= 5
