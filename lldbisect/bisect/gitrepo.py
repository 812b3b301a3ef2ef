"""The only importer of GitPython: identities, worktrees, tree hashes and ``git bisect``.

Every bisect runs in a worktree of its own, so the user's checkout, index and branch are
never touched; git keeps each worktree's bisect state apart, which is what lets a run be
resumed.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import git

from lldbisect.bisect.verdicts import StepVerdict
from lldbisect.errors import InputError, ToolError

__all__ = ["BisectState", "CheckoutOrigin", "CommitInfo", "Worktree", "checkout_origin",
           "identity", "open_repo", "remaining", "repo_tag"]


def remaining(state_message: str) -> str:
    """git's own "N revisions left to test after this (roughly M steps)", shortened."""
    m = re.search(r"(\d+) revisions? left to test after this \(roughly (\d+) steps?\)",
                  state_message)
    return f"; {m.group(1)} candidates left, ~{m.group(2)} steps left" if m else ""


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


@dataclass(frozen=True)
class CommitInfo:
    hexsha: str
    subject: str
    author: str
    date: str


def open_repo(path: Path) -> git.Repo:
    """The repository at ``path``. Raises InputError when it is not one."""
    try:
        return git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InputError(path, "not a git repository") from None


@dataclass(frozen=True)
class CheckoutOrigin:
    """Where a checkout comes from: its remote's URL (origin, else the first), its HEAD
    commit, and whether tracked files have changes not committed."""

    url: str | None
    sha: str
    dirty: bool


def checkout_origin(path: Path) -> CheckoutOrigin | None:
    """The origin of the git checkout at ``path`` itself (not a parent's); None when it
    is none, or has no commit."""
    try:
        repo = git.Repo(path, search_parent_directories=False)
        sha = repo.head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
    remote = next((r for r in repo.remotes if r.name == "origin"),
                  repo.remotes[0] if repo.remotes else None)
    url = next(iter(remote.urls), None) if remote is not None else None
    return CheckoutOrigin(url, sha, repo.is_dirty(untracked_files=False))


def repo_tag(repo: git.Repo) -> str:
    """A short stable name for the user's repository, for our worktree and cache of it."""
    return hashlib.sha1(str(Path(repo.working_dir).resolve()).encode()).hexdigest()[:12]


class Worktree:
    """A detached worktree of ``repo`` under ``path``, created once and reused."""

    owned = True  # ours to check out; False for the user's checkout under git bisect run

    @classmethod
    def existing(cls, repo: git.Repo) -> Worktree:
        """The user's own checkout, as ``git bisect run`` left it: never checked out."""
        wt = cls.__new__(cls)
        wt.repo, wt.path, wt.wt, wt.owned = repo, Path(repo.working_dir), repo, False
        return wt

    def __init__(self, repo: git.Repo, path: Path) -> None:
        self.repo = repo
        self.path = path
        if not (path / ".git").exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._git_main("worktree", "prune")
            self._git_main("worktree", "add", "--detach", str(path), "HEAD")
        self.wt = git.Repo(path)

    def _git_main(self, *args: str) -> str:
        try:
            # --git-dir: a repository whose work tree has no .git (core.worktree) too.
            return str(self.repo.git.execute(["git", f"--git-dir={self.repo.git_dir}", *args]))
        except git.GitCommandError as e:
            raise ToolError(f"git {' '.join(args[:2])} failed: {e.stderr.strip()[-300:]}")\
                from None

    def git(self, *args: str) -> str:
        try:
            return str(self.wt.git.execute(["git", *args]))
        except git.GitCommandError as e:
            said = "\n".join(str(x).strip() for x in (e.stdout, e.stderr) if x)
            raise ToolError(f"git {' '.join(args[:2])} failed in {self.path}:"
                            f" {said[-2000:]}") from None

    def resolve(self, rev: str) -> str:
        """The full hash of ``rev``. Raises InputError for an unknown revision."""
        try:
            return str(self.repo.git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}"))
        except git.GitCommandError:
            raise InputError(str(self.repo.working_dir), f"unknown revision {rev!r}") from None

    def info(self, rev: str) -> CommitInfo:
        c = self.repo.commit(rev)
        return CommitInfo(c.hexsha, str(c.summary), f"{c.author.name} <{c.author.email}>",
                          c.committed_datetime.isoformat())

    def tree_hash(self, rev: str, paths: list[str]) -> str:
        """The git tree (or blob) hashes of ``paths`` at ``rev``: equal when those paths
        are equal, whatever else the commit changed."""
        out = []
        for p in paths:
            try:
                out.append(f"{p}={self.repo.git.rev_parse(f'{rev}:{p}')}")
            except git.GitCommandError:
                out.append(f"{p}=absent")
        return ",".join(out)

    def candidates(self, good: str, bad: str, pathspec: list[str]) -> list[str]:
        """Commits in good..bad touching ``pathspec`` (what git bisect will test)."""
        out = self.repo.git.rev_list(f"{good}..{bad}", "--", *pathspec)
        return [ln for ln in str(out).splitlines() if ln]

    def checkout(self, rev: str) -> None:
        if not self.owned:
            if self.resolve(rev) != self.head():
                raise ToolError(f"{self.path} is the user's checkout: not moving it")
            return
        self.git("checkout", "--quiet", "--detach", "--force", rev)

    def head(self) -> str:
        return str(self.wt.head.commit.hexsha)


