"""A kernel history for bisect tests: Debian's real 6.1 tree, committed by the test.

The repository is the test's; its work tree is a hard-linked copy of the cached source
tree (seconds, no space), read and never written: later commits are made from blobs,
through the index, so the cache's files are never touched. The history: 6.1 with its
kallsyms.c hiding lld 16's ARMv4 PIC thunks (good with lld 16),
a documentation commit, the commit that drops that name (the culprit), another
documentation commit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

KALLSYMS = "scripts/kallsyms.c"
OLD = '\t\t"__ARMV5PILongThunk_",\t/* arm lld */\n'
NEW = OLD + '\t\t"__ARMv4PILongBXThunk_",\n'
CULPRIT = 2
SUBJECTS = ["Linux 6.1, lld 16 thunks hidden", "Documentation: a note",
            "kallsyms: drop the ARMv4 PIC thunk name", "Documentation: another note"]


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args],
                          input=stdin, capture_output=True, text=True, check=True,
                          env={"GIT_AUTHOR_NAME": "Fixture", "GIT_AUTHOR_EMAIL": "f@example.org",
                               "GIT_COMMITTER_NAME": "Fixture",
                               "GIT_COMMITTER_EMAIL": "f@example.org", "PATH": "/usr/bin:/bin"})
    return done.stdout.strip()


def _put(repo: Path, path: str, text: str) -> None:
    blob = _git(repo, "hash-object", "-w", "--stdin", stdin=text)
    _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")


def make_kernel_repo(tree: Path, repo: Path) -> list[str]:
    """The history above in a new repository at ``repo``; the commit hashes, oldest
    first."""
    subprocess.run(["cp", "-al", str(tree), str(repo)], check=True)
    _git(repo, "init", "-q")
    _git(repo, "add", "--force", "-A", ".")  # Debian's .gitignore ignores the top level
    original = (tree / KALLSYMS).read_text()
    assert OLD in original, "6.1's kallsyms.c changed shape"
    hashes = []
    edits = [{KALLSYMS: original.replace(OLD, NEW)},
             {"Documentation/lldbisect-note.txt": "a note\n"},
             {KALLSYMS: original},
             {"Documentation/lldbisect-note.txt": "another note\n"}]
    for subject, files in zip(SUBJECTS, edits, strict=True):
        for path, text in files.items():
            _put(repo, path, text)
        _git(repo, "commit", "-q", "-m", subject)
        hashes.append(_git(repo, "rev-parse", "HEAD"))
    return hashes
