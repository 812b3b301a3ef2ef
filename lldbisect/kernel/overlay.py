"""A kernel tree as a patch would leave it, without writing to the tree.

Proving a patch means relinking the build with the patched ``scripts/kallsyms.c`` or
``scripts/mksysmap``. The tree is the user's checkout, or the source cache every test
shares: patching it in place leaves it patched when the relink is interrupted. So the
patched files are written beside it, and the relink runs in a private mount namespace
(``unshare``) where they are bind-mounted over the originals: outside that one process
tree the files never change, whatever happens to it. Where no namespace can be had (no
root and no user namespaces), the patch is applied in place and reverted on every exit
path; the CLI turns SIGTERM into the same unwinding as Ctrl-C.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lldbisect.errors import ToolError

__all__ = ["PatchedTree", "patched_tree"]

_RULE_FILES = ("Makefile", "scripts/kallsyms.c", "scripts/mksysmap",
               "scripts/link-vmlinux.sh")


@dataclass(frozen=True)
class PatchedTree:
    """The files a patch changes: each original path in the tree and the patched copy
    that stands in for it. Empty ``mounts`` when the patch was applied in place."""

    tree: Path
    mounts: tuple[tuple[Path, Path], ...]  # (patched copy, original)
    in_place: bool
    # A tree whose rule files are the patched ones, for reading the rules outside the
    # namespace (``check --kernel``): the copy, or the tree itself when patched in place.
    rules_tree: Path

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run where the tree looks patched."""
        if not self.mounts:
            return argv
        binds = " && ".join(f"mount --bind {shlex.quote(str(new))} {shlex.quote(str(old))}"
                            for new, old in self.mounts)
        return [*_unshare(), "sh", "-c", f'{binds} && exec "$@"', "sh", *argv]


def _unshare() -> list[str]:
    # A user namespace maps us to root inside it, for users who are not root.
    return ["unshare", "--mount", "--propagation", "private",
            *([] if os.geteuid() == 0 else ["--map-root-user"]), "--"]


@cache
def namespaces_work() -> bool:
    """Whether this machine lets us bind-mount in a private mount namespace."""
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp, "a"), Path(tmp, "b")
        a.write_text("a")
        b.write_text("b")
        probe = PatchedTree(Path(tmp), ((a, b),), False, Path(tmp))
        done = subprocess.run(probe.wrap(["cat", str(b)]), capture_output=True, text=True,
                              check=False)
        return done.returncode == 0 and done.stdout == "a" and b.read_text() == "b"


def _touched(patch: str) -> list[str]:
    """The tree-relative paths a ``git format-patch`` mail changes."""
    return sorted(set(re.findall(r"^\+\+\+ b/(\S+)$", patch, re.M)))


def _git_apply(cwd: Path, mail: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "apply", *flags, str(mail)], cwd=cwd, text=True,
                              capture_output=True, check=False)
    except FileNotFoundError:
        raise ToolError("git not found: needed to apply the patch") from None


@contextmanager
def patched_tree(tree: Path, patch: str) -> Iterator[PatchedTree]:
    """The tree as ``patch`` leaves it, for the length of the ``with``.

    Raises ValueError (with git's words) when the patch does not apply; the tree is
    then untouched.
    """
    touched = _touched(patch)
    with tempfile.TemporaryDirectory(prefix="lldbisect-patch-") as tmp:
        mail = Path(tmp, "0001.patch")
        mail.write_text(patch)
        if namespaces_work():
            copy = Path(tmp, "tree")
            # The files the rules are read from come along, patched or not.
            for rel in sorted(set(touched) | {r for r in _RULE_FILES
                                                  if (tree / r).is_file()}):
                (copy / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(tree / rel, copy / rel)
            done = _git_apply(copy, mail)
            if done.returncode:
                raise ValueError(done.stderr.strip()[-300:])
            yield PatchedTree(tree, tuple((copy / r, tree / r) for r in touched), False, copy)
            return
        done = _git_apply(tree, mail, "--check")
        if done.returncode:
            raise ValueError(done.stderr.strip()[-300:])
        saved = {rel: (tree / rel).read_bytes() for rel in touched}
        _git_apply(tree, mail)
        try:
            yield PatchedTree(tree, (), True, tree)
        finally:
            # Put back the bytes we read, not the reverse patch: it cannot fail halfway.
            for rel, data in saved.items():
                (tree / rel).write_bytes(data)
