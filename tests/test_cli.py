"""The command line: nm-format and JSON output, exit statuses, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lldbisect.cli import cli
from tests import elfcorpus


def _file(corpus: list[elfcorpus.Built], target: str, kind: str) -> Path:
    return next(b.path for b in corpus if b.target.name == target and b.kind == kind)


def test_symbols_prints_what_nm_prints(corpus: list[elfcorpus.Built]) -> None:
    path = _file(corpus, "armv5", "exe-llvm-16-pic")
    want = subprocess.run(["arm-linux-gnueabihf-nm", "-n", str(path)], check=True,
                          capture_output=True).stdout
    got = subprocess.run([sys.executable, "-m", "lldbisect", "symbols", str(path)],
                         check=True, capture_output=True)
    assert got.stdout == want and got.stderr == b""


def test_symbols_json(corpus: list[elfcorpus.Built]) -> None:
    path = _file(corpus, "aarch64", "exe-llvm-16-pic")
    result = CliRunner().invoke(cli, ["symbols", "--json", str(path)])
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc["schema"] == "lldbisect.symbols/1" and doc["elf_class"] == 64
    thunk = next(s for s in doc["symbols"] if s["name"] == "__AArch64ADRPThunk_far_func")
    assert thunk["type"] == "t" and thunk["binding"] == "LOCAL"
    assert thunk["section"] == ".text" and thunk["elf_type"] in ("FUNC", "NOTYPE")
    addresses = [s["address"] for s in doc["symbols"] if s["type"] not in "Uwv"]
    assert addresses == sorted(addresses)


@pytest.mark.parametrize("content", [None, b"", b"not elf at all\n", b"\x7fELF\x01"])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "input"
    if content is not None:
        path.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "lldbisect", "symbols", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lldbisect: {path}: ")
    assert "Traceback" not in done.stderr


def test_usage_error_exits_2() -> None:
    result = CliRunner().invoke(cli, ["symbols"])
    assert result.exit_code == 2


def test_console_script_and_version() -> None:
    done = subprocess.run(["lldbisect", "--version"], capture_output=True, text=True,
                          check=True)
    assert done.stdout.startswith("lldbisect, version ")


@pytest.mark.parametrize("args, message", [
    (["--kernel-src", "/nonexistent"], "/nonexistent: not a git repository"),
    (["--kernel-src", "{repo}", "--config", "/nonexistent.config"],
     "/nonexistent.config: no such file"),
    (["--kernel-src", "{repo}", "--ld", "/nonexistent/ld"], "/nonexistent/ld: no such linker"),
])
def test_bisect_kernel_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    repo = tmp_path / "linux"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    argv = ["bisect", "kernel", "--good", "HEAD~1", "--bad", "HEAD", "--ld",
            "/usr/lib/llvm-16/bin/ld.lld", *(a.format(repo=repo) for a in args)]
    done = subprocess.run([sys.executable, "-m", "lldbisect", *argv], capture_output=True,
                          text=True)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1
