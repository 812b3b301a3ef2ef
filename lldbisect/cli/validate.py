"""``probe`` and ``validate``: a linker release's effect on kallsyms, before it ships.

Exit statuses: 0 nothing a given kernel would see; 1 (validate) the new linker brings a
family a given kernel sees, cannot link a case the baseline could, or makes a given
build stop converging, or a TuxSuite build of it fails where the baseline's passes;
2 bad input; 3 a tool failed (the tuxsuite client among them); 4 TuxSuite builds of the
plan without an outcome.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lldbisect.cli.options import at_risk_option, ld_option, user_relinker
from lldbisect.cli.status import EXIT_FINDING, EXIT_UNDECIDED
from lldbisect.errors import InputError
from lldbisect.linkers.cases import ARCHES, Case, select

if TYPE_CHECKING:
    from lldbisect.kernel.rules import RuleSet
    from lldbisect.linkers.coverage import Coverage
    from lldbisect.linkers.probe import CaseResult
    from lldbisect.linkers.tuxsuite import PlanBuild, TuxVerdict

_arch_option = click.option(
    "--arch", "arches", multiple=True, metavar="ARCH",
    help=f"Only this kernel ARCH ({', '.join(ARCHES)}); repeatable. Default: all.")
_case_option = click.option("--case", "case_names", multiple=True, metavar="NAME",
                            help="Only this case (see --list); repeatable.")
_kernel_option = click.option(
    "--kernel", "kernels", multiple=True, type=click.Path(path_type=Path), metavar="TREE",
    help="A kernel source tree whose rules decide what kallsyms sees; repeatable.")
_jobs_option = click.option("--jobs", "-j", type=click.IntRange(1), metavar="N",
                            help="Parallel links (default: the number of CPUs).")


def _say(message: str) -> None:
    click.echo(f"lldbisect: {message}", err=True)


def _cases(arches: tuple[str, ...], names: tuple[str, ...]) -> list[Case]:
    try:
        return select(arches, names)
    except KeyError as e:
        raise InputError(None, str(e.args[0])) from None


def _cache() -> Path:
    from lldbisect.cache import cache_dir

    return cache_dir()


def _list_cases() -> None:
    from lldbisect.linkers.cases import CASES

    for c in CASES:
        click.echo(f"{c.name:<20} {c.arch:<8} {c.what}; flags: {' '.join(c.flags)}")


@click.command()
@ld_option(required=False,
           help="The linker to probe (ld.lld of any release, or a GNU ld).")
@_arch_option
@_case_option
@_kernel_option
@_jobs_option
@click.option("--coverage", is_flag=True,
              help="Read the names this linker's own source can make (Debian's"
                   " llvm-toolchain-N or binutils source package, fetched into the cache)"
                   " and say which of them the corpus made.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema lldbisect.probe/1).")
@click.option("--list", "list_cases", is_flag=True, help="List the cases and exit.")
def probe(ld: str | None, arches: tuple[str, ...], case_names: tuple[str, ...],
          kernels: tuple[Path, ...], jobs: int | None, coverage: bool, as_json: bool,
          list_cases: bool) -> None:
    """Link a small far-call corpus with --ld and list what the linker makes.

    One case per architecture and code model (ARM v7/Thumb-2/v6-M/v5/v4T, absolute and
    --pic-veneer, interworking; arm64 with and without --pic-veneer, erratum 843419;
    MIPS and microMIPS LA25; ppc64 long branch and PLT; ppc32), linked with the flags
    each architecture's kernel passes to its vmlinux link. Every family of symbols the
    linker made is listed, with whether each --kernel tree's rules let kallsyms see it.
    A case the linker cannot do is reported as unsupported; one it crashes on, as
    crashed. --coverage measures the corpus against the linker's own source: every
    name family lld/ELF (or bfd) can build, with its architecture, made by which cases
    or by none; the share made, of the architectures the kernel links with LLVM=1.

    \b
    Example:
      lldbisect probe --ld /usr/lib/llvm-16/bin/ld.lld --arch arm \\
          --kernel "$(lldbisect kernel-source linux-source-6.1)"
      lldbisect probe --ld /usr/lib/llvm-16/bin/ld.lld --coverage
    """
    from lldbisect.kernel.rules import load_labelled
    from lldbisect.linkers.identity import version_line
    from lldbisect.linkers.probe import probe as run_probe
    from lldbisect.report.probe import probe_json, probe_text

    if list_cases:
        _list_cases()
        return
    if not ld:
        raise click.UsageError("Missing option '--ld' (or use --list).")
    cases = _cases(arches, case_names)
    trees = load_labelled(kernels)
    version = version_line(ld)
    results = run_probe(ld, cases, trees, cache=_cache(), jobs=jobs)
    labels = [label for label, _ in trees]
    covered = _coverage(ld, version, results, arches) if coverage else None
    if as_json:
        click.echo(json.dumps(probe_json(ld, version, labels, results, covered), indent=1))
    else:
        click.echo(probe_text(ld, version, labels, results, covered), nl=False)


def _coverage(ld: str, version: str, results: list[CaseResult], arches: tuple[str, ...]
              ) -> Coverage:
    """The linker's own source, read, against what the probe made."""
    import re

    from lldbisect.kernel import sources
    from lldbisect.linkers.coverage import coverage, source_families
    from lldbisect.linkers.identity import release

    if "GNU ld" in version and "gold" not in version.lower():
        root = sources.source_subtree("binutils", ("bfd",))
        tree, glob = root / "bfd", "elf*.c"  # the ELF backends: the kernel links ELF
        said = root.name.removesuffix("-bfd")
        if (ours := str(release(ld))) not in said:
            _say(f"coverage: {ld} is GNU ld {ours}, the source read is {said}")
    elif re.search(r"\bLLD \d", version):
        major = release(ld).major
        root = sources.source_subtree(f"llvm-toolchain-{major}", ("lld/ELF",))
        tree, glob = root / "lld" / "ELF", "*.cpp"
        said = root.name.removesuffix("-lld_ELF")
    else:
        raise InputError(None, f"--coverage: {ld} is neither lld nor GNU ld ({version}):"
                               " no source package to read its names from")
    families = source_families(tree, glob)
    if arches:
        families = [f for f in families if f.arch in arches]
    return coverage(said, families, results)


