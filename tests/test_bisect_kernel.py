"""bisect kernel and bisect-scripts/bisect-kernel-step over a real 6.1 history, lld 16
fixed, on the tiny ARMv5 configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lldbisect.kernel.repro import TinyArmBuild
from tests.kernelrepo import CULPRIT, SUBJECTS, make_kernel_repo
from tests.schemas import documented

pytestmark = [pytest.mark.kernel, pytest.mark.realbuild]
LD = "/usr/lib/llvm-16/bin/ld.lld"
SCRIPT = Path(__file__).resolve().parent.parent / "bisect-scripts" / "bisect-kernel-step"


@pytest.fixture(scope="module")
def history(tiny_arm: TinyArmBuild, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, list[str]]:
    repo = tmp_path_factory.mktemp("linux") / "linux"
    return repo, make_kernel_repo(tiny_arm.tree, repo)


def test_bisect_kernel_finds_the_commit_then_git_bisect_run_agrees(
        tiny_arm: TinyArmBuild, history: tuple[Path, list[str]], tmp_path: Path) -> None:
    git_dir, hashes = history
    status_before = subprocess.run(["git", "-C", str(git_dir), "status", "--porcelain"],
                                   capture_output=True, text=True).stdout
    head_before = (git_dir / ".git" / "HEAD").read_text()
    found = tiny_arm.failing_pad(LD)  # a layout at which lld 16 fails, found here
    assert found is not None
    make_args = tiny_arm.make_args(found[0])
    cache = tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-m", "lldbisect", "bisect", "kernel", "--kernel-src", str(git_dir),
         "--good", hashes[0], "--bad", hashes[-1], "--ld", LD, "--config",
         str(tiny_arm.build_dir / ".config"), *[f"--make-arg={a}" for a in make_args],
         "--cache-dir", str(cache), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    report = documented(done.stdout)
    assert report["culprit"]["hexsha"] == hashes[CULPRIT]
    assert report["culprit"]["subject"] == SUBJECTS[CULPRIT]
    assert report["confirmed"] and not report["noop"]
    assert report["culprit_check"]["verdict"] in ("diverged", "at-risk")
    # Predicted: the rules read at the culprit and its parent, from git's objects.
    assert report["found_by"] == "predicted", report["prediction"]
    assert [c["hexsha"] for c in report["prediction"]["candidates"]] == [hashes[CULPRIT]]
    assert "stops hiding __ARMv4PILongBXThunk_" in (
        report["prediction"]["candidates"][0]["why"])
    assert "candidate commits" in done.stderr and "steps" in done.stderr  # progress
    # The user's repository: no new branch, no change in its status.
    after = subprocess.run(["git", "-C", str(git_dir), "status", "--porcelain"],
                           capture_output=True, text=True).stdout
    assert after == status_before and (git_dir / ".git" / "HEAD").read_text() == head_before
    # The ready script under a real `git bisect run`, in lldbisect's worktree and build.
    top = next((cache / "kernel").iterdir())
    worktree, build = top / "src", top / "build"

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(worktree), *args], capture_output=True,
                              text=True)

    git("bisect", "start", hashes[-1], hashes[0])
    run = git("bisect", "run", str(SCRIPT), str(build), LD, *make_args)
    git("bisect", "reset")
    assert f"{hashes[CULPRIT]} is the first bad commit" in run.stdout, run.stdout[-3000:]
