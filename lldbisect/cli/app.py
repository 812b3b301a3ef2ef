"""The click commands: the only place that prints or exits.

Exit statuses (documented in the README, defined in status.py): 0 success, 1 a
finding, 2 bad input or usage, 3 the machine failed us, 4 no verdict possible, 70 a bug
of ours, 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lldbisect import __version__
from lldbisect.cli.options import (
    at_risk_option,
    corpus_option,
    ld_option,
    output_option,
    run_scripts_option,
    write_output,
)
from lldbisect.cli.status import (
    EXIT_ABORT,
    EXIT_FINDING,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TOOL,
    EXIT_UNDECIDED,
)
from lldbisect.errors import InputError, LldbisectError, ToolError, UndecidedError

if TYPE_CHECKING:
    from lldbisect.analysis.check import CheckResult
    from lldbisect.analysis.convergence import Verdict
    from lldbisect.patch.propose import Finding

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, status: int) -> None:
    click.echo(f"lldbisect: {message}", err=True)
    sys.exit(status)


def handles_errors(func: F) -> F:
    """Turn library errors into one line on stderr and a documented exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as e:
            _fail(e.message, EXIT_INPUT)
        except UndecidedError as e:
            _fail(e.message, EXIT_UNDECIDED)
        except LldbisectError as e:
            _fail(e.message, EXIT_TOOL)
        except BrokenPipeError:
            # The reader went away (`| head`): not an error; silence the flush at exit.
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115
            sys.exit(EXIT_OK)
        return None

    return wrapper  # type: ignore[return-value]


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _json(obj: object) -> None:
    _write(json.dumps(obj, indent=1).encode() + b"\n")


