"""A kernel build's link, kept aside and put back, as ``git bisect reset`` puts back HEAD.

Relinks overwrite what the user's last link left: ``vmlinux``, ``System.map``, the
temporary stages, and (when a patched ``scripts/kallsyms.c`` was tried) the host program
``scripts/kallsyms``, whose newer time would make kbuild keep the patched one. The
objects below the top directory are never written by a relink; ``.config`` is kept
too, so even a relink that went wrong cannot leave the build reconfigured.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from lldbisect.errors import ToolError

__all__ = ["kept_build"]

# Below the top directory, what a relink rebuilds: the kallsyms host program.
_DEEP = ("scripts/kallsyms", "scripts/.kallsyms.cmd")


def _links(build_dir: Path) -> dict[str, tuple[str, int]]:
    """Top-level symbolic links (kbuild remakes ``source`` on every make): target, time."""
    out = {}
    for e in os.scandir(build_dir):
        if e.is_symlink():
            with suppress(OSError):
                out[e.name] = (os.readlink(e.path), e.stat(follow_symlinks=False).st_mtime_ns)
    return out


def _dirs(build_dir: Path) -> set[str]:
    return {e.name for e in os.scandir(build_dir) if e.is_dir(follow_symlinks=False)}


def _files(build_dir: Path) -> dict[str, os.stat_result]:
    found = {}
    for entry in os.scandir(build_dir):
        if entry.is_file(follow_symlinks=False):
            found[entry.name] = entry.stat(follow_symlinks=False)
    for rel in _DEEP:
        with suppress(OSError):
            found[rel] = (build_dir / rel).stat()
    return found


@contextmanager
def kept_build(build_dir: Path) -> Iterator[None]:
    """Within the ``with``, relink as you like: afterwards the build's top-level files and
    its kallsyms program are as they were (same bytes and times), and files the relinks
    added there are gone, with the top-level directories they made (the relinker's
    ``.lldbisect/``). Raises ToolError when the copy cannot be made."""
    before = _files(build_dir)
    dirs = _dirs(build_dir)
    links = _links(build_dir)
    with tempfile.TemporaryDirectory(prefix="lldbisect-keep-", dir=build_dir) as tmp:
        keep = Path(tmp)
        try:
            for rel in before:
                (keep / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(build_dir / rel, keep / rel)
        except OSError as e:
            raise ToolError(f"{build_dir}: cannot keep a copy of the build's link:"
                            f" {e.strerror}") from None
        try:
            yield
        finally:
            for name in _links(build_dir).keys() - links.keys():
                with suppress(OSError):
                    (build_dir / name).unlink()  # a link the relinks made
            for name, (target, mtime) in links.items():
                path = build_dir / name
                with suppress(OSError):
                    if not path.is_symlink() or os.readlink(path) != target:
                        path.unlink(missing_ok=True)
                        path.symlink_to(target)
                    os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
            for name in _dirs(build_dir) - dirs - {keep.name}:
                shutil.rmtree(build_dir / name, ignore_errors=True)
            after = _files(build_dir)
            for rel in after.keys() - before.keys():
                (build_dir / rel).unlink(missing_ok=True)
            for rel, st in before.items():
                now = after.get(rel)
                if now is None or (now.st_size, now.st_mtime_ns) != (st.st_size,
                                                                     st.st_mtime_ns):
                    (build_dir / rel).unlink(missing_ok=True)
                    shutil.copy2(keep / rel, build_dir / rel)
