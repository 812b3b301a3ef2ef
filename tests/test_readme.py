"""The README's console examples are real: each one is run and its output compared."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


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


@pytest.mark.parametrize(("line", "steps"), _sessions(),
                         ids=[f"README.md:{line}" for line, _ in _sessions()])
def test_console_example(workdir: Path, line: int, steps: list[tuple[str, str]]) -> None:
    for cmd, expected in steps:
        done = subprocess.run(["bash", "-c", cmd], cwd=workdir, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=600)
        got = done.stdout
        assert got == expected, f"README.md:{line}: `{cmd}` printed:\n{got}"
