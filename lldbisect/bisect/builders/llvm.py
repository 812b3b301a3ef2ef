"""Build ``ld.lld`` from an LLVM revision: CMake + Ninja, lld only, or a recipe of yours.

The default recipe is what a bisect wants: ``-DLLVM_ENABLE_PROJECTS=lld``, only the
targets the kernel's architecture needs, Release, ``-DLLVM_APPEND_VC_REV=OFF`` (else every
commit rebuilds thousands of files), the compiler launcher (``launcher.py``), and
``ninja lld`` in a build directory kept between steps. A ``command`` recipe replaces it
(the tests' recipe picks a Debian ``ld.lld-N``; a site can call its own build farm).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from lldbisect.arch import by_kernel_arch, by_machine
from lldbisect.bisect.builders.cache import LinkerCache
from lldbisect.bisect.builders.launcher import Launcher
from lldbisect.bisect.gitrepo import Worktree
from lldbisect.errors import ToolError

__all__ = ["BuildOutcome", "LlvmBuilder", "LlvmRecipe", "cmake_command", "ninja_command",
           "targets_for"]

def targets_for(arch: str) -> str:
    """LLVM_TARGETS_TO_BUILD for a kernel ``ARCH`` or an ELF machine (X86 if unknown)."""
    row = by_kernel_arch(arch) or by_machine(arch)
    return row.llvm_target if row else "X86"


@dataclass(frozen=True)
class LlvmRecipe:
    targets: str = "ARM"
    build_type: str = "Release"
    launcher: str = ""  # the CMake compiler launcher ("": none); the builder sets it
    extra: tuple[str, ...] = ()
    command: str | None = None  # a shell command instead of CMake + Ninja
    key_paths: tuple[str, ...] = ("lld", "llvm")
    timeout: float = 12 * 3600.0  # a cold LLVM build on two cores takes most of an hour


def cmake_command(src: Path, build: Path, recipe: LlvmRecipe) -> list[str]:
    argv = ["cmake", "-G", "Ninja", "-S", str(src / "llvm"), "-B", str(build),
            "-DLLVM_ENABLE_PROJECTS=lld", f"-DLLVM_TARGETS_TO_BUILD={recipe.targets}",
            f"-DCMAKE_BUILD_TYPE={recipe.build_type}", "-DLLVM_APPEND_VC_REV=OFF",
            "-DLLVM_ENABLE_ASSERTIONS=OFF", "-DLLVM_INCLUDE_TESTS=OFF",
            "-DLLVM_INCLUDE_BENCHMARKS=OFF", "-DLLVM_INCLUDE_EXAMPLES=OFF"]
    # Always set, empty for none: a build directory keeps the last one in its cache.
    argv += [f"-DCMAKE_C_COMPILER_LAUNCHER={recipe.launcher}",
             f"-DCMAKE_CXX_COMPILER_LAUNCHER={recipe.launcher}"]
    return argv + list(recipe.extra)


def ninja_command(build: Path, jobs: int | None = None) -> list[str]:
    return ["ninja", "-C", str(build), *([f"-j{jobs}"] if jobs else []), "lld"]


@dataclass(frozen=True)
class BuildOutcome:
    """A linker for one revision, or why there is none (``failed``: a skip)."""

    linker: Path | None
    cache_hit: bool
    seconds: float
    failed: bool
    log: str = ""
    key: str = field(default="")


def _compiler_version() -> str:
    for cc in ("c++", "clang++", "g++"):
        if shutil.which(cc):
            out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
            return out.splitlines()[0] if out else cc
    return "no compiler"


class LlvmBuilder:
    """Linkers for the revisions of one LLVM worktree, built once each, cached by content."""

    def __init__(self, worktree: Worktree, build_dir: Path, cache: LinkerCache,
                 recipe: LlvmRecipe, launcher: Launcher | None = None) -> None:
        self.wt = worktree
        self.build_dir = build_dir
        self.cache = cache
        self.launcher = launcher or Launcher("none", None, "none")
        self.recipe = replace(recipe, launcher=self.launcher.name if self.launcher.path
                              else "")
        self.builds = 0

    def key(self, rev: str) -> str:
        # Without the launcher: it changes how fast lld builds, not the lld it builds.
        r = replace(self.recipe, launcher="")
        flags = (r.command or " ".join(cmake_command(Path("SRC"), Path("BUILD"), r)))
        return "|".join([self.wt.tree_hash(rev, list(r.key_paths)), flags,
                         _compiler_version()])

    def linker_for(self, rev: str) -> BuildOutcome:
        """Build (or take from the cache) ``ld.lld`` at ``rev``. Raises ToolError when a
        tool is missing (an abort, not a skip)."""
        key = self.key(rev)
        start = time.monotonic()
        cached = self.cache.get(key)
        if cached is not None:
            return BuildOutcome(cached, True, time.monotonic() - start, False, key=key)
        failed_before = self.cache.failed(key)
        if failed_before is not None:
            return BuildOutcome(None, True, time.monotonic() - start, True, failed_before, key)
        self.wt.checkout(rev)
        self.build_dir.mkdir(parents=True, exist_ok=True)
        out = self.build_dir / "bin" / "ld.lld"
        if self.recipe.command:
            env = {**os.environ, **self.launcher.env, "LLDBISECT_LAUNCHER":
                   self.recipe.launcher, "LLDBISECT_SRC": str(self.wt.path),
                   "LLDBISECT_BUILD": str(self.build_dir), "LLDBISECT_OUT": str(out)}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.unlink(missing_ok=True)
            steps = [["sh", "-c", self.recipe.command]]
        else:
            for tool in ("cmake", "ninja"):
                if shutil.which(tool) is None:
                    raise ToolError(f"{tool} not found: building lld needs CMake and Ninja")
            steps = [cmake_command(self.wt.path, self.build_dir, self.recipe),
                     ninja_command(self.build_dir, self.launcher.jobs)]
            env = {**os.environ, **self.launcher.env}
        log = []
        self.builds += 1
        for argv in steps:
            try:
                done = subprocess.run(argv, cwd=self.wt.path, env=env, capture_output=True,
                                      text=True, errors="replace", timeout=self.recipe.timeout)
            except subprocess.TimeoutExpired:
                # Not cached as failed: with more time it may build. A skip, never bad.
                return BuildOutcome(None, False, time.monotonic() - start, True,
                                    f"timed out after {self.recipe.timeout:.0f} s: {argv[0]}",
                                    key)
            log.append(done.stdout + done.stderr)
            if done.returncode:
                self.cache.mark_failed(key, "\n".join(log)[-4000:])
                return BuildOutcome(None, False, time.monotonic() - start, True,
                                    "\n".join(log)[-4000:], key)
        if not out.exists():
            self.cache.mark_failed(key, f"the build made no {out}")
            return BuildOutcome(None, False, time.monotonic() - start, True,
                                f"the build made no {out}", key)
        stored = self.cache.put(key, out, {"revision": rev})
        return BuildOutcome(stored, False, time.monotonic() - start, False,
                            "\n".join(log)[-4000:], key)
