"""Options that several commands share: one name, one meaning, one help text each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lldbisect.errors import InputError

if TYPE_CHECKING:
    from lldbisect.kernel.relink import KernelRelinker

__all__ = ["at_risk_option", "ld_option", "output_option", "timeout_option",
           "user_relinker", "write_output"]

F = TypeVar("F", bound=Callable[..., Any])


def at_risk_option(help: str) -> Callable[[F], F]:
    """``--at-risk-ok`` (also spelt ``--at-risk-good``, its name in bisect commands)."""
    return click.option("--at-risk-ok", "--at-risk-good", "at_risk_ok", is_flag=True,
                        help=help)


def ld_option(*names: str, help: str, **kw: Any) -> Callable[[F], F]:
    """``--ld LINKER``: a path, or a name on PATH."""
    return click.option("--ld", *names, metavar="LINKER", help=help, **kw)


def run_scripts_option(default: str) -> Callable[[F], F]:
    return click.option("--run-scripts/--no-run-scripts", "run_scripts", default=None,
                        help="Check the model's answer by running the tree's own"
                             " scripts/mksysmap and its scripts/kallsyms.c (compiled with"
                             " the host cc), in a scratch directory with a bare environment;"
                             f" the real answer wins. Default: {default}.")


def corpus_option(f: F) -> F:
    return click.option("--corpus", "corpus", multiple=True, metavar="IMAGE",
                        type=click.Path(path_type=Path),
                        help="A real kernel (ELF or nm listing; repeatable) whose symbols no"
                             " pattern may hide. Default: the distribution kernels in the"
                             " cache (`lldbisect corpus` fetches them).")(f)


def output_option(what: str) -> Callable[[F], F]:
    return click.option("-o", "--output", type=click.Path(path_type=Path), metavar="FILE",
                        help=f"Write {what} to FILE (`-`: standard output).")


def write_output(output: Path, text: str) -> None:
    """``text`` to ``output``, where ``-`` is standard output."""
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    if output.is_dir():
        raise InputError(output, "is a directory: give a file name for -o")
    if not output.parent.is_dir():
        raise InputError(output, f"cannot write: no directory {output.parent}")
    # Written beside and renamed, so that a failed write leaves no half file.
    tmp = output.with_name(f".{output.name}.lldbisect-tmp")
    try:
        tmp.write_text(text)
        tmp.replace(output)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(output, f"cannot write: {e.strerror}") from None
    click.echo(f"lldbisect: wrote {output}", err=True)


def launcher_option(f: F) -> F:
    return click.option(
        "--launcher", type=click.Choice(["ccache", "sccache", "distcc", "none"]),
        default=None, help="The compiler launcher of every build (default: ccache when"
                           " installed). Each step reports its own hits and misses;"
                           " distcc sends compiles to DISTCC_HOSTS.")(f)


def timeout_option(f: F) -> F:
    return click.option("--timeout", type=float, default=3600.0, show_default=True,
                        metavar="SECONDS",
                        help="Stop a relink that takes longer (a timed-out step is"
                             " skipped, never judged bad).")(f)


def user_relinker(build_dir: Path, make_args: tuple[str, ...] | list[str],
                  timeout: float = 3600.0) -> KernelRelinker:
    """The relinker of the user's ``--kernel-build``, saying once what it inferred and
    then a line per relink on stderr. Raises as ``KernelRelinker.of_build``."""
    from lldbisect.kernel.relink import KernelRelinker

    relinker = KernelRelinker.of_build(build_dir, make_args, timeout=timeout,
                                       progress=lambda m: click.echo(f"lldbisect: {m}",
                                                                     err=True))
    click.echo(f"lldbisect: {build_dir}: {relinker.inferred}", err=True)
    return relinker
