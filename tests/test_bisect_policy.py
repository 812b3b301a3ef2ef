"""The commit bisect's policy as a scenario table, under real git: every verdict a
commit earns (good, bad, skip) laid out along a history, skips next to the culprit
included. The predicate is a table; git, its worktree and its messages are real."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from lldbisect.bisect.builders.llvm import BuildOutcome
from lldbisect.bisect.gitrepo import Worktree
from lldbisect.bisect.policy import Bisector, StepRole
from lldbisect.bisect.steps import StepOutcome, StepVerdict
from tests.llvmrepo import commit_history

V = {"G": StepVerdict.GOOD, "B": StepVerdict.BAD, "S": StepVerdict.SKIP}


def _bisect(tmp_path: Path, verdicts: str) -> tuple[list[str], object]:
    hashes = commit_history(tmp_path / "repo", [(f"commit {k} ({v})", {"f": f"{k}\n"})
                                                for k, v in enumerate(verdicts)])
    truth = dict(zip(hashes, verdicts))
    repo = git.Repo(tmp_path / "repo")
    wt = Worktree(repo, tmp_path / "wt")

    def build(rev: str) -> BuildOutcome:
        return BuildOutcome(Path(wt.resolve(rev)), False, 0.0, False)

    def test(linker: str) -> StepOutcome:
        return StepOutcome(V[truth[Path(linker).name]], "table", 0.0)

    bisector = Bisector(wt, build, test, lambda e: None, tmp_path / "side.json",
                        noop_check=False)
    return hashes, bisector.run(hashes[0], hashes[-1], [])


@pytest.mark.parametrize("verdicts, culprit, candidates", [
    ("GGGBBB", 3, []),
    ("GSGBB", 3, []),
    ("GGSBB", None, [2, 3]),  # the skip right before the culprit: either may be first bad
    ("GGSSBB", None, [2, 3, 4]),
    ("GGBSB", 2, []),  # a skip after the culprit changes nothing
])
def test_skips_around_the_culprit(tmp_path: Path, verdicts: str, culprit: int | None,
                                  candidates: list[int]) -> None:
    hashes, result = _bisect(tmp_path, verdicts)
    got_culprit = None if result.culprit is None else hashes.index(result.culprit.hexsha)
    assert got_culprit == culprit
    assert sorted(hashes.index(c) for c in result.candidates) == candidates
    # Every verdict is the commit's own, and git's log holds them.
    for s in result.steps:
        assert s.verdict is V[verdicts[hashes.index(s.revision)]]
    assert "git bisect start" in result.log
    if culprit is not None:
        roles = {s.role for s in result.steps}
        assert {StepRole.CONFIRM_PARENT, StepRole.CONFIRM_CULPRIT} <= roles
        assert result.confirmed
