"""A bisect over kernel commits, put together: the user's repository in a worktree of
our own, one persistent out-of-tree build directory, the linker fixed, and the
relink-and-check predicate. The policy itself is ``policy.py``'s."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lldbisect.bisect.builders.kernel import KernelBuilder
from lldbisect.bisect.builders.launcher import resolve_launcher
from lldbisect.bisect.gitrepo import Worktree, open_repo, repo_tag
from lldbisect.bisect.policy import Bisector, BisectResult, Event, Step
from lldbisect.bisect.predict import Prediction, predict_kernel, scan_progress
from lldbisect.bisect.steps import judge
from lldbisect.errors import InputError
from lldbisect.kernel.buildconfig import arch_of_config
from lldbisect.kernel.relink import KernelRelinker
from lldbisect.linkers.identity import release

__all__ = ["KernelBisectOptions", "kernel_bisect"]


@dataclass(frozen=True)
class KernelBisectOptions:
    config_file: Path | None = None  # every commit is built with it (olddefconfig)
    defconfig: str = "defconfig"  # else this config target
    make_args: tuple[str, ...] = ()
    pathspec: tuple[str, ...] = ()
    retries: int = 1
    at_risk_bad: bool = True
    predict: bool = True  # read the rule changes first (--no-predict: off)
    launcher: str | None = None  # --launcher; None: ccache when installed


def kernel_bisect(kernel_src: Path, good: str, bad: str, ld: str, cache_root: Path,
                  options: KernelBisectOptions, events: Callable[[Event], None]
                  ) -> tuple[BisectResult, KernelBuilder]:
    """Bisect ``good..bad`` of the kernel repository at ``kernel_src`` with linker
    ``ld``. Raises InputError (no such config file, not a repository, a linker that
    does not run, wrong endpoints), ToolError; KeyboardInterrupt leaves a state that a
    rerun resumes."""
    if options.config_file is not None and not options.config_file.is_file():
        raise InputError(options.config_file, "no such file")
    repo = open_repo(kernel_src)
    release(ld)  # a linker that does not run is the user's to fix, up front
    tag = repo_tag(repo)
    # Source and build side by side, as for LLVM (``llvm.py``): kbuild sees srctree at
    # ../src, and a compiler cache based at their parent hits across checkouts.
    top = cache_root / "kernel" / tag
    launcher = resolve_launcher(options.launcher, top)
    events(Event("start", f"compiler launcher: {launcher.why}"))
    wt = Worktree(repo, top / "src")
    make_args = list(options.make_args)
    # The configuration names its architecture: a build for another one is not a bisect.
    arch = None if options.config_file is None else arch_of_config(options.config_file)
    if arch is not None and not any(a.startswith("ARCH=") for a in make_args):
        make_args.insert(0, f"ARCH={arch}")
    builder = KernelBuilder(wt, top / "build", ld, make_args, options.config_file,
                            options.defconfig, launcher)
    relinker = KernelRelinker(builder.build_dir, builder.make_args, config_ld=ld,
                              builds=True, timeout=6 * 3600.0)  # a whole kernel build

    def predict(good: str, bad: str, bad_step: Step) -> Prediction:
        return predict_kernel(kernel_src, good, bad, bad_step.signature,
                              scan_progress(events))

    bisector = Bisector(wt, builder.prepare,
                        lambda linker: judge(relinker, linker, at_risk_bad=options.at_risk_bad),
                        events, cache_root / "bisect" / f"kernel-{tag}.json",
                        options.retries, noop_check=False,
                        predict=predict if options.predict else None, launcher=launcher)
    result = bisector.run(good, bad, list(options.pathspec))
    if result.culprit is not None:
        result.reproducer = (f"git -C {shlex.quote(str(wt.path))} checkout"
                             f" {result.culprit.hexsha} && " + shlex.join(
                                 ["lldbisect", "run-step", "ld", "--ld", ld, "--kernel-build",
                                  str(builder.build_dir),
                                  *[f"--make-arg={a}" for a in builder.make_args]]))
    return result, builder
