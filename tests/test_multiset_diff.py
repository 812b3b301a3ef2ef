"""The by-name stage difference counts duplicates as the kernel's lists do."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from lldbisect.analysis.convergence import _multiset_diff

names = st.lists(st.sampled_from(["a", "b", "c", "__ARMv4PILongBXThunk_a", "d"]),
                 max_size=12).map(Counter)


@given(names, names)
def test_added_and_removed_are_the_multiset_differences(a: Counter[str],
                                                         b: Counter[str]) -> None:
    assert _multiset_diff(a, b) == (sorted((b - a).elements()), sorted((a - b).elements()))
