"""``lldbisect hunt``: the whole job in one command, and its ``--demo``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

from lldbisect.errors import InputError
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
@click.option("--make-arg", "make_args", multiple=True, metavar="ARG",
              help="An argument the kernel's make needs (ARCH=arm, LLVM=...).")
@click.option("--verify", is_flag=True,
              help="Apply the patch to the kernel tree, relink and check, then revert"
                   " (always done with --demo, whose tree is lldbisect's).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the patch here.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
def hunt(demo: bool, kernel_build: Path | None, linkers: tuple[str, ...],
         make_args: tuple[str, ...], verify: bool, output: Path | None,
         as_json: bool) -> None:
    """Find the first bad linker, diagnose the build, and write the patch.

    Exit statuses: 0 a patch that makes the build converge (verified where it could
    be); 1 no patch or it did not verify; 2 bad input; 3 a tool failed.

    \b
    Examples:
      lldbisect hunt --demo
      lldbisect hunt --kernel-build ~/build/arm --ld ld.lld-15 --ld ld.lld-16 \\
          --make-arg ARCH=arm --make-arg LLVM=1 -o 0001-kallsyms.patch
    """
    from lldbisect.cli_bisect import linker_version
    from lldbisect.hunt import hunt as run_hunt
    from lldbisect.hunt import installed_lld
    from lldbisect.report import check_json, check_text

    if demo:
        relinker = _demo_build(installed_lld())
        lds = installed_lld()
    else:
        if kernel_build is None or len(linkers) < 2:
            raise click.UsageError("give --demo, or --kernel-build and two or more --ld")
        if not kernel_build.is_dir():
            raise InputError(kernel_build, "not a kernel build directory")
        relinker = KernelRelinker(kernel_build, list(make_args) or None)
        lds = [shutil.which(ld) or ld for ld in linkers]
    versions = [(linker_version(ld), ld) for ld in lds]
    result = run_hunt(relinker, versions, progress=_say, tree_is_ours=demo or verify)
    proposal = result.proposal
    if output is not None and proposal is not None and proposal.patch:
        output.write_text(proposal.patch)
        _say(f"wrote {output}")
    if as_json:
        doc = {"schema": "lldbisect.hunt/1", "last_good": result.last_good,
               "first_bad": result.first_bad, "tested": result.tested,
               "diagnosis": check_json(result.diagnosis) if result.diagnosis else None,
               "patch": proposal.patch if proposal else None,
               "no_patch_reason": proposal.reason if proposal else None,
               "verified": result.verified, "verify_detail": result.verify_detail}
        click.echo(json.dumps(doc, indent=1))
    else:
        assert result.first_bad is not None and result.last_good is not None
        click.echo(f"last good: {result.last_good[0]} ({result.last_good[1]})")
        click.echo(f"first bad: {result.first_bad[0]} ({result.first_bad[1]})")
        if result.diagnosis is not None:
            click.echo(check_text(result.diagnosis), nl=False)
        if proposal is not None and proposal.patch:
            if result.verified is not None:
                click.echo(f"verified: {result.verify_detail}")
            click.echo("\n" + proposal.patch, nl=False)
        elif proposal is not None:
            click.echo(proposal.reason)
    ok = proposal is not None and proposal.patch is not None and result.verified is not False
    sys.exit(0 if ok else 1)


def _demo_build(lds: list[str]) -> KernelRelinker:
    """The tiny ARMv5 6.1 build in the cache, at a padding the newest lld fails."""
    from lldbisect.repro import TinyArmBuild

    if len(lds) < 2:
        raise InputError(None, "the demo needs two or more Debian lld-N packages"
                               " (run bisect-scripts/setup-machine)")
    build = TinyArmBuild()
    _say(f"preparing {build.package} and the tiny ARMv5 build in the cache"
         " (about two minutes the first time)...")
    first = build.build(lds[0])
    if first.returncode:
        raise InputError(None, f"the tiny ARMv5 kernel does not build: {first.log[-500:]}")
    _say(f"built ({first.seconds:.0f} s); looking for a layout where {lds[-1]} fails...")
    found = build.failing_pad(lds[-1])
    if found is None:
        raise InputError(None, f"{lds[-1]} converges at every padding tried: nothing to hunt")
    _say(f"padding {found[0]} bytes: {lds[-1]} says Inconsistent kallsyms data")
    return KernelRelinker(build.build_dir, build.make_args(found[0]))
