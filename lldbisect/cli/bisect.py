"""The bisect commands: ``run-step`` for ``git bisect run``, and ``bisect llvm|kernel|versions``.

Inside a bisect, exit statuses are git's: 0 good, 1 bad, 125 skip, and 128 or more to
abort (lldbisect's own error, a missing tool, a broken cache, an interruption). Never 2,
126 or 127, which git would take for "bad".
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lldbisect.cli.options import (
    at_risk_option,
    launcher_option,
    ld_option,
    timeout_option,
    user_relinker,
)
from lldbisect.cli.status import EXIT_FINDING, EXIT_INTERRUPTED, EXIT_OK, EXIT_SKIP, step_status
from lldbisect.errors import InputError
from lldbisect.linkers.identity import release


def _say(message: str) -> None:
    click.echo(f"lldbisect: {message}", err=True)


def _cache_root(given: Path | None) -> Path:
    from lldbisect.cache import cache_dir

    return given or cache_dir()


kernel_options = [
    click.option("--kernel-build", required=True, type=click.Path(path_type=Path),
                 help="A built kernel: its objects stay, only the link stages rerun."),
    click.option("--make-arg", "make_args", multiple=True, metavar="ARG",
                 help="An argument the kernel's make needs, over what is read from the"
                      " build itself (ARCH, LLVM, LLVM_IAS, CROSS_COMPILE)."),
    timeout_option,
    at_risk_option("Count an at-risk build as good (default: bad, since a layout"
                   " change can break it)."),
]


F = TypeVar("F", bound=Callable[..., Any])


def with_kernel_options(f: F) -> F:
    for option in reversed(kernel_options):
        f = option(f)
    return f


@click.group("run-step")
def run_step() -> None:
    """One `git bisect run` step: exit 0 good, 1 bad, 125 skip, >=128 abort.

    \b
    Example (in an LLVM checkout, with a kernel built once):
      git bisect start llvmorg-16-init llvmorg-15.0.0 -- lld
      git bisect run lldbisect run-step llvm --kernel-build ~/build/arm
    """


@run_step.command("llvm")
@click.option("--build-dir", type=click.Path(path_type=Path),
              help="Where lld is built (kept between steps); default: in the cache.")
@click.option("--build-cmd", help="A shell command that builds $LLDBISECT_OUT from"
                                  " $LLDBISECT_SRC, instead of CMake + Ninja.")
@click.option("--targets", default="ARM", help="LLVM_TARGETS_TO_BUILD.")
@launcher_option
@with_kernel_options
def run_step_llvm(build_dir: Path | None, build_cmd: str | None, targets: str,
                  launcher: str | None, kernel_build: Path, make_args: tuple[str, ...],
                  timeout: float, at_risk_ok: bool) -> None:
    """Build lld at the current commit of the LLVM checkout here, relink, judge."""
    from lldbisect.bisect.builders.cache import LinkerCache
    from lldbisect.bisect.builders.launcher import resolve_launcher
    from lldbisect.bisect.builders.llvm import LlvmBuilder, LlvmRecipe
    from lldbisect.bisect.gitrepo import Worktree, open_repo
    from lldbisect.bisect.steps import judge

    # Setup errors first, before a build: they abort the bisect (>= 128), never skip.
    relinker = user_relinker(kernel_build, make_args, timeout)
    repo = open_repo(Path.cwd())
    root = _cache_root(None)
    wt = Worktree.existing(repo)  # the user's checkout, at the commit git chose
    build = build_dir or root / "llvm-build" / "run-step"
    chosen = resolve_launcher(launcher, Path(os.path.commonpath([wt.path.resolve(),
                                                                 build.resolve()])))
    _say(f"compiler launcher: {chosen.why}")
    builder = LlvmBuilder(wt, build, LinkerCache(root / "linkers"),
                          LlvmRecipe(targets=targets, command=build_cmd), chosen)
    before = chosen.stats()
    built = builder.linker_for("HEAD")
    after = chosen.stats()
    if before is not None and after is not None and not built.cache_hit:
        counts = after.minus(before)
        _say(f"{chosen.name}: {counts.hits} hits, {counts.misses} misses")
    if built.failed or built.linker is None:
        _say(f"lld did not build: skip\n{built.log[-800:]}")
        sys.exit(EXIT_SKIP)
    outcome = judge(relinker, str(built.linker), at_risk_bad=not at_risk_ok)
    _say(f"{outcome.verdict.value}: {outcome.reason}")
    sys.exit(step_status(outcome.verdict))


@run_step.command("ld")
@ld_option(required=True, help="The linker to judge.")
@with_kernel_options
def run_step_ld(ld: str, kernel_build: Path, make_args: tuple[str, ...], timeout: float,
                at_risk_ok: bool) -> None:
    """Relink with a given linker and judge (for kernel bisects and reproducers)."""
    from lldbisect.bisect.steps import judge

    relinker = user_relinker(kernel_build, make_args, timeout)
    release(ld)  # no such linker: a setup error, which aborts (>= 128)
    outcome = judge(relinker, ld, at_risk_bad=not at_risk_ok)
    _say(f"{outcome.verdict.value}: {outcome.reason}")
    sys.exit(step_status(outcome.verdict))


@click.group()
def bisect() -> None:
    """Find the change that broke convergence: over LLVM or kernel commits, or linker
    releases."""


@bisect.command("llvm")
@click.option("--llvm-src", required=True, type=click.Path(path_type=Path),
              help="Your LLVM checkout (left untouched: the bisect runs in a worktree).")
@click.option("--good", required=True, help="A revision whose lld converges.")
@click.option("--bad", required=True, help="A revision whose lld does not.")
@click.option("--pathspec", multiple=True, default=("lld",), show_default=True,
              help="Only commits touching these paths are tested.")
@click.option("--key-path", "key_paths", multiple=True, default=("lld", "llvm"),
              show_default=True, help="Paths whose content decides the built linker.")
@click.option("--build-cmd", help="A shell command that builds $LLDBISECT_OUT from"
                                  " $LLDBISECT_SRC, instead of CMake + Ninja.")
@click.option("--targets", default=None, help="LLVM_TARGETS_TO_BUILD (default: from the"
                                              " kernel's architecture).")
@click.option("--retries", default=1, show_default=True,
              help="Test the culprit and its parent this many times each.")
@click.option("--predict/--no-predict", default=True, show_default=True,
              help="Read the candidates' diffs first and build the commit that explains"
                   " the bad build's names, and its parent, before any bisection.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Default: the cache.")
@launcher_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_kernel_options
def bisect_llvm(llvm_src: Path, good: str, bad: str, pathspec: tuple[str, ...],
                key_paths: tuple[str, ...], build_cmd: str | None, targets: str | None,
                retries: int, predict: bool, cache_dir: Path | None, launcher: str | None,
                as_json: bool, kernel_build: Path, make_args: tuple[str, ...],
                timeout: float, at_risk_ok: bool) -> None:
    """Bisect LLVM commits to the one that broke the kernel's kallsyms link.

    First reads every candidate commit's diff (scan-commit) for a name pattern it adds
    or renames that covers the names the bad build shows; that commit and its parent
    are built first, and parent good and commit bad confirm it in two builds. Otherwise
    (no such commit, or refuted) it bisects, keeping those verdicts. Builds lld only
    (CMake + Ninja, a compiler launcher when installed), caches each linker by the
    content of --key-path, relinks --kernel-build with it (seconds per step), and
    confirms the culprit. Interrupted, it prints the command that resumes.

    \b
    Example:
      lldbisect bisect llvm --llvm-src ~/llvm-project --good llvmorg-15.0.7 \\
          --bad llvmorg-16.0.0 --kernel-build ~/build/arm
    """
    from lldbisect.bisect.llvm import LlvmBisectOptions, llvm_bisect

    relinker = user_relinker(kernel_build, make_args, timeout)
    options = LlvmBisectOptions(pathspec, key_paths, build_cmd, targets, retries,
                                at_risk_bad=not at_risk_ok, predict=predict,
                                launcher=launcher)
    try:
        result, builder = llvm_bisect(llvm_src, good, bad, relinker, _cache_root(cache_dir),
                                      options, lambda e: _say(e.message))
    except KeyboardInterrupt:
        _say("interrupted; resume with:\n  " + shlex.join(["lldbisect", *sys.argv[1:]]))
        sys.exit(EXIT_INTERRUPTED)
    _report(result.to_json(), as_json, builds=builder.builds)
    sys.exit(EXIT_OK if result.culprit is not None else EXIT_FINDING)


@bisect.command("kernel")
@click.option("--kernel", "--kernel-src", "kernel_src", required=True,
              type=click.Path(path_type=Path),
              help="Your kernel repository (left untouched: the bisect runs in a worktree).")
@click.option("--good", required=True, help="A kernel revision that converges.")
@click.option("--bad", required=True, help="A kernel revision that does not.")
@ld_option(required=True, help="The linker, fixed for every step.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A .config every commit is built with (through olddefconfig).")
@click.option("--defconfig", default="defconfig", show_default=True,
              help="The config target when no --config is given.")
@click.option("--make-arg", "make_args", multiple=True, metavar="ARG",
              help="An argument the kernel's make needs (ARCH=arm, LLVM=1, ...).")
@click.option("--pathspec", multiple=True, default=(), help="Only commits touching these"
                                                            " paths are tested (default: all).")
@click.option("--retries", default=1, show_default=True,
              help="Test the culprit and its parent this many times each.")
@at_risk_option("Count an at-risk build as good (default: bad).")
@click.option("--predict/--no-predict", default=True, show_default=True,
              help="Read the rule changes first and build the commit after which the"
                   " tree's rules stop hiding the bad build's names, and its parent,"
                   " before any bisection.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Default: the cache.")
@launcher_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bisect_kernel(kernel_src: Path, good: str, bad: str, ld: str, config_file: Path | None,
                  defconfig: str, make_args: tuple[str, ...], pathspec: tuple[str, ...],
                  retries: int, at_risk_ok: bool, predict: bool, cache_dir: Path | None,
                  launcher: str | None, as_json: bool) -> None:
    """Bisect kernel commits, the linker fixed, to the one that broke the kallsyms link.

    Each step checks the commit out in a worktree of lldbisect's, builds it out of tree
    in one persistent build directory (kbuild rebuilds what changed; ccache when
    installed) with the same configuration, and judges it with `check`. A commit whose
    kernel does not build is skipped. First, the commits that change the kernel's rule
    files (scripts/kallsyms.c, mksysmap, link-vmlinux.sh) are read with lldbisect's rule
    reader, at each commit and its parent: one after which the rules stop hiding the bad
    build's names is built first, with its parent. Interrupted, it prints the command
    that resumes.

    \b
    Example:
      lldbisect bisect kernel --kernel-src ~/linux --good v6.0 --bad v6.1 \\
          --ld ld.lld-16 --config ~/build/arm/.config --make-arg ARCH=arm \\
          --make-arg LLVM=1
    """
    from lldbisect.bisect.kernel import KernelBisectOptions, kernel_bisect

    options = KernelBisectOptions(config_file, defconfig, make_args, pathspec, retries,
                                  at_risk_bad=not at_risk_ok, predict=predict,
                                  launcher=launcher)
    try:
        result, builder = kernel_bisect(kernel_src, good, bad, shutil.which(ld) or ld,
                                        _cache_root(cache_dir), options,
                                        lambda e: _say(e.message))
    except KeyboardInterrupt:
        _say("interrupted; resume with:\n  " + shlex.join(["lldbisect", *sys.argv[1:]]))
        sys.exit(EXIT_INTERRUPTED)
    _report(result.to_json(), as_json, builds=builder.builds, what="kernel configurations")
    sys.exit(EXIT_OK if result.culprit is not None else EXIT_FINDING)


def _report(doc: dict[str, Any], as_json: bool, builds: int,
            what: str = "linker builds") -> None:
    from lldbisect.report.bisect import commit_bisect_text

    doc["linker_builds"] = builds
    click.echo(json.dumps(doc, indent=1) if as_json else commit_bisect_text(doc, builds, what),
               nl=as_json)


@bisect.command("versions")
@ld_option("linkers", multiple=True, required=True,
           help="A released linker (repeat): ordered by its --version.")
@click.option("--llvm-src", type=click.Path(path_type=Path),
              help="Your LLVM checkout, for the `bisect llvm` command that narrows further.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_kernel_options
def bisect_versions(linkers: tuple[str, ...], llvm_src: Path | None, as_json: bool,
                    kernel_build: Path, make_args: tuple[str, ...], timeout: float,
                    at_risk_ok: bool) -> None:
    """Bisect released linkers: the first bad release, the last good one.

    \b
    Example:
      lldbisect bisect versions --kernel-build ~/build/arm \\
          --ld ld.lld-13 --ld ld.lld-14 --ld ld.lld-15 --ld ld.lld-16 --ld ld.lld-19
    """
    from lldbisect.bisect.releases import bisect_releases
    from lldbisect.report.bisect import versions_json, versions_text

    relinker = user_relinker(kernel_build, make_args, timeout)
    try:
        found = bisect_releases(relinker, [(release(ld), ld) for ld in linkers],
                                at_risk_bad=not at_risk_ok,
                                progress=lambda step: _say(step.progress_line()))
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    if found.last_good is None:
        raise InputError(None, f"{found.no_good}: nothing to bisect")
    (_good_ld, good_v), (_bad_ld, bad_v) = found.last_good, found.first_bad
    command = shlex.join(["lldbisect", "bisect", "llvm", "--llvm-src",
                          str(llvm_src or "LLVM_CHECKOUT"), "--good", f"llvmorg-{good_v}",
                          "--bad", f"llvmorg-{bad_v}", "--kernel-build", str(kernel_build)])
    if as_json:
        click.echo(json.dumps(versions_json(found, command), indent=1))
    else:
        click.echo(versions_text(found, command), nl=False)
