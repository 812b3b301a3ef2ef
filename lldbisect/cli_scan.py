"""``scan-commit``: the symbol-name patterns a linker commit introduces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lldbisect.errors import InputError

if TYPE_CHECKING:  # the command's modules load when it runs, not with the CLI
    from lldbisect.commitscan import ScanItem


def _observed(paths: tuple[Path, ...]) -> set[str]:
    from lldbisect.commitscan import observed_names

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


def item_json(item: ScanItem) -> dict[str, Any]:
    return {"change": item.change.value, "kind": item.pattern.kind.value,
            "pattern": item.pattern.text, "file": item.file, "line": item.line,
            "scope": item.scope, "spelling": item.spelling,
            "was": None if item.was is None else {"kind": item.was.kind.value,
                                                  "pattern": item.was.text,
                                                  "line": item.was_line},
            "hidden_by": item.hidden_by, "observed": item.observed}


def scan_text(items: list[ScanItem], kernels: list[str], observed: bool) -> str:
    if not items:
        return "no symbol-name patterns added, removed or renamed\n"
    lines = []
    for it in items:
        what = f"{it.change.value:<8} {it.pattern}"
        if it.was is not None:
            what += f"   (was {it.was}, line {it.was_line})"
        lines.append(what)
        lines.append(f"         at {it.file}:{it.line}" + (f" in {it.scope}" if it.scope else ""))
        for k in kernels:
            rule = it.hidden_by.get(k)
            lines.append(f"         {k}: " + (f"hidden by {rule}" if rule else
                                             "kallsyms would see it"))
        if observed:
            lines.append("         " + (f"confirmed: {', '.join(it.observed[:4])}"
                                      if it.observed else "only in the source"))
    return "\n".join(lines) + "\n"


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
    from lldbisect.commitscan import annotate, scan
    from lldbisect.gitrepo import commit_changes
    from lldbisect.kernel.rules import load_labelled

    trees = load_labelled(kernels)
    observed = _observed(reports)
    info, changes = commit_changes(repo, rev)
    items = annotate(scan(changes), trees, observed)
    labels = [label for label, _ in trees]
    if as_json:
        click.echo(json.dumps({"schema": "lldbisect.scan/1", "commit": info.hexsha,
                               "subject": info.subject, "kernels": labels,
                               "items": [item_json(i) for i in items]}, indent=1))
        return
    click.echo(f"{info.hexsha[:12]} {info.subject}")
    click.echo(scan_text(items, labels, bool(reports)), nl=False)
