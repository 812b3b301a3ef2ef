"""A bisect over LLVM commits, put together: the user's repository in a worktree of
our own, the lld builder and its cache, and the relink-and-check predicate.

Shared by ``bisect llvm`` and ``hunt --llvm-src``; the policy itself is ``policy.py``'s.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lldbisect.bisect.builders.cache import LinkerCache
from lldbisect.bisect.builders.launcher import resolve_launcher
from lldbisect.bisect.builders.llvm import LlvmBuilder, LlvmRecipe, targets_for
from lldbisect.bisect.gitrepo import Worktree, open_repo, repo_tag
from lldbisect.bisect.policy import Bisector, BisectResult, Event, Step
from lldbisect.bisect.predict import Prediction, predict_llvm, scan_progress
from lldbisect.bisect.steps import judge
from lldbisect.errors import InputError
from lldbisect.kernel.relink import KernelRelinker

__all__ = ["LlvmBisectOptions", "kernel_arch", "llvm_bisect"]


@dataclass(frozen=True)
class LlvmBisectOptions:
    pathspec: tuple[str, ...] = ("lld",)
    key_paths: tuple[str, ...] = ("lld", "llvm")
    build_cmd: str | None = None
    targets: str | None = None
    retries: int = 1
    at_risk_bad: bool = True
    predict: bool = True  # scan the candidates' diffs first (--no-predict: off)
    launcher: str | None = None  # --launcher; None: ccache when installed


def kernel_arch(build: Path) -> str:
    """The machine of the build's vmlinux.o (what lld must target); arm by default."""
    from lldbisect.elf.reader import read_symbols

    obj = build / "vmlinux.o"
    if obj.exists():
        try:
            return read_symbols(obj).machine
        except InputError:
            pass
    return "arm"


def llvm_bisect(llvm_src: Path, good: str, bad: str, relinker: KernelRelinker,
                cache_root: Path, options: LlvmBisectOptions,
                events: Callable[[Event], None]) -> tuple[BisectResult, LlvmBuilder]:
    """Bisect ``good..bad`` of the LLVM checkout at ``llvm_src``; the builder gives the
    culprit's (cached) linker. Raises InputError (not a repository, wrong endpoints),
    ToolError; KeyboardInterrupt leaves a state that a rerun resumes."""
    repo = open_repo(llvm_src)
    tag = repo_tag(repo)
    # Source and build side by side, the same for every checkout: relative to the
    # build directory the sources are at ../src, and a compiler cache whose base is
    # their parent hits across bisects of different checkouts.
    top = cache_root / "llvm" / tag
    launcher = resolve_launcher(options.launcher, top)
    wt = Worktree(repo, top / "src")
    recipe = LlvmRecipe(targets=options.targets or targets_for(kernel_arch(
        relinker.build_dir)), command=options.build_cmd, key_paths=options.key_paths)
    builder = LlvmBuilder(wt, top / "build", LinkerCache(cache_root / "linkers"), recipe,
                          launcher)
    events(Event("start", f"compiler launcher: {launcher.why}"))

    def predict(good: str, bad: str, bad_step: Step) -> Prediction:
        return predict_llvm(llvm_src, good, bad, options.pathspec,
                            [n for n, _ in bad_step.signature], scan_progress(events))

    bisector = Bisector(wt, builder.linker_for,
                        lambda ld: judge(relinker, ld, at_risk_bad=options.at_risk_bad),
                        events, cache_root / "bisect" / f"{tag}.json", options.retries,
                        predict=predict if options.predict else None, launcher=launcher)
    result = bisector.run(good, bad, list(options.pathspec))
    if result.culprit is not None:
        culprit_build = builder.linker_for(result.culprit.hexsha)
        result.reproducer = shlex.join(
            ["lldbisect", "run-step", "ld", "--ld", str(culprit_build.linker),
             "--kernel-build", str(relinker.build_dir),
             *[f"--make-arg={a}" for a in relinker.make_args]])
    return result, builder
