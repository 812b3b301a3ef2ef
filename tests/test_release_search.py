"""The release bisect as a scenario table: endpoints, skips, ambiguity."""

from __future__ import annotations

import pytest

from lldbisect.bisect.policy import EndpointError, first_bad_release
from lldbisect.bisect.steps import StepVerdict

G, B, S = StepVerdict.GOOD, StepVerdict.BAD, StepVerdict.SKIP


@pytest.mark.parametrize("verdicts, last_good, first_bad, skipped, ambiguous", [
    ("GGGBB", 2, 3, (), []),
    ("GB", 0, 1, (), []),
    ("SGGBB", 2, 3, (0,), []),  # the oldest cannot link the build: the next is the endpoint
    ("GGBBS", 1, 2, (4,), []),
    ("GSBB", 0, 2, (1,), [1]),  # a skip between the two: it may be the first bad
    ("GGSGBB", 3, 4, (2,), []),
    ("SSGSSBS", 2, 5, (0, 1, 3, 4, 6), [3, 4]),
])
def test_scenarios(verdicts: str, last_good: int, first_bad: int,
                   skipped: tuple[int, ...], ambiguous: list[int]) -> None:
    table = [{"G": G, "B": B, "S": S}[c] for c in verdicts]
    asked: list[int] = []

    def test(k: int) -> StepVerdict:
        asked.append(k)
        return table[k]

    found = first_bad_release(len(table), test)
    assert (found.last_good, found.first_bad) == (last_good, first_bad)
    assert found.skipped == skipped and found.ambiguous() == ambiguous
    assert len(asked) == len(set(asked))  # each release judged once


@pytest.mark.parametrize("verdicts, message", [
    ("GGG", "is not bad"),
    ("BBB", "is not good"),
    ("SSB", "no release older than the bad one links this build"),
    ("SSS", "no release is bad"),
])
def test_wrong_endpoints(verdicts: str, message: str) -> None:
    table = [{"G": G, "B": B, "S": S}[c] for c in verdicts]
    with pytest.raises(EndpointError, match=message):
        first_bad_release(len(table), lambda k: table[k], lambda k: f"release {k}")
