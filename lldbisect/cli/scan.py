"""``scan-commit``: the symbol-name patterns a linker commit introduces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lldbisect.errors import InputError

if TYPE_CHECKING:  # the command's modules load when it runs, not with the CLI
    pass


def _observed(paths: tuple[Path, ...]) -> set[str]:
    from lldbisect.analysis.commitscan import observed_names

    names: set[str] = set()
    for p in paths:
        try:
            doc = json.loads(p.read_text())
        except FileNotFoundError:
            raise InputError(p, "no such file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(p, f"cannot read: {e}") from None
        except json.JSONDecodeError as e:
            raise InputError(p, f"not JSON (line {e.lineno}: {e.msg}); expected an"
                                " lldbisect check, probe or validate --json report") from None
        if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(
                "lldbisect."):
            raise InputError(p, "not an lldbisect --json report (no lldbisect schema)")
        names |= observed_names(doc)
    return names


@click.command("scan-commit")
@click.argument("repo", type=click.Path(path_type=Path))
@click.argument("rev")
@click.option("--kernel", "kernels", multiple=True, type=click.Path(path_type=Path),
              metavar="TREE", help="Say whether this kernel tree already hides each"
                                   " pattern; repeatable.")
@click.option("--observed", "reports", multiple=True, type=click.Path(path_type=Path),
              metavar="REPORT.json", help="An lldbisect check/probe/validate --json report:"
                                          " mark the patterns real symbols confirm.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (lldbisect.scan/1).")
def scan_commit(repo: Path, rev: str, kernels: tuple[Path, ...], reports: tuple[Path, ...],
                as_json: bool) -> None:
    """The symbol-name patterns commit REV of REPO adds, renames or removes.

    Reads the commit's files before and after it (the checkout is not touched): lld's
    name-building C++ in every spelling LLVM has used (Saver.save, saver().save,
    ctx.saver.save, Twine, "__X" + name, streams, names split over lines) and GNU ld's
    printf formats ("__%s_veneer", "%08x.long_branch.%s").

    \b
    Example:
      lldbisect scan-commit ~/llvm-project 1a2b3c4 \\
          --kernel ~/linux --observed check.json
    """
    from lldbisect.analysis.commitscan import annotate, scan
    from lldbisect.bisect.gitrepo import commit_changes
    from lldbisect.kernel.rules import load_labelled
    from lldbisect.report.scan import SCAN_SCHEMA, item_json, scan_text

    trees = load_labelled(kernels)
    observed = _observed(reports)
    info, changes = commit_changes(repo, rev)
    items = annotate(scan(changes), trees, observed)
    labels = [label for label, _ in trees]
    if as_json:
        click.echo(json.dumps({"schema": SCAN_SCHEMA, "commit": info.hexsha,
                               "subject": info.subject, "kernels": labels,
                               "items": [item_json(i) for i in items]}, indent=1))
        return
    click.echo(f"{info.hexsha[:12]} {info.subject}")
    click.echo(scan_text(items, labels, bool(reports)), nl=False)