class _LazyGroup(click.Group):
    """A group that imports a subcommand's module the first time it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or _load_lazy(cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lldbisect")
@click.option("--debug", is_flag=True,
              help="On an internal error, print the traceback (also LLDBISECT_DEBUG=1).")
def cli(debug: bool) -> None:
    """Hunt down linker changes that break the Linux kernel's kallsyms link.

    Exit statuses: 0 success, 1 a finding, 2 bad input or usage, 3 a tool failed,
    4 the evidence allows no verdict, 70 an internal error (a bug), 130 interrupted.
    """
    if debug:
        os.environ["LLDBISECT_DEBUG"] = "1"


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of nm's format.")
@click.option("-D", "--dynamic", is_flag=True, help="Read .dynsym instead of .symtab.")
@click.option("-a", "--all", "all_symbols", is_flag=True,
              help="Also list section and file symbols (nm -a).")
@click.option("--special-syms", is_flag=True,
              help="Also list mapping symbols such as $a, $t, $x (nm --special-syms).")
@handles_errors
def symbols(file: Path, as_json: bool, dynamic: bool, all_symbols: bool,
            special_syms: bool) -> None:
    """List FILE's symbols exactly as `nm -n FILE` does (GNU nm's type letters).

    \b
    Example:
      lldbisect symbols vmlinux | grep Thunk_
      lldbisect symbols --json .tmp_vmlinux.kallsyms2 > syms.json
    """
    from lldbisect.elf.reader import read_symbols

    table = read_symbols(file, dynamic=dynamic, all_symbols=all_symbols,
                         special_symbols=special_syms)
    if not as_json:
        table.write_nm_listing(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    from lldbisect.report.symbols import symbols_json

    _json(symbols_json(table, str(file)))


@cli.command()
@click.argument("kernel", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--apply", "apply_to", type=click.Path(path_type=Path), metavar="FILE",
              help="Also say, for each symbol of FILE (ELF or nm -n listing), whether"
                   " kallsyms sees it, and which rule hides it.")
@run_scripts_option("off (the tree's scripts run only when asked for)")
@handles_errors
def rules(kernel: Path, as_json: bool, apply_to: Path | None, run_scripts: bool | None
          ) -> None:
    """Show the kallsyms ignore rules of KERNEL, exactly as that tree applies them.

    KERNEL is a kernel source tree or an O= build directory. Rules come from
    scripts/mksysmap and scripts/kallsyms.c, whatever their era; warnings say where
    the shell or sed reads a rule otherwise than its author meant.

    \b
    Example:
      lldbisect rules ~/linux
      lldbisect rules ~/linux --apply .tmp_vmlinux.kallsyms2 | grep ^visible
    """
    from lldbisect.analysis.check import load_judged_rules
    from lldbisect.elf.nmlist import read_symbol_file
    from lldbisect.report.rules import rules_json, rules_text

    ruleset = load_judged_rules(kernel, bool(run_scripts))
    table = read_symbol_file(apply_to) if apply_to is not None else None
    visibility = ruleset.apply(table) if table is not None else None
    check, note = None, "not run (--run-scripts runs the tree's own scripts)"
    if visibility is not None and run_scripts:
        from lldbisect.analysis.check import verify_stages
        from lldbisect.analysis.convergence import StageSymbols

        stage = StageSymbols(str(apply_to), str(apply_to), visibility.table, visibility,
                             frozenset())
        verified, checks, note = verify_stages([stage], ruleset, kernel)
        visibility, check = verified[0].visibility, (checks[0] if checks else None)
    if as_json:
        _json(rules_json(ruleset, table, visibility, check, note))
    else:
        # The text says nothing of a cross-check nobody asked for.
        _write(rules_text(ruleset, table, visibility, check, note if run_scripts else ""
                          ).encode("utf-8", "surrogateescape"))


def _verdict_status(verdict: Verdict, at_risk_ok: bool) -> int:
    from lldbisect.analysis.convergence import Verdict

    if verdict is Verdict.CONVERGED or (verdict is Verdict.AT_RISK and at_risk_ok):
        return EXIT_OK
    return EXIT_FINDING


@cli.command()
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option("--kernel", type=click.Path(path_type=Path),
              help="The kernel source tree whose rules apply (default: BUILD_DIR's"
                   " `source` link, or BUILD_DIR itself).")
@click.option("--log", "log_file", type=click.Path(path_type=Path),
              help="The build log, to report the kernel's own failure message.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema lldbisect.check/1).")
@at_risk_option("Exit 0 for an at-risk build too.")
@corpus_option
@run_scripts_option("on when the rules come from the build's own source tree")
@handles_errors
def check(build_dir: Path, kernel: Path | None, log_file: Path | None, as_json: bool,
          at_risk_ok: bool, corpus: tuple[Path, ...], run_scripts: bool | None) -> None:
    """Judge the kallsyms convergence of a kernel build directory.

    Reads every link stage (.tmp_vmlinux*, their .syms lists, vmlinux, System.map),
    finds the symbols the linker made (against vmlinux.o and the kallsyms objects, or
    by name structure), applies the tree's own rules, and says which linker-made
    symbols kallsyms sees and which differ between passes. Verdict and exit status:
    converged 0, at-risk 1 (0 with --at-risk-ok), diverged 1, diverged-other 1;
    2 for bad input.

    \b
    Example:
      lldbisect check ~/build/arm --log build.log
    """
    from lldbisect.analysis.check import check_build
    from lldbisect.report.check import check_json, check_text

    result = check_build(build_dir, log=_read_log(log_file), kernel=kernel,
                         corpus=list(corpus) or None, run_scripts=run_scripts)
    if as_json:
        _json(check_json(result, result.linker()))
    else:
        _write(check_text(result).encode("utf-8", "surrogateescape"))
    sys.exit(_verdict_status(result.comparison.verdict, at_risk_ok))


@cli.command()
@click.argument("before", type=click.Path(path_type=Path))
@click.argument("after", type=click.Path(path_type=Path))
@click.option("--kernel", type=click.Path(path_type=Path), required=True,
              help="The kernel tree whose rules apply.")
@click.option("--inputs", multiple=True, type=click.Path(path_type=Path),
              help="An object the link read (repeatable): linker-made symbols are those"
                   " in no input. Without it, they are found by name structure.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema lldbisect.diff/1).")
@at_risk_option("Exit 0 for at-risk too.")
@corpus_option
@run_scripts_option("off")
@handles_errors
def diff(before: Path, after: Path, kernel: Path, inputs: tuple[Path, ...], as_json: bool,
         at_risk_ok: bool, corpus: tuple[Path, ...], run_scripts: bool | None) -> None:
    """Compare two ELF files or nm listings as check compares link stages.

    \b
    Example:
      lldbisect diff .tmp_vmlinux.kallsyms2 .tmp_vmlinux.kallsyms3 --kernel ~/linux
    """
    from lldbisect.analysis.check import diff_files
    from lldbisect.report.check import (
        DIFF_SCHEMA,
        comparison_json,
        comparison_text,
        cross_check_json,
        cross_check_lines,
    )

    result, checks, note = diff_files(before, after, kernel, list(inputs) or None,
                                      list(corpus) or None, bool(run_scripts))
    if as_json:
        _json({"schema": DIFF_SCHEMA, "cross_check": cross_check_json(checks, note),
               **comparison_json(result)})
    else:
        lines = [ln.strip() for ln in cross_check_lines(checks, note)] if run_scripts else []
        _write(("\n".join([*lines, *comparison_text(result)]) + "\n").encode(
            "utf-8", "surrogateescape"))
    sys.exit(_verdict_status(result.verdict, at_risk_ok))


@cli.command()
@ld_option(required=True,
           help="The linker: a path, or a name on PATH (ld.lld-16, arm-linux-gnueabihf-ld).")
@click.option("--pad", default="none", metavar="BYTES|failing|at-risk|none",
              help="Padding that pushes .init.text away from .text: a size, `failing` (a"
                   " size near the recipe's at which the link fails), `at-risk` (one at"
                   " which it links in three passes), or `none`.")
@click.option("--failing-with", "failing_with", metavar="LINKER",
              help="With --pad failing or at-risk: find the padding with this linker"
                   " (default: --ld), then link with --ld at that padding.")
@handles_errors
def repro(ld: str, pad: str, failing_with: str | None) -> None:
    """Build (once) or relink the tiny ARMv5 Linux 6.1 that reproduces the failure.

    The recipe: Debian's linux-source-6.1, `allnoconfig` with tiny.config and an ARMv5
    Versatile board, clang 14, and a padding object of ours in .rodata that pushes
    .init.text more than 32 MiB from .text, so the linker must add thunks.

    Prepares Debian's linux-source-6.1 in the cache, builds it with clang 14 (about
    two minutes the first time; a relink takes seconds), links it with LINKER, and
    prints the build directory, for `lldbisect check`. Progress goes to stderr.
    The padding that fails depends on the revision of Debian's package: `failing`
    finds it on this machine.

    \b
    Example:
      lldbisect check "$(lldbisect repro --ld ld.lld-16 --pad failing)"
      lldbisect check "$(lldbisect repro --ld ld.lld-15 --pad failing --failing-with ld.lld-16)"
    """
    from lldbisect.kernel.repro import TinyArmBuild

    linker = _installed_linker(ld)
    finder = _installed_linker(failing_with) if failing_with else linker
    build = TinyArmBuild()
    click.echo(f"lldbisect: preparing {build.package} in {debsource_cache()}...", err=True)
    if pad in ("failing", "at-risk"):
        search = build.failing_pad if pad == "failing" else build.at_risk_pad
        found = search(finder)
        if found is None:
            raise InputError(None, f"{failing_with or ld}: no {pad} padding near the"
                                   " recipe's value (does this linker hide its thunks?)")
        size, result = found
        if finder != linker:
            result = build.build(linker, size)
    elif pad == "none" or pad.isdigit():
        size = 0 if pad == "none" else int(pad)
        result = build.build(linker, size or None)
    else:
        raise InputError(None, f"--pad {pad}: expected a size in bytes, failing, at-risk"
                               " or none")
    state = ("Inconsistent kallsyms data" if result.inconsistent_kallsyms else
             "linked" if result.returncode == 0 else "failed")
    click.echo(f"lldbisect: {ld}, padding {size}: {state} ({result.seconds:.0f} s)", err=True)
    if result.returncode and not result.inconsistent_kallsyms:
        raise ToolError(f"the kernel build failed:\n{result.log[-1500:]}")
    click.echo(str(build.build_dir))


def _installed_linker(ld: str) -> str:
    """``ld`` as a path; InputError when there is no such linker."""
    linker = shutil.which(ld) or ld
    if not Path(linker.split()[-1]).exists():
        raise InputError(None, f"{ld}: no such linker")
    return linker


def debsource_cache() -> Path:
    from lldbisect.cache import cache_dir

    return cache_dir()


def _read_log(log_file: Path | None) -> str | None:
    if log_file is None:
        return None
    try:
        return log_file.read_text(errors="replace")
    except OSError as e:
        raise InputError(log_file, f"cannot read: {e.strerror}") from None


@cli.command()
@click.argument("build_dir", type=click.Path(path_type=Path), required=False)
@click.option("--from", "report", type=click.Path(path_type=Path), metavar="REPORT.json",
              help="Propose from a `check --json` or `diff --json` report instead of a"
                   " build directory; the --kernel tree's own rules judge its families.")
@click.option("--kernel", type=click.Path(path_type=Path),
              help="The kernel tree to patch (default: BUILD_DIR's `source`).")
@click.option("--log", "log_file", type=click.Path(path_type=Path),
              help="The build log, to quote the kernel's failure message.")
@output_option("the patch")
@click.option("--signoff", is_flag=True, help="Add Signed-off-by from git config.")
@click.option("--generalize", is_flag=True,
              help="Where the era allows, one family-wide regular expression in mksysmap"
                   " instead of one prefix per family.")
@click.option("--link", metavar="URL", help="A Link: trailer (e.g. the linker commit).")
@click.option("--unconfirmed", is_flag=True,
              help="Propose even when the linker-made names are known by their shape only"
                   " (no vmlinux.o and no archives to compare with).")
@click.option("--complete", is_flag=True,
              help="With BUILD_DIR: also every family the build's linker makes for its"
                   " architecture in lldbisect's far-call links (the probe) that the tree"
                   " does not hide yet, not only those this layout showed.")
@click.option("--ld", "complete_ld", metavar="LINKER",
              help="With --complete: the linker to probe (default: the one that made the"
                   " build's last link, by its .comment, else the one its .config"
                   " records).")
@click.option("--verify-sweep", is_flag=True,
              help="With BUILD_DIR: sweep the build's layouts (as `sweep`) until one"
                   " fails, then relink the patched tree at every padding swept; the"
                   " patch is written only if it converges at all of them.")
@click.option("--sweep-range", default="0:16384", show_default=True, metavar="FROM:TO",
              help="With --verify-sweep: the paddings to sweep, in bytes.")
@click.option("--max-relinks", type=click.IntRange(min=1), default=12, show_default=True,
              help="With --verify-sweep: at most this many layouts.")
@click.option("--sweep-timeout", type=float, default=3600.0, show_default=True,
              metavar="SECONDS",
              help="With --verify-sweep: stop the sweep after this long, and the proof"
                   " after as long again.")
@click.option("--make-arg", "make_args", multiple=True, metavar="ARG",
              help="With --verify-sweep: an argument the kernel's make needs, over what"
                   " is read from the build itself.")
@corpus_option
@run_scripts_option("as check's")
@handles_errors
def propose(build_dir: Path | None, report: Path | None, kernel: Path | None,
            log_file: Path | None, output: Path | None, signoff: bool, generalize: bool,
            link: str | None, unconfirmed: bool, complete: bool, complete_ld: str | None,
            verify_sweep: bool, sweep_range: str, max_relinks: int, sweep_timeout: float,
            make_args: tuple[str, ...], corpus: tuple[Path, ...], run_scripts: bool | None) -> None:
    """Write the kernel patch that hides what kallsyms should not see.

    The patch is in `git format-patch` form, for `git am`: new entries in the right
    kallsyms.c array (up to 6.3) or `/ pattern/d` lines in mksysmap (6.4+), in the
    group of their architecture and linker, escaped as that file needs.

    --from reads a check, diff, probe or validate --json report (for probe and
    validate: every family the linker made that --kernel does not hide yet, proved
    against real kernels: --corpus or the cached ones).

    --complete adds what the next layout may need: the build's linker is probed for
    the build's architecture, and each family it makes there that the tree does not
    hide (and whose pattern hides no ordinary symbol of this image) goes into the
    patch too; the message says which were seen in the build and which come from the
    probe.

    --verify-sweep proves the patch on other layouts: the build is relinked at
    paddings the layout model says fail (as `sweep` does) until one fails, then the
    patched tree at every padding swept; the patch is written only when it converges
    at all of them ("converges at N of N layouts"). The tree and the build are put back.

    Exit statuses: 0 a patch was written; 1 no patch (converged, already hidden,
    diverged-other, or --verify-sweep found a layout where the patch does not
    converge: the reason is printed); 2 bad input; 3 a tool failed.

    \b
    Example:
      lldbisect propose ~/build/arm --signoff -o 0001-kallsyms.patch
      lldbisect propose --from report.json --kernel ~/linux
    """
    import email.utils

    from lldbisect.analysis.check import check_build, load_judged_rules
    from lldbisect.bisect.gitrepo import identity
    from lldbisect.patch.propose import Finding
    from lldbisect.patch.propose import propose as make

    if (build_dir is None) == (report is None):
        raise click.UsageError("give BUILD_DIR or --from REPORT.json (not both)")
    if verify_sweep and build_dir is None:
        raise click.UsageError("--verify-sweep relinks BUILD_DIR: give it")
    if report is not None:
        if kernel is None:
            raise click.UsageError("--from needs --kernel TREE")
        try:
            doc = json.loads(report.read_text())
        except (OSError, ValueError) as e:
            raise InputError(report, f"not a readable JSON report: {e}") from None
        finding = Finding.from_json(doc, str(report))
        rules = load_judged_rules(kernel, bool(run_scripts))
        from lldbisect.analysis.check import load_corpus

        pattern_corpus = load_corpus(list(corpus) or None)
    else:
        assert build_dir is not None
        result = check_build(build_dir, log=_read_log(log_file), kernel=kernel,
                             corpus=list(corpus) or None, run_scripts=run_scripts)
        finding = Finding.from_check(result, result.linker())
        rules = result.rules
        pattern_corpus = None  # check_build has judged the patterns against it
        if complete:
            from lldbisect.analysis.check import load_corpus

            finding = _complete(finding, result, build_dir, complete_ld)
            # The probe's patterns were judged against this image only: real kernels too.
            pattern_corpus = load_corpus(list(corpus) or None)
    proposal = make(finding, rules, author=identity(Path(rules.tree)),
                    date=email.utils.formatdate(localtime=True), signoff=signoff,
                    generalize=generalize, link=link, unconfirmed=unconfirmed,
                    corpus=pattern_corpus)
    if proposal.patch is None:
        click.echo(f"lldbisect: {proposal.reason}", err=True)
        sys.exit(EXIT_FINDING)
    if verify_sweep:
        assert build_dir is not None
        _prove_on_layouts(build_dir, result, Path(rules.tree), proposal.patch, sweep_range,
                          max_relinks, sweep_timeout, make_args)
    if output is not None:
        write_output(output, proposal.patch)
    else:
        _write(proposal.patch.encode("utf-8", "surrogateescape"))


def _prove_on_layouts(build_dir: Path, result: CheckResult, tree: Path, patch: str,
                      span: str, max_relinks: int, timeout: float,
                      make_args: tuple[str, ...]) -> None:
    """--verify-sweep: exits 1 when the patch does not converge at every layout."""
    from lldbisect.cli.options import user_relinker
    from lldbisect.cli.sweep import parse_range, sweep_linker
    from lldbisect.layouts.verify import prove_on_layouts

    lo, hi = parse_range(span)
    relinker = user_relinker(build_dir, make_args, timeout)
    ld, same = sweep_linker(result, relinker, None)
    try:
        proof = prove_on_layouts(relinker, ld, result, tree, patch, lo=lo, hi=hi,
                                 step=1024, max_relinks=max_relinks, timeout=timeout,
                                 relink_first=not same,
                                 progress=lambda m: click.echo(f"lldbisect: {m}", err=True))
    except ValueError as e:
        raise ToolError(f"the patch does not apply to {tree}: {e}") from None
    click.echo(f"lldbisect: {proof.detail()}", err=True)
    if not proof.ok:
        click.echo("lldbisect: the patch is not offered: it is not proven on every layout"
                   " swept", err=True)
        sys.exit(EXIT_FINDING)


def _complete(finding: Finding, result: CheckResult, build_dir: Path, ld: str | None
              ) -> Finding:
    """The build's finding with the families its linker's probe links show."""
    from lldbisect.arch import by_machine
    from lldbisect.cache import cache_dir
    from lldbisect.linkers.identity import version_line
    from lldbisect.linkers.probe import probe
    from lldbisect.patch.propose import Finding as Found
    from lldbisect.patch.propose import complete
    from lldbisect.report.probe import probe_json

    if ld is None:  # the linker whose version the image's .comment names
        from lldbisect.linkers.identity import made_by

        ld = made_by(result.linker())
        if ld is None:
            from lldbisect.kernel.relink import configured_linker

            ld = configured_linker(build_dir, [])
    if ld is None:
        raise InputError(build_dir, "--complete: cannot tell which linker made this"
                                    " build's link (no .comment names an installed one,"
                                    " no .config records one); give --ld")
    row = by_machine(finding.machine)
    if row is None:
        raise InputError(build_dir, f"--complete: no probe cases for {finding.machine}")
    from lldbisect.linkers.cases import cases_for_config

    try:
        config = (build_dir / ".config").read_text(errors="replace")
    except OSError:
        raise InputError(build_dir / ".config", "--complete: cannot read the build's"
                                                " configuration, which says which CPU"
                                                " level's thunks it can need") from None
    cases = cases_for_config(row.kernel_arch, config)
    if not cases:
        raise InputError(build_dir / ".config", f"--complete: no probe case matches this"
                                                f" {row.kernel_arch} configuration")
    click.echo(f"lldbisect: --complete: probing {ld} with the cases of this"
               f" configuration: {', '.join(c.name for c in cases)}", err=True)
    results = probe(ld, cases, [], cache=cache_dir())
    probed = Found.from_json(probe_json(ld, version_line(ld), [], results), f"probe of {ld}")
    last = result.comparison.stages[-1]
    merged, left_out = complete(finding, probed, last.table, last.made)
    for why in left_out:
        click.echo(f"lldbisect: --complete: not added: {why}", err=True)
    if len(merged.families) == len(finding.families):
        click.echo("lldbisect: --complete: the probe's links make nothing more than this"
                   " build showed", err=True)
    return merged


@cli.command()
@click.option("--arch", "arches", multiple=True, default=("amd64", "arm64"),
              show_default=True, help="A Debian architecture (repeatable).")
@handles_errors
def corpus(arches: tuple[str, ...]) -> None:
    """Fetch Debian's current cloud kernels (their -dbg vmlinux, ~120k symbols each) into
    the cache and print their paths: check, diff and propose then refuse any pattern
    that would hide one of their symbols.

    \b
    Example:
      lldbisect corpus --arch amd64
    """
    from lldbisect.kernel import sources

    for arch in arches:
        click.echo(str(sources.distro_vmlinux(arch)))


@cli.command("kernel-source")
@click.argument("package", default="linux-source-6.1")
@click.option("--suite", metavar="NAME",
              help="Another Debian release to fetch from (e.g. trixie), through a"
                   " private apt configuration; the system's sources are not touched.")
@click.option("--full", is_flag=True,
              help="Unpack the whole tree (for a kernel build), not only the rule files.")
@handles_errors
def kernel_source(package: str, suite: str | None, full: bool) -> None:
    """Fetch Debian's PACKAGE kernel source into the cache and print the tree's path.

    The cache is $LLDBISECT_CACHE, else ~/.cache/lldbisect; a second call reuses it.

    \b
    Example:
      lldbisect rules "$(lldbisect kernel-source linux-source-6.12 --suite trixie)"
    """
    from lldbisect.kernel import sources

    if not package.startswith("linux-source-"):
        raise InputError(None, f"{package}: expected a Debian linux-source-X.Y package")
    click.echo(str(sources.kernel_source(package, suite, full=full)))


@cli.command("linker-source")
@click.argument("package")
@click.option("--suite", metavar="NAME", help="Another Debian release to fetch from.")
@handles_errors
def linker_source(package: str, suite: str | None) -> None:
    """Fetch the linker sources of Debian source package PACKAGE into the cache and print
    their path: lld/ELF of llvm-toolchain-N, bfd of binutils (Debian's own patches to
    them applied; only those directories are kept).

    \b
    Example:
      lldbisect scan-commit --trees "$(lldbisect linker-source llvm-toolchain-15)" \\
          "$(lldbisect linker-source llvm-toolchain-16)"
    """
    from lldbisect.kernel import sources

    if package.startswith("llvm-toolchain-"):
        sub = "lld/ELF"
    elif package == "binutils":
        sub = "bfd"
    else:
        raise InputError(None, f"{package}: expected llvm-toolchain-N or binutils")
    root = sources.source_subtree(package, (sub,), suite)
    note = (root / ".complete").read_text().strip()
    if "NOT applied" in note:
        click.echo(f"lldbisect: {note}", err=True)
    click.echo(str(root / sub))


def _run_step() -> click.Command:
    from lldbisect.cli.bisect import run_step

    for name, sub in list(run_step.commands.items()):
        run_step.commands[name] = _guarded(sub)
    return run_step


def _bisect() -> click.Command:
    from lldbisect.cli.bisect import bisect

    for sub in bisect.commands.values():
        assert sub.callback is not None
        sub.callback = handles_errors(sub.callback)
    return bisect


def _command(module: str, name: str) -> click.Command:
    from importlib import import_module

    command: click.Command = getattr(import_module(f"lldbisect.{module}"), name)
    assert command.callback is not None
    command.callback = handles_errors(command.callback)
    return command


# Commands whose modules import git, subprocess machinery and hashlib: loaded only when
# asked for, so that `symbols` and `check` start faster.
_LAZY: dict[str, Callable[[], click.Command]] = {
    "run-step": _run_step,
    "bisect": _bisect,
    "hunt": lambda: _command("cli.hunt", "hunt"),
    "scan-commit": lambda: _command("cli.scan", "scan_commit"),
    "probe": lambda: _command("cli.validate", "probe"),
    "validate": lambda: _command("cli.validate", "validate"),
    "sweep": lambda: _command("cli.sweep", "sweep"),
}


def _load_lazy(name: str) -> click.Command | None:
    loader = _LAZY.get(name)
    if loader is None:
        return None
    command = loader()
    cli.add_command(command, name)
    return command


def _guarded(command: click.Command) -> click.Command:
    """Inside a bisect every failure aborts (>= 128), never 2 (which git takes as bad)."""
    callback = command.callback
    assert callback is not None

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except LldbisectError as e:
            _fail(e.message, EXIT_ABORT)
        return None

    command.callback = run
    return command


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM (a CI job cancelled, `timeout`) unwinds like Ctrl-C, so every ``finally``
    # below runs: a patched tree reverted, a build's last link put back.
    raise KeyboardInterrupt(f"signal {signum}")


def _internal(e: BaseException, status: int) -> None:
    """A bug of ours: one line, the traceback only when asked for, and a status that no
    caller can take for a finding (or, in a bisect, for bad)."""
    if os.environ.get("LLDBISECT_DEBUG", "") not in ("", "0"):
        import traceback

        traceback.print_exception(e)
    where = ""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
    _fail(f"internal error: {type(e).__name__}: {e}{where} (a bug of lldbisect; rerun"
          " with --debug or LLDBISECT_DEBUG=1 for the traceback)", status)


def main() -> None:
    """Console-script entry point. For ``run-step``, usage errors abort too (>= 128):
    ``git bisect run`` would count click's exit status 2 as a bad commit."""
    signal.signal(signal.SIGTERM, _terminate)
    args = sys.argv[1:]
    while args and args[0] == "--debug":  # the group's option, before the command
        os.environ["LLDBISECT_DEBUG"] = "1"
        args = args[1:]
    if args and args[0] == "run-step":
        try:
            cli.main(args=args, prog_name="lldbisect", standalone_mode=False)
        except click.ClickException as e:
            e.show()
            sys.exit(EXIT_ABORT)
        except (click.Abort, KeyboardInterrupt):
            sys.exit(EXIT_ABORT + 2)
        except Exception as e:
            _internal(e, EXIT_ABORT)
        sys.exit(EXIT_OK)
    try:
        status = cli.main(args=args, prog_name="lldbisect", standalone_mode=False)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (click.Abort, KeyboardInterrupt):
        # click's own handling would exit 1, which reads as a finding.
        click.echo("lldbisect: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:
        _internal(e, EXIT_INTERNAL)
    sys.exit(status if isinstance(status, int) else EXIT_OK)