@click.command()
@ld_option("new_ld", required=True, help="The linker to validate.")
@click.option("--baseline", "old_ld", required=True, metavar="LINKER",
              help="The linker it replaces.")
@_arch_option
@_case_option
@_kernel_option
@click.option("--kernel-build", "builds", multiple=True, type=click.Path(path_type=Path),
              metavar="DIR", help="A built kernel to relink with both; repeatable. It is"
                                  " left linked by the baseline.")
@click.option("--make-arg", "make_args", multiple=True, metavar="ARG",
              help="An argument the kernels' make needs (default: what `lldbisect repro`"
                   " recorded in each build).")
@at_risk_option("Judge an at-risk build as converged (default: at risk counts).")
@click.option("--shard", default="1/1", metavar="I/N",
              help="Run only the I-th of N slices of the cases (for a CI matrix).")
@_jobs_option
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON (schema lldbisect.validate/1).")
@click.option("--junit", type=click.Path(path_type=Path), metavar="FILE",
              help="Also write a JUnit XML report to FILE.")
@click.option("--tuxsuite-plan", "tux_plan", type=click.Path(path_type=Path, dir_okay=False),
              metavar="FILE", help="Also write the matrix (each --arch x --kernel x both"
                                   " linkers, as TuxSuite's toolchains) as a TuxSuite plan.")
@click.option("--tuxsuite", "tux_submit", is_flag=True,
              help="Submit that plan with the tuxsuite client (your own token) and add its"
                   " builds to the report.")
@click.option("--tuxsuite-results", "tux_results", type=click.Path(path_type=Path,
                                                                    dir_okay=False),
              metavar="FILE", help="Add the builds of a `tuxsuite plan submit --json-out`"
                                   " file of this matrix to the report (with --tuxsuite:"
                                   " where to write it; default FILE-results.json beside"
                                   " the plan).")
@click.option("--tuxsuite-timeout", "tux_timeout", type=float, default=6 * 3600.0,
              show_default=True, help="Seconds to wait for the submitted plan.")
