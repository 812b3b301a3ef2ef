"""``lldbisect hunt``: the whole job in one command, and its ``--demo``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lldbisect.errors import InputError

if TYPE_CHECKING:  # the command's modules load when it runs, not with the CLI
    from lldbisect.hunt import HuntResult
    from lldbisect.steps import KernelRelinker


def _say(message: str) -> None:
    click.echo(f"lldbisect: {message}", err=True)


@click.command()
@click.option("--demo", is_flag=True,
              help="Prepare Debian's linux-source-6.1 and the tiny ARMv5 build in the cache"
                   " and hunt between the lld releases installed here.")
@click.option("--kernel-build", type=click.Path(path_type=Path),
              help="Your kernel build (an O= directory, built once).")
@click.option("--ld", "linkers", multiple=True,
              help="A released linker (repeat; at least a good and a bad one).")
@click.option("--llvm-src", type=click.Path(path_type=Path),
              help="Your LLVM checkout: bisect its commits --good..--bad instead of"
                   " released linkers (in a worktree of our own), and scan the culprit.")
@click.option("--good", help="With --llvm-src: a revision whose lld converges.")
@click.option("--bad", help="With --llvm-src: a revision whose lld does not.")
@click.option("--build-cmd", help="With --llvm-src: a shell command that builds"
                                  " $LLDBISECT_OUT from $LLDBISECT_SRC (default: CMake +"
                                  " Ninja).")
@click.option("--make-arg", "make_args", multiple=True, metavar="ARG",
              help="An argument the kernel's make needs (ARCH=arm, LLVM=...).")
@click.option("--verify", is_flag=True,
              help="Apply the patch to the kernel tree, relink and check, then revert"
                   " (always done with --demo, whose tree is lldbisect's).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the patch here.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
def hunt(demo: bool, kernel_build: Path | None, linkers: tuple[str, ...],
         llvm_src: Path | None, good: str | None, bad: str | None, build_cmd: str | None,
         make_args: tuple[str, ...], verify: bool, output: Path | None,
         as_json: bool) -> None:
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
    from lldbisect.steps import KernelRelinker

    if llvm_src is not None:
        if kernel_build is None or not good or not bad or demo or linkers:
            raise click.UsageError("--llvm-src needs --kernel-build, --good and --bad"
                                   " (and no --ld or --demo)")
        result = _over_commits(KernelRelinker.of_build(kernel_build, make_args), llvm_src,
                               good, bad, build_cmd, verify)
    elif demo:
        from lldbisect.linkerid import installed_lld

        lds = installed_lld()
        result = _over_releases(_demo_build(lds), lds, True)
    else:
        if kernel_build is None or len(linkers) < 2:
            raise click.UsageError("give --demo, --kernel-build and two or more --ld,"
                                   " or --kernel-build and --llvm-src")
        result = _over_releases(KernelRelinker.of_build(kernel_build, make_args),
                                [shutil.which(ld) or ld for ld in linkers], verify)
    proposal = result.proposal
    if output is not None and proposal is not None and proposal.patch:
        output.write_text(proposal.patch)
        _say(f"wrote {output}")
    if as_json:
        click.echo(json.dumps(_json(result), indent=1))
    else:
        click.echo(_text(result), nl=False)
    ok = proposal is not None and proposal.patch is not None and result.verified is not False
    sys.exit(0 if ok else 1)


def _over_releases(relinker: KernelRelinker, lds: list[str], verify: bool) -> HuntResult:
    from lldbisect.hunt import hunt as run_hunt
    from lldbisect.linkerid import release

    versions = [(release(ld), ld) for ld in lds]
    return run_hunt(relinker, versions, progress=_say, tree_is_ours=verify)


def _over_commits(relinker: KernelRelinker, llvm_src: Path, good: str, bad: str,
                  build_cmd: str | None, verify: bool) -> HuntResult:
    from lldbisect import debsource
    from lldbisect.hunt import hunt_llvm
    from lldbisect.llvmbisect import LlvmBisectOptions

    try:
        return hunt_llvm(relinker, llvm_src, good, bad, cache_root=debsource.cache_dir(),
                         options=LlvmBisectOptions(build_cmd=build_cmd), progress=_say,
                         tree_is_ours=verify)
    except KeyboardInterrupt:
        from lldbisect.cli_bisect import EXIT_INTERRUPTED

        _say("interrupted; rerun the same command to resume")
        sys.exit(EXIT_INTERRUPTED)


def _json(result: HuntResult) -> dict[str, Any]:
    from lldbisect.cli_scan import item_json
    from lldbisect.report import check_json

    proposal = result.proposal
    return {"schema": "lldbisect.hunt/1", "last_good": result.last_good,
            "first_bad": result.first_bad, "tested": result.tested,
            "skipped": result.skipped,
            "diagnosis": check_json(result.diagnosis) if result.diagnosis else None,
            "patch": proposal.patch if proposal else None,
            "no_patch_reason": proposal.reason if proposal else None,
            "verified": result.verified, "verify_detail": result.verify_detail,
            "bisect": result.bisect.to_json() if result.bisect else None,
            "scan": [item_json(i) for i in result.scan]}


def _text(result: HuntResult) -> str:
    from lldbisect.cli_scan import scan_text
    from lldbisect.report import check_text

    out = []
    if result.bisect is not None:
        culprit = result.bisect.culprit
        out.append(f"culprit: {culprit.hexsha} {culprit.subject}\n" if culprit else
                   "no single culprit; candidates: "
                   + " ".join(c[:12] for c in result.bisect.candidates) + "\n")
        if result.scan:
            kernels = [result.diagnosis.rules.version] if result.diagnosis else []
            out.append(scan_text(result.scan, kernels, True))
    for label, which in (("last good", result.last_good), ("first bad", result.first_bad)):
        if which is not None:
            out.append(f"{label}: {which[0]} ({which[1]})\n")
    if result.skipped:
        out.append(f"could not link this build (skipped): {', '.join(result.skipped)}\n")
    if result.diagnosis is not None:
        out.append(check_text(result.diagnosis))
    proposal = result.proposal
    if proposal is not None and proposal.patch:
        if result.verified is not None:
            out.append(f"verified: {result.verify_detail}\n")
        out.append("\n" + proposal.patch)
    elif proposal is not None:
        out.append(proposal.reason + "\n")
    return "".join(out)


def _demo_build(lds: list[str]) -> KernelRelinker:
    """The tiny ARMv5 6.1 build in the cache, at a padding the newest lld fails."""
    from lldbisect.repro import TinyArmBuild
    from lldbisect.steps import KernelRelinker

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
    return KernelRelinker(build.build_dir, build.make_args(found[0]))
