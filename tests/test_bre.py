"""The POSIX regex translation against GNU grep and sed themselves, on generated input."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lldbisect.kernel.bre import PosixRegexError, translate

ENV = {**os.environ, "LC_ALL": "C"}

atom = st.sampled_from([
    "a", "b", "T", "_", "0", " ", ".", "\\.", "\\$", "\\*", "\\[", "[ab]", "[^a]",
    "[[:alnum:]]", "[[:digit:]_]", "[]a]", "[a-c]", "[.$]", "[\\]", "\\w", "$", "^",
])
suffix = st.sampled_from(["", "", "", "*", "\\+", "\\?", "\\{1,2\\}", "\\{2\\}"])
piece = st.tuples(atom, suffix).map("".join)
branch = st.lists(piece, min_size=1, max_size=5).map("".join)
pattern = st.one_of(
    branch,
    st.tuples(st.sampled_from(["", "^"]), branch, st.sampled_from(["", "$"])).map("".join),
    st.tuples(branch, branch).map(lambda t: f"{t[0]}\\|{t[1]}"),
    st.tuples(branch, branch).map(lambda t: f"\\({t[0]}\\)*{t[1]}"),
)
LINES = ["c0008000 T _text", "c0008000 t $a", "00000010 a abs", "         U x.y",
         "0000 t __ab_Thunk_", "0000 t a$b", "0000 t a\\b", "aaa", "ab", "ba", "T_T",
         "", " ", "0000 t [x]", "0000 t a.b*c", "__9Thunk_"]


def _matches(argv: list[str]) -> list[str]:
    done = subprocess.run(argv, input="\n".join(LINES) + "\n", capture_output=True,
                          text=True, env=ENV)
    if done.returncode not in (0, 1):
        raise PosixRegexError(done.stderr)
    return done.stdout.splitlines()


# A quantifier with nothing before it (`^\{1,2\}`, `\|\+`) is left to glibc's whims;
# no kernel rule has one.
ORPHAN = re.compile(r"(^|\\\||\\\(|\^)(\*|\\[+?{])")


@settings(max_examples=300, deadline=None)
@given(pat=pattern)
def test_translation_matches_grep_and_sed(pat: str) -> None:
    assume(not ORPHAN.search(pat))
    try:
        grep = _matches(["grep", "-e", pat])
    except PosixRegexError:
        with pytest.raises(PosixRegexError):
            re.compile(translate(pat))
        return
    ours = re.compile(translate(pat), re.ASCII)
    assert [ln for ln in LINES if ours.search(ln)] == grep, translate(pat)
    ours_sed = re.compile(translate(pat, sed=True), re.ASCII)
    sed = _matches(["sed", "-n", f"\\#{pat.replace('#', '[#]')}#p"])
    assert [ln for ln in LINES if ours_sed.search(ln)] == sed


@pytest.mark.parametrize(("pat", "line", "hit"), [
    (" \\$", "0 t $a", True), (" $", "0 t $a", False), (" $", "0 t ", True),
    (" __[[:alnum:]]*Thunk_", "0 t __a_Thunk_x", False),
    (" __[[:alnum:]]*Thunk_", "0 t __ARMv4PILongBXThunk_x", True),
    ("*a", "*a", True), ("a\\{2\\}", "aa", True), ("\\(a\\)\\1", "aa", True),
    ("[\\.]", "\\", True), ("a^b", "a^b", True), ("a$b", "a$b", True),
])
def test_known_cases(pat: str, line: str, hit: bool) -> None:
    assert bool(re.search(translate(pat), line, re.ASCII)) is hit
