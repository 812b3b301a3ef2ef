"""An LLVM-shaped repository for bisect tests, written by the test with GitPython.

Its commits change files under lld/, llvm/ and clang/ (our own text); lld/VERSION says
which of Debian's real lld releases "building" that commit yields, so the bisect drives
real linkers on a real kernel without an LLVM build. The culprit renames the v5 PIC
thunk in our lld-style Thunks.cpp as lld 16 did, for scan-commit.
"""

from __future__ import annotations

from pathlib import Path

import git

from tests.lldsource import THUNKS_2022, THUNKS_2023

# (subject, {path: content}); lld/VERSION is the linker a build of the commit gives.
HISTORY = [
    ("Initial import", {"llvm/README.txt": "llvm\n", "lld/ELF/Thunks.cpp": THUNKS_2022,
                        "lld/VERSION": "15\n", "clang/README.txt": "clang\n"}),
    ("[clang] Tweak a diagnostic", {"clang/README.txt": "clang 2\n"}),
    ("[lld] Driver: accept a new option", {"lld/ELF/Driver.cpp": "// driver\n"}),
    ("[llvm] Refactor a pass", {"llvm/lib/Pass.cpp": "// pass\n"}),
    ("[lld] Relocations: clean up", {"lld/ELF/Relocations.cpp": "// relocs\n"}),
    ("[lld][ARM] Use BX in v4/v5 PIC thunks",
     {"lld/ELF/Thunks.cpp": THUNKS_2023, "lld/VERSION": "16\n"}),
    ("[lld] Writer: a change that does not build",
     {"lld/ELF/Writer.cpp": "// broken\n", "lld/VERSION": "broken\n"}),
    ("[lld] Writer: fix the build", {"lld/ELF/Writer.cpp": "// fixed\n", "lld/VERSION": "16\n"}),
]
CULPRIT = 5  # index in HISTORY

# The "build": copy the Debian lld the commit names, count builds, fail when broken.
BUILD_CMD = ('v=$(cat "$LLDBISECT_SRC/lld/VERSION"); echo "$v" >> "{counter}"; '
             '[ "$v" = broken ] && exit 1; cp "/usr/lib/llvm-$v/bin/ld.lld" "$LLDBISECT_OUT"')


def commit_history(path: Path, history: list[tuple[str, dict[str, str]]]) -> list[str]:
    """A new repository at ``path`` with one commit per (subject, {file: text});
    returns the commit hashes in order."""
    repo = git.Repo.init(path)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "LLVM Fixture")
        cfg.set_value("user", "email", "fixture@example.org")
    hashes = []
    for subject, files in history:
        for rel, text in files.items():
            f = path / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
            repo.index.add([rel])
        hashes.append(repo.index.commit(subject).hexsha)
    return hashes


def make_repo(path: Path) -> list[str]:
    """Create the repository; returns the commit hashes in HISTORY order."""
    return commit_history(path, HISTORY)


# Files an ordinary lld commit touches in a long history, round robin.
_ORDINARY = ("lld/ELF/Driver.cpp", "lld/ELF/Writer.cpp", "lld/ELF/Relocations.cpp",
             "lld/ELF/InputSection.cpp", "lld/ELF/SyntheticSections.cpp")


def long_history(path: Path, n: int, culprit: int, *, renames: bool = True,
                 decoy: int | None = None) -> list[str]:
    """An LLVM-shaped repository of ``n`` commits, every one touching lld/ELF, written
    with one ``git fast-import`` (a thousand commits in well under a second). Commit 0
    is lld 15 with THUNKS_2022; ``culprit`` makes "building" give lld 16, renaming the
    v5 PIC thunk in Thunks.cpp as lld 16 did (``renames``) or changing only code that
    moves the layout (not ``renames``). ``decoy``: a commit that makes the same rename in
    the source while the linker it builds stays what it was. Returns the hashes."""
    import subprocess

    repo = git.Repo.init(path)
    thunks = THUNKS_2022
    bodies: dict[str, str] = {p: f"// {p}\n" for p in _ORDINARY}
    out = []
    for k in range(n):
        files: dict[str, str] = {}
        subject = f"[lld] {_ORDINARY[k % len(_ORDINARY)].rsplit('/', 1)[1]}: change {k}"
        if k == 0:
            files = {"lld/VERSION": "15\n", "lld/ELF/Thunks.cpp": thunks,
                     "llvm/README.txt": "llvm\n", **bodies}
            subject = "Initial import"
        elif k == culprit:
            files["lld/VERSION"] = "16\n"
            if renames:
                thunks = THUNKS_2023
                files["lld/ELF/Thunks.cpp"] = thunks
                subject = "[lld][ARM] Use BX in v4/v5 PIC thunks"
            else:
                files["lld/ELF/Writer.cpp"] = bodies["lld/ELF/Writer.cpp"] = (
                    bodies["lld/ELF/Writer.cpp"] + "// sections placed differently\n")
                subject = "[lld] Writer: place sections differently"
        elif k == decoy:
            thunks = THUNKS_2023
            files["lld/ELF/Thunks.cpp"] = thunks
            subject = "[lld][ARM] Rename the v5 PIC thunk (the linker stays the same)"
        else:
            f = _ORDINARY[k % len(_ORDINARY)]
            files[f] = bodies[f] = bodies[f] + f"// change {k}\n"
        out.append("commit refs/heads/main\n"
                   f"mark :{k + 1}\n"
                   f"committer LLVM Fixture <fixture@example.org> {1600000000 + k * 60} +0000\n"
                   f"data {len(subject.encode())}\n{subject}\n")
        if k:
            out.append(f"from :{k}\n")
        for f, text in files.items():
            data = text.encode()
            out.append(f"M 100644 inline {f}\ndata {len(data)}\n{text}\n")
        out.append("\n")
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"],
                   input="".join(out).encode(), check=True)
    repo.git.checkout("-q", "-f", "main")
    marks = repo.git.rev_list("--reverse", "main").split()
    assert len(marks) == n
    return marks
