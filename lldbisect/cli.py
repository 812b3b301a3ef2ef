"""The click commands: the only place that prints or exits.

Exit statuses (documented in the README): 0 success, 1 a finding (later commands),
2 bad input or usage, 3 the machine failed us (a tool missing or crashing).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lldbisect import __version__
from lldbisect.errors import InputError, LldbisectError

EXIT_OK, EXIT_FINDING, EXIT_INPUT, EXIT_TOOL = 0, 1, 2, 3

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lldbisect")
def cli() -> None:
    """Hunt down linker changes that break the Linux kernel's kallsyms link.

    Exit statuses: 0 success, 1 a finding, 2 bad input or usage, 3 a tool failed.
    """


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
    from lldbisect.elf import read_symbols

    table = read_symbols(file, dynamic=dynamic, all_symbols=all_symbols,
                         special_symbols=special_syms)
    if not as_json:
        _write(table.nm_listing())
        return
    _json({
        "schema": "lldbisect.symbols/1",
        "file": str(file),
        "elf_class": table.elf_class,
        "machine": table.machine,
        "symbols": [s._asdict() for s in table.sorted_symbols()],
    })


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="lldbisect")
