"""ruff and mypy --strict stay clean: CI enforces what pyproject.toml configures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent


def test_ruff_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "lldbisect", "tests",
                           "benchmarks"], cwd=TOP, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=TOP, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_clean_on_the_benchmarks() -> None:
    # They import each other as scripts, so mypy reads them from their own folder.
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "."],
                          cwd=TOP / "benchmarks", capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
