"""``lldbisect sweep``: relink a build at other layouts until one fails."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lldbisect.cli.options import ld_option, user_relinker
from lldbisect.cli.status import EXIT_FINDING, EXIT_OK, EXIT_UNDECIDED
from lldbisect.errors import InputError

if TYPE_CHECKING:  # loaded when the command runs
    from lldbisect.analysis.check import CheckResult
    from lldbisect.kernel.relink import KernelRelinker

__all__ = ["parse_range", "same_file", "sweep", "sweep_linker"]


def parse_range(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition(":")
    try:
        a, b = int(lo, 0), int(hi, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r}: give FROM:TO in bytes (0:65536)") from None
    if not sep or a < 0 or b <= a:
        raise click.BadParameter(f"{text!r}: give FROM:TO with 0 <= FROM < TO")
    return a, b


def same_file(a: str, b: str) -> bool:
    import os
    import shutil

    pa, pb = shutil.which(a) or a, shutil.which(b) or b
    try:
        return os.path.samefile(pa, pb)
    except OSError:
        return False


def sweep_linker(result: CheckResult, relinker: KernelRelinker, ld: str | None
                 ) -> tuple[str, bool]:
    """The linker to sweep with (``ld``, else the one that made the build's last link,
    by its .comment, else the one its .config records), and whether it made that link.
    Raises InputError when neither says."""
    from lldbisect.linkers.identity import made_by

    made = made_by(result.linker())
    ld = ld or made or relinker.config_ld
    if ld is None:
        raise InputError(result.stages.build_dir, "cannot tell which linker made this"
                                                  " build's link (no .comment names an"
                                                  " installed one, no .config records"
                                                  " one): give --ld")
    return ld, made is not None and same_file(made, ld)


@click.command()
@click.argument("build_dir", type=click.Path(path_type=Path))
@ld_option(help="The linker to relink with (default: the one that made the build's last"
                " link, by its .comment, else the one its .config records).")
@click.option("--range", "span", default="0:16384", show_default=True, metavar="FROM:TO",
              help="The paddings to sweep, in bytes.")
@click.option("--step", type=click.IntRange(min=1), default=1024, show_default=True,
              help="The uniform sweep's step, in bytes (after the predicted paddings).")
@click.option("--at", "at", type=click.IntRange(min=0), metavar="BYTES",
              help="Relink at this one padding only (the reproducer).")
@click.option("--section", metavar="NAME",
              help="The output section to pad (default: the one between code sections"
                   " that the most branches cross, e.g. .rodata).")
@click.option("--predict/--no-predict", default=True, show_default=True,
              help="Relink first where the layout model says the passes disagree.")
@click.option("--max-relinks", type=click.IntRange(min=1), metavar="N",
              help="Stop after N relinks (default: every padding the plan has; --timeout"
                   " bounds it).")
@click.option("--timeout", type=float, default=3600.0, show_default=True,
              metavar="SECONDS", help="Stop the sweep after this long, in all.")
@click.option("--make-arg", "make_args", multiple=True, metavar="ARG",
              help="An argument the kernel's make needs, over what is read from the"
                   " build itself.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema lldbisect.sweep/1).")
def sweep(build_dir: Path, ld: str | None, span: str, step: int, at: int | None,
          section: str | None, predict: bool, max_relinks: int | None, timeout: float,
          make_args: tuple[str, ...], as_json: bool) -> None:
    """Relink BUILD_DIR at other layouts until one fails as the report says.

    A padding object of lldbisect's own (no symbols) goes into every vmlinux-stage link,
    in the output section the build's linker script puts between callers and callees;
    each layout gets check's full verdict. The paddings a model of the build's own link
    says fail are relinked first (the branches nearest their range, the thunks there,
    the table's growth per visible name; the model is first checked against the build's
    own link stages), then a uniform sweep. The sweep stops at the first layout that
    fails and prints the padding, the culprits and the command that reproduces it. The
    build directory is put back afterwards, interrupted or not.

    Exit statuses: 0 no layout in the range fails; 1 a failing layout (found);
    2 bad input; 3 a tool failed; 4 the range was not covered (--max-relinks or
    --timeout): no verdict.

    \b
    Example:
      lldbisect sweep ~/build/arm --range 0:16384
    """
    from lldbisect.analysis.check import check_build
    from lldbisect.layouts.sweep import sweep as run
    from lldbisect.report.sweep import sweep_json, sweep_text

    lo, hi = parse_range(span)
    relinker = user_relinker(build_dir, make_args)
    result = check_build(build_dir)
    ld, same = sweep_linker(result, relinker, ld)
    done = run(relinker, ld, result, lo=lo, hi=hi, step=step, section=section,
               predict=predict, at=at, relink_first=not same, max_relinks=max_relinks,
               timeout=timeout, progress=lambda m: click.echo(f"lldbisect: {m}", err=True))
    if as_json:
        click.echo(json.dumps(sweep_json(done), indent=1))
    else:
        click.echo(sweep_text(done), nl=False)
    if done.failing is not None:
        sys.exit(EXIT_FINDING)
    sys.exit(EXIT_OK if done.covered else EXIT_UNDECIDED)