@dataclass(frozen=True)
class BisectState:
    """Where ``git bisect`` stands after a step."""

    done: bool
    culprit: str | None
    candidates: list[str]  # when only skipped commits are left
    message: str


def bisect_start(wt: Worktree, bad: str, good: str, pathspec: list[str]) -> BisectState:
    wt.git("bisect", "reset")
    return _state(wt.git("bisect", "start", bad, good, "--", *pathspec))


def bisect_active(wt: Worktree) -> bool:
    try:
        return bool(wt.git("bisect", "log").strip())
    except ToolError:
        return False


def bisect_mark(wt: Worktree, term: StepVerdict, rev: str | None = None) -> BisectState:
    """``git bisect good|bad|skip`` at HEAD (or at ``rev``, a verdict already known),
    and what git said. When only skipped commits are left, git says which commits the
    first bad could be and exits non-zero: that is an answer (the candidates), not a
    failure."""
    try:
        return _state(wt.git("bisect", term, *([rev] if rev else [])))
    except ToolError as e:
        state = _state(e.message)
        if state.done:
            return state
        raise


_ONLY_SKIPPED = re.compile(r"only '?skip'?ped commits left")


def _state(out: str) -> BisectState:
    m = re.search(r"^([0-9a-f]{40}) is the first bad commit", out, re.M)
    if m:
        return BisectState(True, m.group(1), [], out)
    if _ONLY_SKIPPED.search(out):
        tail = re.split(r"could be any of:", out, maxsplit=1)[-1]
        cands = re.findall(r"^([0-9a-f]{40})\b", tail, re.M)
        return BisectState(True, None, cands, out)
    return BisectState(False, None, [], out)


def bisect_log(wt: Worktree) -> str:
    try:
        return wt.git("bisect", "log")
    except ToolError:
        return ""


def bisect_reset(wt: Worktree) -> None:
    with contextlib.suppress(ToolError):
        wt.git("bisect", "reset")


@dataclass(frozen=True)
class FileChange:
    """One file a commit changed: its text before and after ("" where absent)."""

    old_path: str | None
    new_path: str | None
    old_text: str
    new_text: str


def commit_changes(path: Path, rev: str, wanted: Callable[[str], bool] | None = None
                   ) -> tuple[CommitInfo, list[FileChange]]:
    """The commit ``rev`` of the repository at ``path`` and the files it changed against
    its first parent, read from git's objects (the checkout is not touched); with
    ``wanted``, only the files whose path it accepts are read.

    Raises InputError for a path that is no repository or an unknown revision."""
    repo = open_repo(path)
    try:
        commit = repo.commit(rev)
    except (git.BadName, ValueError, git.GitCommandError):
        raise InputError(path, f"unknown revision {rev!r}") from None
    return _changes(repo, path, commit, wanted)


