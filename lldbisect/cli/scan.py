"""``scan-commit``: the symbol-name patterns a linker commit introduces."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
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
@click.argument("repo", type=click.Path(path_type=Path), required=False)
@click.argument("rev", required=False)
@click.option("--trees", nargs=2, type=click.Path(path_type=Path), metavar="OLD NEW",
              help="Compare two source trees (lld/ELF of two releases) instead of a"
                   " commit.")
@click.option("--kernel", "kernels", multiple=True, type=click.Path(path_type=Path),
              metavar="TREE", help="Say whether this kernel tree already hides each"
                                   " pattern; repeatable.")
@click.option("--observed", "reports", multiple=True, type=click.Path(path_type=Path),
              metavar="REPORT.json", help="An lldbisect check/probe/validate --json report:"
                                          " mark the patterns real symbols confirm.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (lldbisect.scan/1).")
def scan_commit(repo: Path | None, rev: str | None, trees: tuple[Path, Path] | None,
                kernels: tuple[Path, ...], reports: tuple[Path, ...], as_json: bool) -> None:
    """The symbol-name patterns commit REV of REPO adds, renames or removes.

    REV may be a range A..B: every commit in it (first parents, oldest first), each
    change marked with its commit. --trees OLD NEW compares two source trees instead.
    The C++ is read as code, never the checkout touched: a string counts only where it
    reaches a call that creates a symbol (addSymbol, addSyntheticLocal, makeDefined),
    through saver().save, Twine, +, conditional expressions (each branch a name),
    constants, variables and string streams; comments and #if 0 blocks are left out.
    GNU ld's bfd is read in C: printf formats ("__%s_veneer", "%08x.long_branch.%s",
    "__vfp11_veneer_%x"), concat (".pic.", name, NULL), a prefix handed to a function
    that concatenates it; a buffer that names a section is left out. A rename is paired
    by the thunk it names: the same function, or a class created at the same place
    under a new name.

    \b
    Example:
      lldbisect scan-commit ~/llvm-project 1a2b3c4 \\
          --kernel ~/linux --observed check.json
      lldbisect scan-commit ~/llvm-project llvmorg-15.0.6..llvmorg-16.0.6
    """
    import time

    from lldbisect.analysis.commitscan import annotate, scan, scannable, tree_changes
    from lldbisect.bisect.gitrepo import commit_changes, range_changes
    from lldbisect.kernel.rules import load_labelled
    from lldbisect.report.scan import SCAN_SCHEMA, item_json, scan_text

    if trees and (repo is not None or rev is not None):
        raise click.UsageError("give REPO REV or --trees OLD NEW, not both")
    if not trees and (repo is None or rev is None):
        raise click.UsageError("give REPO REV (a commit or a range A..B), or --trees OLD NEW")
    labelled = load_labelled(kernels)
    observed = _observed(reports)
    shown = [time.monotonic()]

    def progress(what: str) -> Callable[[int, str], None]:
        def tell(k: int, path: str) -> None:
            # A line a second at most, for commits of thousands of files.
            if time.monotonic() - shown[0] >= 1.0:
                shown[0] = time.monotonic()
                click.echo(f"lldbisect: scan-commit: {what}: {k} files read ({path})",
                           err=True)
        return tell

    commits: list[dict[str, str]] = []
    items = []
    if trees:
        label, subject = f"{trees[0]}..{trees[1]}", "two source trees"
        items = scan(tree_changes(*trees), progress(label))
    elif rev is not None and "..." in rev:
        raise click.UsageError(f"{rev}: a symmetric difference (A...B) has no order to"
                               " scan in; give A..B")
    elif rev is not None and ".." in rev:
        assert repo is not None
        for k, (info, changes) in enumerate(range_changes(repo, rev, scannable), 1):
            commits.append({"hexsha": info.hexsha, "subject": info.subject})
            items += [replace(i, commit=info.hexsha) for i in
                      scan(changes, progress(f"{rev}: commit {k} {info.hexsha[:12]}"))]
        label, subject = rev, f"{len(commits)} commits"
    else:
        assert repo is not None and rev is not None
        info, changes = commit_changes(repo, rev, scannable)
        commits.append({"hexsha": info.hexsha, "subject": info.subject})
        items = scan(changes, progress(info.hexsha[:12]))
        label, subject = info.hexsha, info.subject
    items = annotate(items, labelled, observed)
    labels = [lab for lab, _ in labelled]
    if as_json:
        click.echo(json.dumps({"schema": SCAN_SCHEMA, "commit": label, "subject": subject,
                               "commits": commits, "kernels": labels,
                               "items": [item_json(i) for i in items]}, indent=1))
        return
    click.echo(f"{label[:12] if len(commits) == 1 else label} {subject}")
    click.echo(scan_text(items, labels, bool(reports)), nl=False)
