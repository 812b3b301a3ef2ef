"""The README's console examples are real: each one is run and its output compared.

Debian replaces its packages without notice, and a new revision of the same kernel moves
its layout by a few bytes: another count of thunks, other functions that need one, another
stable release number. So both the README's text and what the command printed go through
``normalise`` before they are compared; the README's "How the examples are tested" says
what it replaces. Everything else is compared byte for byte.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

# Values that belong to one revision of Debian's packages or one layout, never to lldbisect.
_VOLATILE = [
    # a kernel release's stable number: 6.1.77 -> 6.1.<n> (lld's 16.0.6 is not a kernel)
    (re.compile(r"(?<![\d.])([3-9]\.\d+)\.\d+(?![\d.])"), r"\1.<n>"),
    # symbol counts, and the padding that makes the link fail
    (re.compile(r"\b\d+ (symbols?\b|linker-made symbol\(s\))"), r"<n> \1"),
    (re.compile(r"\b(padding|--pad) \d+"), r"\1 <n>"),
    # which functions got a thunk: the linker's prefix stays, the function's name goes
    (re.compile(r"\b(__\w*?(?:Thunk|Veneer)_)\w+"), r"\1<sym>"),
    # where in the kernel's own files a rule stands, and their blob hashes in a patch
    (re.compile(r"\b(scripts/[\w.-]+):\d+"), r"\1:<line>"),
    (re.compile(r"^index [0-9a-f]+\.\.[0-9a-f]+", re.M), "index <blob>..<blob>"),
    (re.compile(r"^@@ -\d+,\d+ \+\d+,\d+ @@", re.M), "@@ <hunk> @@"),
    # column widths follow the values above
    (re.compile(r"[ \t]+"), " "),
]


def normalise(text: str) -> str:
    """``text`` with the volatile values replaced and repeated lines folded into one
    (one culprit more or less is the same example)."""
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    lines: list[str] = []
    for line in text.rstrip(" ").split("\n"):
        if not lines or lines[-1] != line:
            lines.append(line)
    return "\n".join(lines)


def test_normalise_keeps_what_matters() -> None:
    """The normalisation hides layout and revision, never a verdict, an exit status, a
    linker's version, a prefix or a rule."""
    a = ("kernels: 6.1.77\n  culprit: __ARMv4PILongBXThunk_mnt_drop_write\n"
         "  culprit: __ARMv4PILongBXThunk_register_filesystem\n"
         "prefix '__ARMV5PILongThunk_' (x): 171 symbols, hidden by scripts/kallsyms.c:135\n"
         "linker: Debian LLD 16.0.6\nexit 1\n")
    b = ("kernels: 6.1.78\n  culprit: __ARMv4PILongBXThunk_vfs_read\n"
         "prefix '__ARMV5PILongThunk_' (x): 170 symbols, hidden by scripts/kallsyms.c:136\n"
         "linker: Debian LLD 16.0.6\nexit 1\n")
    assert normalise(a) == normalise(b)
    for changed in (b.replace("exit 1", "exit 0"), b.replace("16.0.6", "17.0.6"),
                    b.replace("ARMv4PILongBX", "ARMv5LongLdrPc"),
                    b.replace("hidden by", "visible to"), b.replace("6.1.78", "6.12.1"),
                    b.replace("'__ARMV5PILongThunk_'", "'__ARMV5PILongThunk_x'")):
        assert normalise(a) != normalise(changed), changed


def _sessions() -> list[tuple[int, list[tuple[str, str]]]]:
    """Each ```console block as (line, [(command, expected output)])."""
    text = README.read_text()
    out = []
    for m in re.finditer(r"```console\n(.*?)```", text, re.S):
        line = text.count("\n", 0, m.start()) + 1
        steps: list[tuple[str, str]] = []
        for row in m.group(1).splitlines():
            if row.startswith("$ "):
                steps.append((row[2:], ""))
            elif steps:
                cmd, expected = steps[-1]
                steps[-1] = (cmd, expected + row + "\n")
        out.append((line, steps))
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for all examples, in README order: later ones use earlier files."""
    return tmp_path_factory.mktemp("readme")


def _params() -> list[object]:
    """One case per block, marked by what its commands really use."""
    cases = []
    for line, steps in _sessions():
        text = " ".join(cmd for cmd, _ in steps)
        marks = [pytest.mark.realbuild] if "lldbisect repro" in text else []
        if "lldbisect repro" in text or "lldbisect kernel-source" in text:
            marks.append(pytest.mark.kernel)
        cases.append(pytest.param(line, steps, marks=marks, id=f"README.md:{line}"))
    return cases


@pytest.mark.parametrize(("line", "steps"), _params())
def test_console_example(workdir: Path, line: int, steps: list[tuple[str, str]]) -> None:
    for cmd, expected in steps:
        done = subprocess.run(["bash", "-c", cmd], cwd=workdir, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=600)
        got = done.stdout
        assert normalise(got) == normalise(expected), (
            f"README.md:{line}: `{cmd}` printed:\n{got}")