def range_changes(path: Path, spec: str, wanted: Callable[[str], bool] | None = None, *,
                  paths: Sequence[str] = (), first_parent: bool = True
                  ) -> Iterator[tuple[CommitInfo, list[FileChange]]]:
    """Each commit of ``A..B`` (oldest first) with its files, as ``commit_changes``.
    ``paths``: only commits touching them, and only their files. ``first_parent``
    False: every commit git bisect could name, each against its own first parent
    (merges, whose changes are their branches', carry none).
    Raises InputError for an unknown end or a range cut by a shallow clone."""
    repo = open_repo(path)
    old, new = spec.split("..", 1)
    for end in (old, new):
        try:
            repo.commit(end or "HEAD")
        except (git.BadName, ValueError, git.GitCommandError):
            raise InputError(path, f"unknown revision {end!r} in {spec!r}") from None
    # One `git log --raw` for the whole range, and the blobs through git's persistent
    # cat-file: a process per commit would cost more than reading it.
    try:
        walk = ["--first-parent", "--diff-merges=first-parent"] if first_parent else []
        out = repo.git.log("--reverse", *walk, "-M", "--raw", "--no-abbrev", "-z",
                           "--format=%x01%H%x00%P%x00%an <%ae>%x00%cI%x00%s", spec,
                           "--", *paths)
    except git.GitCommandError as e:
        raise InputError(path, f"cannot list {spec!r}: {e.stderr.strip()}") from None
    shallow = _shallow(repo)
    for record in out.split("\x01")[1:]:
        head, _, raw = record.partition("\n")
        sha, _parents, author, date, subject = (head.split("\x00") + [""] * 5)[:5]
        if sha in shallow:  # its parents were cut off: its diff would be the whole tree
            raise InputError(path, f"commit {sha[:12]}'s parent is not in this (shallow?)"
                                   " clone: `git fetch --unshallow` first")
        fields = raw.lstrip("\n\x00").split("\x00")
        changes = []
        k = 0
        while k < len(fields) - 1:
            meta = fields[k]
            if not meta.startswith(":"):
                k += 1
                continue
            _, _, old_sha, new_sha, status = meta[1:].split(" ", 4)
            # A rename or copy names two paths (-M), as a single commit's diff does.
            two = status[:1] in ("R", "C")
            old_file, new_file = fields[k + 1], fields[k + 2] if two else fields[k + 1]
            k += 3 if two else 2
            if wanted is not None and not (wanted(new_file) or wanted(old_file)):
                continue
            changes.append(FileChange(None if set(old_sha) == {"0"} else old_file,
                                      None if set(new_sha) == {"0"} else new_file,
                                      _object_text(repo, old_sha), _object_text(repo, new_sha)))
        yield CommitInfo(sha, subject, author, date), changes


def _shallow(repo: git.Repo) -> set[str]:
    """The commits a shallow clone cut their parents from (none in a full clone)."""
    try:
        shallow = Path(repo.git.rev_parse("--git-path", "shallow"))
    except git.GitCommandError:
        return set()
    if not shallow.is_absolute():
        shallow = Path(repo.working_tree_dir or repo.git_dir) / shallow
    return set(shallow.read_text().split()) if shallow.is_file() else set()


def _object_text(repo: git.Repo, sha: str) -> str:
    if set(sha) == {"0"}:
        return ""
    data: bytes = repo.odb.stream(bytes.fromhex(sha)).read()
    return data.decode("utf-8", errors="replace")


def _changes(repo: git.Repo, path: Path, commit: git.Commit,
             wanted: Callable[[str], bool] | None) -> tuple[CommitInfo, list[FileChange]]:
    info = CommitInfo(commit.hexsha, str(commit.summary),
                      f"{commit.author.name} <{commit.author.email}>",
                      commit.committed_datetime.isoformat())
    base = commit.parents[0] if commit.parents else git.NULL_TREE
    if commit.parents and not _has_object(repo, commit.parents[0].hexsha):
        # A shallow clone keeps the parent's name in the commit but not the parent.
        raise InputError(path, f"commit {commit.hexsha[:12]}'s parent"
                               f" {commit.parents[0].hexsha[:12]} is not in this (shallow?)"
                               " clone: `git fetch --deepen=1` (or --unshallow) first")
    # a is the parent, b the commit (GitPython reverses the sense against NULL_TREE).
    diffs = commit.diff(base, R=bool(commit.parents))
    changes = []
    for d in diffs:
        if wanted is not None and not wanted(d.b_path or d.a_path or ""):
            continue  # a file nothing reads is never read: large commits stay fast
        changes.append(FileChange(d.a_path if d.a_blob else None,
                                  d.b_path if d.b_blob else None,
                                  _blob_text(d.a_blob), _blob_text(d.b_blob)))
    return info, changes


def files_at(path: Path, rev: str, files: Sequence[str]) -> dict[str, str | None]:
    """The text of each of ``files`` at ``rev`` (None where absent), from git's objects:
    no checkout. Raises InputError for an unknown revision."""
    repo = open_repo(path)
    try:
        tree = repo.commit(rev).tree
    except (git.BadName, ValueError, git.GitCommandError):
        raise InputError(path, f"unknown revision {rev!r}") from None
    out: dict[str, str | None] = {}
    for f in files:
        try:
            out[f] = _blob_text(tree / f)
        except KeyError:
            out[f] = None
    return out


def _has_object(repo: git.Repo, sha: str) -> bool:
    try:
        repo.git.cat_file("-e", sha)
    except git.GitCommandError:
        return False
    return True


def _blob_text(blob: git.Blob | None) -> str:
    if blob is None:
        return ""
    data: bytes = blob.data_stream.read()
    return data.decode("utf-8", errors="replace")