def validate(new_ld: str, old_ld: str, arches: tuple[str, ...], case_names: tuple[str, ...],
             kernels: tuple[Path, ...], builds: tuple[Path, ...], make_args: tuple[str, ...],
             at_risk_ok: bool, shard: str, jobs: int | None, as_json: bool,
             junit: Path | None, tux_plan: Path | None, tux_submit: bool,
             tux_results: Path | None, tux_timeout: float) -> None:
    """Compare a new linker with a baseline before it ships.

    Probes both (see `lldbisect probe`), relinks each --kernel-build with both, and
    reports what NEW brings: new families and which --kernel trees would see them, and
    builds that stop converging. Exit 1 when NEW brings a family a given kernel sees,
    cannot link a case OLD could, or makes a given build stop converging.

    \b
    Example:
      lldbisect validate --ld /usr/lib/llvm-16/bin/ld.lld \\
          --baseline /usr/lib/llvm-15/bin/ld.lld \\
          --kernel "$(lldbisect kernel-source linux-source-6.1)" --junit validate.xml
    """
    from lldbisect.kernel.rules import load_labelled
    from lldbisect.linkers.validate import Shard
    from lldbisect.linkers.validate import validate as run_validate
    from lldbisect.report.probe import validation_json, validation_junit, validation_text

    cases = _cases(arches, case_names)
    trees = load_labelled(kernels)
    relinkers = []
    for b in builds:
        relinkers.append(user_relinker(b, make_args))
    if (tux_submit or tux_results) and tux_plan is None:
        raise click.UsageError("--tuxsuite and --tuxsuite-results need --tuxsuite-plan"
                               " FILE (the plan sent, or to send)")
    tux = None
    if tux_plan is not None:
        tux = _tuxsuite(new_ld, old_ld, arches, kernels, trees, tux_plan, tux_submit,
                        tux_results, tux_timeout)
    result = run_validate(new_ld, old_ld, cases, trees, relinkers, cache=_cache(),
                          shard=Shard.parse(shard), jobs=jobs,
                          at_risk_bad=not at_risk_ok, progress=_say)
    if junit:
        try:
            junit.write_bytes(validation_junit(result))
        except OSError as e:
            raise InputError(junit, f"cannot write the JUnit report: {e.strerror}") from None
    from lldbisect.report.tuxsuite import tuxsuite_json, tuxsuite_text

    if as_json:
        doc = validation_json(result)
        if tux is not None:
            doc["tuxsuite"] = tuxsuite_json(*tux)
        click.echo(json.dumps(doc, indent=1))
    else:
        click.echo(validation_text(result) + (tuxsuite_text(*tux) if tux else ""), nl=False)
    verdict = tux[2] if tux is not None else None
    if result.failed() or (verdict is not None and verdict.regressions):
        sys.exit(EXIT_FINDING)
    if verdict is not None and not verdict.complete:
        sys.exit(EXIT_UNDECIDED)  # builds without an outcome: no verdict of ours


def _tuxsuite(new_ld: str, old_ld: str, arches: tuple[str, ...], kernels: tuple[Path, ...],
              trees: list[tuple[str, RuleSet]], plan_file: Path, submit: bool,
              results_file: Path | None, timeout: float
              ) -> tuple[str, list[PlanBuild], TuxVerdict | None]:
    """Write the plan; submit it or read results given. Returns what the report needs."""
    from lldbisect.linkers import tuxsuite as tx

    plan, planned = tx.plan_matrix(new_ld, old_ld, arches,
                                   [(label, tree, rules.version)
                                    for (label, rules), tree in zip(trees, kernels)])
    try:
        plan_file.write_text(json.dumps(plan, indent=1) + "\n")
    except OSError as e:
        raise InputError(plan_file, f"cannot write the plan: {e.strerror}") from None
    checked = tx.check_with_client(plan, plan_file)
    _say(f"tuxsuite: {len(planned)} builds in {plan_file} ({checked})")
    if submit:
        out = results_file or plan_file.with_name(plan_file.stem + "-results.json")
        _say(f"tuxsuite: submitting the plan (tuxsuite plan submit --json-out {out})")
        tx.submit(plan_file, out, timeout)
        return checked, planned, tx.judge_results(tx.read_results(out, planned), planned)
    if results_file is not None:
        return checked, planned, tx.judge_results(tx.read_results(results_file, planned),
                                                  planned)
    return checked, planned, None
