"""``lldbisect hunt``: the whole job in one command, and its ``--demo``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lldbisect.cli.options import (
    launcher_option,
    ld_option,
    output_option,
    timeout_option,
    user_relinker,
    write_output,
)
from lldbisect.cli.status import EXIT_FINDING, EXIT_OK
from lldbisect.errors import InputError

if TYPE_CHECKING:  # the command's modules load when it runs, not with the CLI
    from lldbisect.bisect.hunt import HuntResult
    from lldbisect.kernel.relink import KernelRelinker


def _say(message: str) -> None:
    click.echo(f"lldbisect: {message}", err=True)


@click.command()
@click.option("--demo", is_flag=True,
              help="Prepare Debian's linux-source-6.1 and the tiny ARMv5 build in the cache"
                   " and hunt between the lld releases installed here.")
@click.option("--kernel-build", type=click.Path(path_type=Path),
              help="Your kernel build (an O= directory, built once).")
@ld_option("linkers", multiple=True,
           help="A released linker (repeat; at least a good and a bad one).")
@click.option("--llvm-src", type=click.Path(path_type=Path),
              help="Your LLVM checkout: bisect its commits --good..--bad instead of"
                   " released linkers (in a worktree of our own), and scan the culprit.")
@click.option("--good", help="With --llvm-src: a revision whose lld converges.")
@click.option("--bad", help="With --llvm-src: a revision whose lld does not.")
@click.option("--build-cmd", help="With --llvm-src: a shell command that builds"
                                  " $LLDBISECT_OUT from $LLDBISECT_SRC (default: CMake +"
                                  " Ninja).")
@click.option("--predict/--no-predict", default=True, show_default=True,
              help="With --llvm-src: read the candidates' diffs first and build the"
                   " commit that explains the bad build's names, and its parent, before"
                   " any bisection.")
@launcher_option
@click.option("--make-arg", "make_args", multiple=True, metavar="ARG",
              help="An argument the kernel's make needs, over what is read from the"
                   " build itself (ARCH, LLVM, LLVM_IAS, CROSS_COMPILE).")
@timeout_option
@click.option("--verify", is_flag=True,
              help="Relink with the patched kernel tree and check (always done with"
                   " --demo): at the build's layout, then at other layouts (a sweep, as"
                   " `sweep`, of up to 4 relinks until one fails without the patch; the"
                   " patch relinked at each). The tree is never written to; the build is"
                   " put back.")
@output_option("the patch")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
def hunt(demo: bool, kernel_build: Path | None, linkers: tuple[str, ...],
         llvm_src: Path | None, good: str | None, bad: str | None, build_cmd: str | None,
         predict: bool, launcher: str | None, make_args: tuple[str, ...], timeout: float,
         verify: bool, output: Path | None, as_json: bool) -> None:
    """Find the first bad linker, diagnose the build, and write the patch.

    Between released linkers (--ld, or every lld installed with --demo), or between two
    LLVM revisions (--llvm-src --good --bad), whose culprit commit is also scanned for
    the symbol-name patterns it introduced.

    Exit statuses: 0 a patch that makes the build converge (verified where it could
    be); 1 no patch or it did not verify; 2 bad input; 3 a tool failed.

    \b
    Examples:
      lldbisect hunt --demo
      lldbisect hunt --kernel-build ~/build/arm --ld ld.lld-15 --ld ld.lld-16 \\
          --make-arg ARCH=arm --make-arg LLVM=1 -o 0001-kallsyms.patch
      lldbisect hunt --kernel-build ~/build/arm --llvm-src ~/llvm-project \\
          --good llvmorg-15.0.7 --bad llvmorg-16.0.0
    """

    if llvm_src is not None:
        if kernel_build is None or not good or not bad or demo or linkers:
            raise click.UsageError("--llvm-src needs --kernel-build, --good and --bad"
                                   " (and no --ld or --demo)")
        result = _over_commits(user_relinker(kernel_build, make_args, timeout), llvm_src,
                               good, bad, build_cmd, verify, predict, launcher)
    elif demo:
        from lldbisect.linkers.identity import installed_lld

        lds = installed_lld()
        result = _over_releases(_demo_build(lds), lds, True)
    else:
        if kernel_build is None or len(linkers) < 2:
            raise click.UsageError("give --demo, --kernel-build and two or more --ld,"
                                   " or --kernel-build and --llvm-src")
        result = _over_releases(user_relinker(kernel_build, make_args, timeout),
                                [shutil.which(ld) or ld for ld in linkers], verify)
    proposal = result.proposal
    if output is not None and proposal is not None and proposal.patch:
        write_output(output, proposal.patch)
    from lldbisect.report.hunt import hunt_json, hunt_text

    if as_json:
        click.echo(json.dumps(hunt_json(result), indent=1))
    else:
        click.echo(hunt_text(result), nl=False)
    ok = proposal is not None and proposal.patch is not None and result.verified is not False
    sys.exit(EXIT_OK if ok else EXIT_FINDING)


def _over_releases(relinker: KernelRelinker, lds: list[str], verify: bool) -> HuntResult:
    from lldbisect.bisect.hunt import hunt as run_hunt
    from lldbisect.linkers.identity import release

    versions = [(release(ld), ld) for ld in lds]
    return run_hunt(relinker, versions, progress=_say, verify=verify)


def _over_commits(relinker: KernelRelinker, llvm_src: Path, good: str, bad: str,
                  build_cmd: str | None, verify: bool, predict: bool,
                  launcher: str | None) -> HuntResult:
    from lldbisect.bisect.hunt import hunt_llvm
    from lldbisect.bisect.llvm import LlvmBisectOptions
    from lldbisect.cache import cache_dir

    try:
        return hunt_llvm(relinker, llvm_src, good, bad, cache_root=cache_dir(),
                         options=LlvmBisectOptions(build_cmd=build_cmd, predict=predict,
                                                   launcher=launcher),
                         progress=_say,
                         verify=verify)
    except KeyboardInterrupt:
        from lldbisect.cli.status import EXIT_INTERRUPTED

        _say("interrupted; rerun the same command to resume")
        sys.exit(EXIT_INTERRUPTED)


def _demo_build(lds: list[str]) -> KernelRelinker:
    """The tiny ARMv5 6.1 build in the cache, at a padding the newest lld fails."""
    from lldbisect.kernel.relink import KernelRelinker
    from lldbisect.kernel.repro import TinyArmBuild

    if len(lds) < 2:
        raise InputError(None, "the demo needs two or more Debian lld-N packages"
                               " (run bisect-scripts/setup-machine)")
    build = TinyArmBuild()
    _say(f"preparing {build.package} and the tiny ARMv5 build in the cache"
         " (about two minutes the first time)...")
    first = build.build(build.config_ld or lds[-1])
    if first.returncode:
        raise InputError(None, f"the tiny ARMv5 kernel does not build: {first.log[-500:]}")
    _say(f"built ({first.seconds:.0f} s); looking for a layout where {lds[-1]} fails...")
    found = build.failing_pad(lds[-1])
    if found is None:
        raise InputError(None, f"{lds[-1]} converges at every padding tried: nothing to hunt")
    _say(f"padding {found[0]} bytes: {lds[-1]} says Inconsistent kallsyms data")
    return KernelRelinker(build.build_dir, build.make_args(found[0]), progress=_say)
