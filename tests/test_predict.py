"""Predict, then confirm: the culprit read from the candidates' diffs, built with its
parent, and the bisection that takes over, with what the prediction cost kept.

The histories are real git repositories of our own (a thousand lld/ELF commits written
with git fast-import), the scan is the real one and so is git bisect; the build and the
verdict are a table here (the commit's lld/VERSION), so that every count of builds is
exact. tests/test_bisect.py runs the same on the real ARMv5 kernel with Debian's lld.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import git
import pytest

from lldbisect.bisect.builders.llvm import BuildOutcome
from lldbisect.bisect.gitrepo import Worktree
from lldbisect.bisect.policy import Bisector, BisectResult, Event, StepRole
from lldbisect.bisect.predict import Prediction, predict_kernel, predict_llvm
from lldbisect.bisect.steps import StepOutcome, StepVerdict
from lldbisect.report.bisect import found_by_text
from tests.llvmrepo import long_history

N = 1000
PLAIN = math.ceil(math.log2(N - 1))  # the candidates are good..bad: N - 1 commits
BAD_NAMES = (("__ARMv4PILongBXThunk_printk", "t"), ("__ARMv4PILongBXThunk_vprintk", "t"))
FIXTURES = Path(__file__).parent / "fixtures"


def _bisect(repo_path: Path, tmp_path: Path, *, predict: bool = True
            ) -> tuple[BisectResult, list[str], list[Event]]:
    """Bisect the whole history: a commit whose lld/VERSION says 16 is bad, with lld
    16's renamed thunks as its signature; returns the result, the revisions built (in
    order, endpoints included) and the progress."""
    repo = git.Repo(repo_path)
    hashes = repo.git.rev_list("--reverse", "main").split()
    wt = Worktree(repo, tmp_path / "wt")
    built: list[str] = []

    def build(rev: str) -> BuildOutcome:
        sha = wt.resolve(rev)
        if sha not in built:
            built.append(sha)
        return BuildOutcome(Path(sha), False, 0.0, built.count(sha) > 1)

    def test(linker: str) -> StepOutcome:
        bad = repo.git.show(f"{Path(linker).name}:lld/VERSION").strip() == "16"
        return StepOutcome(StepVerdict.BAD if bad else StepVerdict.GOOD, "table", 0.0,
                           signature=BAD_NAMES if bad else ())

    def predictor(good: str, bad: str, step: object) -> Prediction:
        return predict_llvm(repo_path, good, bad, ["lld"], [n for n, _ in BAD_NAMES])

    events: list[Event] = []
    bisector = Bisector(wt, build, test, events.append, tmp_path / "side.json",
                        noop_check=False, predict=predictor if predict else None)
    return bisector.run(hashes[0], hashes[-1], ["lld"]), built, events


def test_a_renaming_culprit_is_predicted_and_confirmed_in_two_builds(tmp_path: Path) -> None:
    hashes = long_history(tmp_path / "llvm", N, culprit=613)
    result, built, events = _bisect(tmp_path / "llvm", tmp_path)
    assert result.culprit is not None and result.culprit.hexsha == hashes[613]
    assert result.found_by == "predicted" and result.confirmed
    assert built == [hashes[0], hashes[-1], hashes[613], hashes[612]]
    assert result.builds == 2 and result.plain_builds == PLAIN == 10
    assert result.parent == hashes[612] and result.log == ""  # git bisect never ran
    assert result.prediction is not None and result.prediction["outcome"] == "confirmed"
    assert result.prediction["scanned"] == N - 1
    roles = [s.role for s in result.steps]
    assert roles == [StepRole.GOOD_ENDPOINT, StepRole.BAD_ENDPOINT, StepRole.PREDICTED,
                     StepRole.PREDICTED_PARENT]
    said = [e.message for e in events if e.kind == "predict"]
    assert said[0].startswith(f"scanned {N - 1:,} commit(s) in ")
    assert (f"1 candidate(s); {hashes[613][:12]} renames __ARMV5PILongThunk_ ->"
            " __ARMv4PILongBXThunk_") in said[0]
    assert "predicted and confirmed" in found_by_text(result.to_json())
    assert "2 build(s) besides the endpoints; a plain bisection needs about 10" in (
        found_by_text(result.to_json()))


def test_retries_count_the_prediction_as_the_first_confirmation(tmp_path: Path) -> None:
    hashes = long_history(tmp_path / "llvm", 50, culprit=20)
    repo = git.Repo(tmp_path / "llvm")
    wt = Worktree(repo, tmp_path / "wt")

    def test(linker: str) -> StepOutcome:
        bad = repo.git.show(f"{Path(linker).name}:lld/VERSION").strip() == "16"
        return StepOutcome(StepVerdict.BAD if bad else StepVerdict.GOOD, "t", 0.0,
                           signature=BAD_NAMES if bad else ())

    bisector = Bisector(wt, lambda r: BuildOutcome(Path(wt.resolve(r)), False, 0.0, False),
                        test, lambda e: None, tmp_path / "side.json", retries=3,
                        noop_check=False,
                        predict=lambda g, b, s: predict_llvm(tmp_path / "llvm", g, b, ["lld"],
                                                             [BAD_NAMES[0][0]]))
    result = bisector.run(hashes[0], hashes[-1], ["lld"])
    assert result.found_by == "predicted" and result.culprit is not None
    confirm = [s.role for s in result.steps if s.role.startswith("confirm")]
    assert confirm.count(StepRole.CONFIRM_PARENT) == 2  # + the predicted parent: 3
    assert confirm.count(StepRole.CONFIRM_CULPRIT) == 2
    assert result.confirmed and result.confidence == 1.0


@pytest.mark.parametrize("culprit, decoy", [(700, 300), (300, 700)],
                         ids=["decoy-before", "decoy-after"])
def test_a_decoy_is_refuted_and_the_bisection_keeps_its_verdicts(
        tmp_path: Path, culprit: int, decoy: int) -> None:
    # The decoy renames the thunk in the source while the linker stays the same; the
    # culprit changes only the layout.
    hashes = long_history(tmp_path / "llvm", N, culprit=culprit, renames=False, decoy=decoy)
    result, built, _events = _bisect(tmp_path / "llvm", tmp_path)
    assert result.culprit is not None and result.culprit.hexsha == hashes[culprit]
    assert result.found_by == "bisected" and result.confirmed
    assert result.prediction is not None
    assert result.prediction["outcome"] == "refuted"
    assert result.prediction["tested"] == hashes[decoy]
    # Its verdicts were given to git bisect: they are in its log, and cost no rebuild.
    assert f"# {'good' if decoy < culprit else 'bad'}: [{hashes[decoy]}]" in result.log
    assert len(built) == len(set(built)) == 2 + result.builds
    assert result.builds <= PLAIN + 2


def test_a_culprit_that_changes_no_name_is_bisected(tmp_path: Path) -> None:
    hashes = long_history(tmp_path / "llvm", N, culprit=457, renames=False)
    result, _built, events = _bisect(tmp_path / "llvm", tmp_path)
    assert result.culprit is not None and result.culprit.hexsha == hashes[457]
    assert result.found_by == "bisected"
    assert result.prediction is not None and result.prediction["outcome"] == "no-candidate"
    assert result.builds <= PLAIN + 1  # the bisection, and at most the parent to confirm
    assert any("none explains __ARMv4PILongBXThunk_printk" in e.message for e in events)
    assert "no commit's diff explains" in found_by_text(result.to_json())


def test_no_predict_is_a_plain_bisection(tmp_path: Path) -> None:
    hashes = long_history(tmp_path / "llvm", 200, culprit=150)
    result, _built, events = _bisect(tmp_path / "llvm", tmp_path, predict=False)
    assert result.culprit is not None and result.culprit.hexsha == hashes[150]
    assert result.found_by == "bisected" and result.prediction is None
    assert not any(e.kind == "predict" for e in events)
    assert "not asked (--no-predict)" in found_by_text(result.to_json())


def test_candidates_are_ranked_by_what_they_explain(tmp_path: Path) -> None:
    # Two commits rename the same thunk (the decoy first): both are candidates, the
    # older first; a name no commit explains is no candidate at all.
    hashes = long_history(tmp_path / "llvm", 120, culprit=90, decoy=40)
    found = predict_llvm(tmp_path / "llvm", hashes[0], hashes[-1], ["lld"],
                         [n for n, _ in BAD_NAMES])
    assert [hashes.index(c.hexsha) for c in found.candidates] == [40]  # 90: no change left
    assert found.candidates[0].names == tuple(n for n, _ in BAD_NAMES)
    nothing = predict_llvm(tmp_path / "llvm", hashes[0], hashes[-1], ["lld"],
                           ["__some_other_name"])
    assert nothing.candidates == [] and nothing.scanned == 119
    # The pathspec: commits outside it are never read.
    none = predict_llvm(tmp_path / "llvm", hashes[0], hashes[-1], ["clang"],
                        [n for n, _ in BAD_NAMES])
    assert none.scanned == 0


def _kernel_repo(path: Path, tree: Path, edits: list[tuple[str, dict[str, str]]]) -> list[str]:
    shutil.copytree(tree, path)
    repo = git.Repo.init(path)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Kernel Fixture")
        cfg.set_value("user", "email", "fixture@example.org")
    repo.git.add("-A", ".")
    hashes = [repo.index.commit("Linux, our fixture").hexsha]
    for subject, files in edits:
        for rel, text in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
            repo.index.add([rel])
        hashes.append(repo.index.commit(subject).hexsha)
    return hashes


def test_kernel_prediction_names_the_rule_change_that_stops_hiding(tmp_path: Path) -> None:
    tree = FIXTURES / "trees" / "f4-m2"
    mksysmap = (tree / "scripts" / "mksysmap").read_text()
    rule = "/ __ARMv4PILongBXThunk_/d\n"
    hidden = mksysmap.replace("/ __ARMV5PILongThunk_/d\n", "/ __ARMV5PILongThunk_/d\n" + rule)
    hashes = _kernel_repo(tmp_path / "linux", tree, [
        ("mksysmap: hide lld 16's ARMv4 PIC thunks", {"scripts/mksysmap": hidden}),
        ("Documentation: a note", {"Documentation/note.txt": "a note\n"}),
        ("mksysmap: sort the arm names", {"scripts/mksysmap": hidden.replace(
            "# arm lld\n", "# arm lld (sorted)\n")}),
        ("mksysmap: drop a name", {"scripts/mksysmap": mksysmap}),
        ("kallsyms: a comment", {"scripts/kallsyms.c": (tree / "scripts" / "kallsyms.c")
                                 .read_text() + "/* a comment */\n"}),
    ])
    found = predict_kernel(tmp_path / "linux", hashes[1], hashes[-1],
                           [("__ARMv4PILongBXThunk_printk", "t"), ("printk", "T")])
    assert found.scanned == 3  # the rule-file commits; the documentation is not read
    assert [c.hexsha for c in found.candidates] == [hashes[4]]
    assert found.candidates[0].names == ("__ARMv4PILongBXThunk_printk",)
    assert "stops hiding __ARMv4PILongBXThunk_printk" in found.candidates[0].why
    assert "__ARMv4PILongBXThunk_" in found.candidates[0].why  # the rule that went


def test_kernel_prediction_never_guesses_at_rules_it_cannot_read(tmp_path: Path) -> None:
    tree = FIXTURES / "trees" / "f4-m2"
    unread = FIXTURES / "unread" / "vendor-sed-file" / "scripts"
    hashes = _kernel_repo(tmp_path / "linux", tree, [
        ("mksysmap: read the names from a file", {
            "scripts/mksysmap": (unread / "mksysmap").read_text(),
            "scripts/ignored-names.sed": (unread / "ignored-names.sed").read_text()}),
    ])
    found = predict_kernel(tmp_path / "linux", hashes[0], hashes[-1],
                           [("__ARMV5PILongThunk_printk", "t")])
    assert found.candidates == []
    assert len(found.unread) == 1 and found.unread[0].startswith(hashes[1][:12])
    assert "not read by the model" in found.unread[0]
    assert "(1 could not be read)" in found.summary()


def _table_bisector(repo_path: Path, tmp_path: Path, *, broken: frozenset[str] = frozenset(),
                    interrupt_at: str | None = None, retries: int = 1
                    ) -> tuple[Bisector, list[str]]:
    """A bisector over the history whose builds are the commits themselves: bad from
    lld/VERSION 16 on, a failed build for ``broken``, Ctrl-C when ``interrupt_at`` is
    built."""
    repo = git.Repo(repo_path)
    wt = Worktree(repo, tmp_path / "wt")
    built: list[str] = []

    def build(rev: str) -> BuildOutcome:
        sha = wt.resolve(rev)
        if sha == interrupt_at:
            raise KeyboardInterrupt
        built.append(sha)
        return BuildOutcome(None if sha in broken else Path(sha), False, 0.0, sha in broken,
                            "the build failed" if sha in broken else "")

    def test(linker: str) -> StepOutcome:
        bad = repo.git.show(f"{Path(linker).name}:lld/VERSION").strip() == "16"
        return StepOutcome(StepVerdict.BAD if bad else StepVerdict.GOOD, "table", 0.0,
                           signature=BAD_NAMES if bad else ())

    return Bisector(wt, build, test, lambda e: None, tmp_path / "side.json", retries,
                    noop_check=False,
                    predict=lambda g, b, s: predict_llvm(repo_path, g, b, ["lld"],
                                                         [n for n, _ in BAD_NAMES])), built


def test_an_interrupted_prediction_resumes_with_its_verdicts(tmp_path: Path) -> None:
    hashes = long_history(tmp_path / "llvm", 60, culprit=30)
    bisector, built = _table_bisector(tmp_path / "llvm", tmp_path, interrupt_at=hashes[29])
    with pytest.raises(KeyboardInterrupt):
        bisector.run(hashes[0], hashes[-1], ["lld"])
    assert built == [hashes[0], hashes[-1], hashes[30]]
    again, built_again = _table_bisector(tmp_path / "llvm", tmp_path)
    result = again.run(hashes[0], hashes[-1], ["lld"])
    assert built_again == [hashes[29]]  # the endpoints and the culprit were not rebuilt
    assert result.found_by == "predicted" and result.culprit is not None
    assert result.culprit.hexsha == hashes[30] and result.confirmed


def test_a_prediction_that_cannot_be_built_is_untestable_not_refuted(tmp_path: Path) -> None:
    hashes = long_history(tmp_path / "llvm", 60, culprit=30)
    bisector, _built = _table_bisector(tmp_path / "llvm", tmp_path,
                                        broken=frozenset({hashes[30]}))
    result = bisector.run(hashes[0], hashes[-1], ["lld"])
    assert result.prediction is not None and result.prediction["outcome"] == "untestable"
    # git bisect, told the culprit is a skip, names it among the candidates.
    assert result.culprit is None and hashes[30] in result.candidates
    assert "could not be built" in found_by_text(result.to_json())


def test_an_endpoint_verdict_is_the_first_confirmation(tmp_path: Path) -> None:
    hashes = long_history(tmp_path / "llvm", 40, culprit=1)  # its parent is the good end
    bisector, built = _table_bisector(tmp_path / "llvm", tmp_path)
    result = bisector.run(hashes[0], hashes[-1], ["lld"])
    assert result.found_by == "predicted" and result.confirmed
    assert built == [hashes[0], hashes[-1], hashes[1]]  # the good endpoint not rebuilt
    assert result.builds == 1
