"""Predict the culprit before building anything: read every candidate commit's diff for
a change that explains the names the bad build showed.

A bisect over LLVM hunts a linker that started making names kallsyms sees: the commit
that added or renamed a name pattern covering those names (``scan-commit``'s reading)
is the likely culprit. A bisect over the kernel, the linker fixed, hunts a tree that
stopped hiding them: the commit after which the tree's own rules (read by our reader,
at the commit and at its parent) let those names through. Either way the prediction is
only a ranking; ``policy.py`` confirms it with two builds or falls back to bisecting.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lldbisect.analysis.commitscan import PatternChange, ScanItem, scan, scannable
from lldbisect.bisect.gitrepo import CommitInfo, files_at, range_changes
from lldbisect.errors import InputError
from lldbisect.kernel.rules import RuleSet, load_rules

__all__ = ["RULE_FILES", "Candidate", "Event", "Prediction", "predict_kernel", "predict_llvm",
           "scan_progress"]

# What our reader needs of a kernel tree to know its rules (the era from the Makefile).
RULE_FILES = ("Makefile", "scripts/mksysmap", "scripts/kallsyms.c", "scripts/link-vmlinux.sh")


@dataclass(frozen=True)
class Event:
    """Progress, for whoever shows it (``policy.Event`` is this)."""

    kind: str  # start, step, endpoint, predict, confirm, done
    message: str


@dataclass(frozen=True)
class Candidate:
    """A commit whose change explains some of the names the bad build showed."""

    hexsha: str
    subject: str
    why: str  # "renames __ARMV5PILongThunk_ -> __ARMv4PILongBXThunk_"
    names: tuple[str, ...]  # the names it explains

    def to_json(self) -> dict[str, object]:
        return {"hexsha": self.hexsha, "subject": self.subject, "why": self.why,
                "names": list(self.names)}


@dataclass
class Prediction:
    """What reading the candidate commits found, before any build."""

    names: tuple[str, ...]  # the names the bad endpoint showed
    scanned: int = 0  # commits read
    seconds: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)  # best first
    unread: list[str] = field(default_factory=list)  # commits the reader could not judge
    # confirmed | refuted | untestable (a build failed) | no-candidate | no-names: the
    # policy's
    outcome: str = ""
    tested: str = ""  # the candidate the policy built
    outside: int = 0  # candidates left out: not among the commits the pathspec names

    def summary(self) -> str:
        """One progress line: what was read and what it points at."""
        head = f"scanned {self.scanned:,} commit(s) in {self.seconds:.1f} s"
        if not self.names:
            return head + ": the bad build shows no linker-made name to look for"
        if not self.candidates:
            return head + (f": none explains {_some(self.names)}"
                           + (f" ({len(self.unread)} could not be read)" if self.unread
                              else "")
                           + (f" ({self.outside} outside the pathspec)" if self.outside
                              else ""))
        top = self.candidates[0]
        more = f" (and {len(self.candidates) - 1} more)" if len(self.candidates) > 1 else ""
        return (f"{head}: {len(self.candidates)} candidate(s); {top.hexsha[:12]}"
                f" {top.why}{more}")

    def to_json(self) -> dict[str, object]:
        return {"names": list(self.names), "scanned": self.scanned,
                "seconds": round(self.seconds, 2), "outcome": self.outcome,
                "tested": self.tested, "unread": self.unread, "outside": self.outside,
                "candidates": [c.to_json() for c in self.candidates]}


def scan_progress(events: Callable[[Event], None]) -> Callable[[int], None]:
    """A progress callback for the scan: a line a second at most."""
    shown = [time.monotonic()]

    def tell(k: int) -> None:
        if time.monotonic() - shown[0] >= 1.0:
            shown[0] = time.monotonic()
            events(Event("predict", f"scanning the candidates: {k:,} commits read"))
    return tell


def _some(names: Sequence[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def predict_llvm(repo: Path, good: str, bad: str, pathspec: Sequence[str],
                 names: Sequence[str],
                 progress: Callable[[int], None] | None = None) -> Prediction:
    """Rank the commits of ``good..bad`` touching ``pathspec`` by the name patterns
    they add or rename that cover ``names``. Raises InputError (unknown revision, a
    shallow clone)."""
    start = time.monotonic()
    found = Prediction(tuple(names))
    ranked: list[tuple[tuple[int, int, int, int], Candidate]] = []
    if not names:
        return found  # nothing to look for: nothing read
    for k, (info, changes) in enumerate(range_changes(repo, f"{good}..{bad}", scannable,
                                                      paths=pathspec, first_parent=False)):
        found.scanned += 1
        if progress is not None:
            progress(found.scanned)
        if not changes:
            continue
        best = _explains(scan(changes), names)
        if best is not None:
            item, covered = best
            why = (f"renames {item.was.text} -> {item.pattern.text}"
                   if item.change is PatternChange.RENAMED and item.was is not None
                   else f"adds {item.pattern.text}")
            # More names explained first, then a rename (the old name was hidden), then
            # the more specific pattern, then the older commit (the first to make them).
            ranked.append(((-len(covered), int(item.change is not PatternChange.RENAMED),
                            -len(item.pattern.text), k), _candidate(info, why, covered)))
    found.candidates = [c for _, c in sorted(ranked, key=lambda r: r[0])]
    found.seconds = time.monotonic() - start
    return found


def _explains(items: list[ScanItem], names: Sequence[str]
              ) -> tuple[ScanItem, tuple[str, ...]] | None:
    """The added or renamed pattern of a commit that covers the most of ``names``."""
    best: tuple[ScanItem, tuple[str, ...]] | None = None
    for item in items:
        if item.change is PatternChange.REMOVED:
            continue  # a name the linker stops making shows up nowhere new
        covered = tuple(n for n in names if item.pattern.covers(n))
        if covered and (best is None or len(covered) > len(best[1])):
            best = (item, covered)
    return best


def _candidate(info: CommitInfo, why: str, names: tuple[str, ...]) -> Candidate:
    return Candidate(info.hexsha, info.subject, why, names)


def predict_kernel(repo: Path, good: str, bad: str, names: Sequence[tuple[str, str]],
                   progress: Callable[[int], None] | None = None) -> Prediction:
    """Rank the commits of ``good..bad`` that change the kernel's rule files by how
    many of ``names`` (name, nm letter) their parent's rules hide and theirs do not.
    A commit whose rules the reader cannot fully read is named in ``unread``, never
    guessed at. Raises InputError (unknown revision)."""
    start = time.monotonic()
    found = Prediction(tuple(n for n, _ in names))
    rules_of: dict[tuple[str | None, ...], RuleSet | str] = {}

    def rules_at(rev: str, label: str) -> RuleSet | str:
        texts = files_at(repo, rev, RULE_FILES)
        key = tuple(texts[f] for f in RULE_FILES)
        if key not in rules_of:
            rules_of[key] = _read_rules(texts, label)
        return rules_of[key]

    ranked: list[tuple[tuple[int, int], Candidate]] = []
    if not names:
        return found  # nothing to look for: nothing read
    # The top-level Makefile too: its version decides the era the reader assumes.
    for k, (info, changes) in enumerate(range_changes(
            repo, f"{good}..{bad}", paths=RULE_FILES, first_parent=False)):
        found.scanned += 1
        if progress is not None:
            progress(found.scanned)
        if not changes:
            continue
        sha = info.hexsha
        before = rules_at(f"{sha}^", f"{sha[:12]}^")  # its parent, as git names it
        after = rules_at(sha, sha[:12])
        if isinstance(before, str) or isinstance(after, str):
            found.unread.append(f"{sha[:12]}: "
                                + "; ".join(x for x in (before, after) if isinstance(x, str)))
            continue
        shown = []
        dropped = set()
        for name, letter in names:
            was = before.hiding_rule(name, letter)
            if was is not None and after.hiding_rule(name, letter) is None:
                shown.append(name)
                dropped.add(was.describe())
        if shown:
            ranked.append(((-len(shown), k), _candidate(
                info, f"stops hiding {_some(shown)} ({'; '.join(sorted(dropped))})",
                tuple(shown))))
    found.candidates = [c for _, c in sorted(ranked, key=lambda r: r[0])]
    found.seconds = time.monotonic() - start
    return found


def _read_rules(texts: dict[str, str | None], label: str) -> RuleSet | str:
    """The rules of a tree made of these files (``label``'s), or why the reader cannot
    tell, naming the files as ``label:path``."""
    with tempfile.TemporaryDirectory(prefix="lldbisect-rules-") as tmp:
        root = Path(tmp).resolve()  # as load_rules names it
        for rel, text in texts.items():
            if text is not None:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text)
        (root / "scripts").mkdir(exist_ok=True)
        try:
            rules = load_rules(root, partial=True)
        except InputError as e:  # named as git names it: rev:path
            return e.message.replace(f"{root}/", f"{label}:").replace(str(root), label)
        if rules.unread:
            return f"{label}: not read by the model: " + "; ".join(rules.unread)
        return rules
