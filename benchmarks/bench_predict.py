#!/usr/bin/env python3
"""Benchmark the predicted bisect: builds used against a plain bisection, and the scan.

Targets: reading 1,000 lld/ELF commits for the prediction within 5 s; a renaming
culprit found in at most 3 builds besides the endpoints, where a plain bisection needs
about ceil(log2 N); a culprit that changes no name, or a decoy, in at most
ceil(log2 N) + 2. Baselines, same run: the same bisect with the prediction off (git
bisect alone), and `git log -p` of the range for the scan's time.

The histories are our own (bench_scan's lld-style Thunks.cpp of real size, changed by
every commit); a "build" is the commit itself, and its verdict a table (bad from the
culprit on), so the counts are exact and the time is the scan's and git's alone.

usage: python3 benchmarks/bench_predict.py [--commits N] [--runs N]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import tempfile
from pathlib import Path

from bench_scan import commit_history, thunks
from bench_symbols import median_time

from lldbisect.bisect.builders.llvm import BuildOutcome
from lldbisect.bisect.gitrepo import Worktree, open_repo
from lldbisect.bisect.policy import Bisector, BisectResult, Step
from lldbisect.bisect.predict import Prediction, predict_llvm
from lldbisect.bisect.steps import StepOutcome, StepVerdict

NAMES = [f"ARMV{k}LongThunk" for k in range(20)]


def scenario(n: int, culprit: int, rename: bool, decoy: int | None
             ) -> tuple[list[tuple[str, dict[str, str]]], str]:
    """The history, and the name the bad builds show."""
    names = list(NAMES)
    out: list[tuple[str, dict[str, str]]] = [("Initial", {"lld/ELF/Thunks.cpp": thunks(
        names, 300), "llvm/README": "x\n"})]
    for k in range(1, n):
        if (k == culprit and rename) or k == decoy:
            names[3] = "ARMv4PILongBXThunk"
        out.append((f"[lld] change {k}", {"lld/ELF/Thunks.cpp": thunks(names, 300 + k % 200)}))
    shown = "__ARMv4PILongBXThunk_printk" if rename or decoy is not None else (
        "__ARMV7LongThunk_printk")  # a layout change: more of a family already there
    return out, shown


def make_repo(repo: Path, history: list[tuple[str, dict[str, str]]]) -> list[str]:
    revs = commit_history(repo, history)
    # A worktree needs a HEAD: fast-import wrote main, whatever git init's default is.
    subprocess.run(["git", "-C", str(repo), "symbolic-ref", "HEAD", "refs/heads/main"],
                   check=True)
    return revs


def bisect(repo: Path, revs: list[str], culprit: int, shown: str, predict: bool,
           work: Path) -> BisectResult:
    index = {r: k for k, r in enumerate(revs)}
    wt = Worktree(open_repo(repo), work)

    def build(rev: str) -> BuildOutcome:
        return BuildOutcome(Path(wt.resolve(rev)), False, 0.0, False)

    def test(linker: str) -> StepOutcome:
        bad = index[Path(linker).name] >= culprit
        return StepOutcome(StepVerdict.BAD if bad else StepVerdict.GOOD, "table", 0.0,
                           signature=((shown, "t"),) if bad else ())

    def predictor(good: str, bad: str, _step: Step) -> Prediction:
        return predict_llvm(repo, good, bad, ["lld"], [shown])

    return Bisector(wt, build, test, lambda e: None, work.with_suffix(".json"),
                    noop_check=False, predict=predictor if predict else None
                    ).run(revs[0], revs[-1], ["lld"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n = args.commits
    plain = math.ceil(math.log2(n - 1))
    cases = [("culprit renames a thunk", int(n * 0.61), True, None),
             ("culprit changes no name", int(n * 0.46), False, None),
             ("decoy before the culprit", int(n * 0.7), False, int(n * 0.3)),
             ("decoy after the culprit", int(n * 0.3), False, int(n * 0.7))]
    print(f"{n} commits touching lld/ELF each; builds besides the endpoints"
          f" (a plain bisection needs about {plain})\n")
    print(f"  {'history':28} {'predicted':>9} {'plain':>6}  found by   target")
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, culprit, rename, decoy) in enumerate(cases):
            history, shown = scenario(n, culprit, rename, decoy)
            repo = Path(tmp) / f"llvm{k}"
            revs = make_repo(repo, history)
            with_p = bisect(repo, revs, culprit, shown, True, Path(tmp) / f"wt{k}p")
            without = bisect(repo, revs, culprit, shown, False, Path(tmp) / f"wt{k}n")
            assert with_p.culprit and without.culprit
            assert with_p.culprit.hexsha == without.culprit.hexsha == revs[culprit]
            target = 3 if rename else plain + 2
            print(f"  {label:28} {with_p.builds:9} {without.builds:6}  {with_p.found_by:9}"
                  f"  <= {target}{'' if with_p.builds <= target else '  MISSED'}")
        # The scan alone, over the first history.
        history, shown = scenario(n, int(n * 0.61), True, None)
        repo = Path(tmp) / "scan"
        revs = make_repo(repo, history)
        span = f"{revs[0]}..{revs[-1]}"

        def baseline() -> None:
            subprocess.run(["git", "-C", str(repo), "log", "-p", span, "--", "lld"],
                           stdout=subprocess.DEVNULL, check=True)

        found: list[Prediction] = []

        def scan() -> None:
            found.append(predict_llvm(repo, revs[0], revs[-1], ["lld"], [shown]))

        base = median_time(baseline, args.runs)
        t = median_time(scan, args.runs)
    print(f"\nthe prediction's scan of {n - 1} commits ({args.runs} runs, medians)\n")
    print(f"  git log -p of the range              {base:6.3f} s  (baseline)")
    print(f"  predict_llvm (scan and rank)         {t:6.3f} s  ratio {t / base:4.2f}x"
          f"  (target: 5 s){'' if t <= 5 else '  MISSED'}")
    print(f"  {found[-1].summary()}")


if __name__ == "__main__":
    main()
