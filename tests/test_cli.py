"""The command line: nm-format and JSON output, exit statuses, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lldbisect.cli import cli
from tests import elfcorpus
from tests.schemas import documented


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
    doc = documented(result.output)
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


def test_readme_lists_every_schema_and_field() -> None:
    from lldbisect.report.schemas import SCHEMAS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- schemas -->\n")[1].split("<!-- /schemas -->")[0]
    rows = {}
    for line in block.splitlines()[2:]:
        _, schema, fields, _ = line.split("|")
        rows[schema.strip().strip("`")] = [f.strip().strip("`") for f in fields.split(",")]
    assert rows == {k: list(v) for k, v in SCHEMAS.items()}


def test_rules_check_and_diff_json_are_documented(tmp_path: Path) -> None:
    from tests.test_check_layouts import THUNK_BAR, TREES, _build

    build = _build(tmp_path, "6.1-6.9", "f3-grep-e", [[], THUNK_BAR], final=THUNK_BAR)
    run = [sys.executable, "-m", "lldbisect"]
    for args in (["rules", str(TREES / "f3-grep-e"), "--json"],
                 ["rules", str(TREES / "f3-grep-e"), "--json", "--apply",
                  str(build / "System.map")],
                 ["check", str(build), "--json"],
                 ["diff", str(build / ".tmp_vmlinux.kallsyms1.syms"),
                  str(build / ".tmp_vmlinux.kallsyms2.syms"), "--kernel",
                  str(TREES / "f3-grep-e"), "--json"]):
        done = subprocess.run([*run, *args], capture_output=True, text=True)
        assert done.returncode in (0, 1), done.stderr
        assert documented(done.stdout)["schema"].startswith("lldbisect.")


def test_shared_options_one_name_one_meaning(tmp_path: Path) -> None:
    """`-o -` is standard output, not a file named `-`; both spellings of the at-risk
    option are taken; every --ld says LINKER."""
    from tests.test_check_layouts import THUNK_BAR, _build

    final = [*THUNK_BAR, "c0200030 t __ARMv4PILongBXThunk_local_fn"]
    build = _build(tmp_path, "6.1-6.9", "f3-grep-e", [[], THUNK_BAR], final=final)
    run = [sys.executable, "-m", "lldbisect"]
    done = subprocess.run([*run, "propose", str(build), "--unconfirmed", "-o", "-"],
                          capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("From ") and not (tmp_path / "-").exists()
    (tmp_path / "r").mkdir()
    at_risk = _build(tmp_path / "r", "6.1-6.9", "f3-grep-e", [[], THUNK_BAR, THUNK_BAR],
                     final=THUNK_BAR)
    for flag, status in (("", 1), ("--at-risk-ok", 0), ("--at-risk-good", 0)):
        done = subprocess.run([*run, "check", str(at_risk), *([flag] if flag else [])],
                              capture_output=True, text=True)
        assert done.returncode == status, (flag, done.stdout[-300:])
    for command in (["probe"], ["validate"], ["repro"], ["run-step", "ld"],
                    ["bisect", "kernel"], ["bisect", "versions"], ["hunt"]):
        helptext = subprocess.run([*run, *command, "--help"], capture_output=True,
                                  text=True).stdout
        assert "--ld LINKER" in helptext, command


def test_an_interrupted_command_exits_130_not_1() -> None:
    """click alone would say "Aborted!" and exit 1, which reads as a finding."""
    child = ("import sys, click\nfrom lldbisect.cli import app\n"
             "@app.cli.command('slow')\ndef slow() -> None:\n    raise KeyboardInterrupt\n"
             "sys.argv = ['lldbisect', 'slow']\napp.main()\n")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert done.returncode == 130 and "interrupted" in done.stderr
