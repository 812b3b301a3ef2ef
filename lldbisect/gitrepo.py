"""The only importer of GitPython: identities, and (later) repositories and bisects."""

from __future__ import annotations

import contextlib
from pathlib import Path

import git

__all__ = ["identity"]


def identity(where: Path | None = None) -> str:
    """``Name <email>`` from git config (the repository's, else the user's), as
    ``git format-patch`` and ``Signed-off-by`` use it."""
    readers = []
    if where is not None:
        with contextlib.suppress(git.InvalidGitRepositoryError, git.NoSuchPathError):
            readers.append(git.Repo(where, search_parent_directories=True).config_reader())
    readers.append(git.GitConfigParser(
        [str(Path.home() / ".gitconfig"), "/etc/gitconfig"], read_only=True))
    for reader in readers:
        name = reader.get_value("user", "name", default="")
        email = reader.get_value("user", "email", default="")
        if name and email:
            return f"{name} <{email}>"
    return "lldbisect <lldbisect@localhost>"
