"""scan-commit: patterns read from commit histories we write in each spelling, checked
against the names Debian's real linkers emit for the same cases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lldbisect.analysis.commitscan import PatternChange, patterns_in, scan
from lldbisect.bisect.gitrepo import FileChange
from lldbisect.kernel.model import RuleKind
from tests import lldsource
from tests.conftest import require
from tests.llvmrepo import commit_history
from tests.schemas import documented


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lldbisect", *args], capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def lld_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("lld-history")
    return path, commit_history(path, [
        ("Initial", {"lld/ELF/Thunks.cpp": lldsource.THUNKS_2019, "llvm/README": "x\n"}),
        ("[lld] Saver is now a function", {"lld/ELF/Thunks.cpp": lldsource.THUNKS_2022}),
        ("[llvm] Unrelated", {"llvm/README": "y\n"}),
        ("[lld][ARM] v4/v5 thunks use BX", {"lld/ELF/Thunks.cpp": lldsource.THUNKS_2023}),
        ("[lld][PPC] plt call stubs", {"lld/ELF/Arch/PPC.cpp": lldsource.PPC_STUBS}),
    ])


@pytest.fixture(scope="module")
def bfd_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("bfd-history")
    return path, commit_history(path, [
        ("Initial", {"bfd/elf32-arm.c": lldsource.ELF32_ARM_OLD}),
        ("arm: call long-branch stubs veneers", {"bfd/elf32-arm.c": lldsource.ELF32_ARM_NEW}),
        ("ppc64: name stubs", {"bfd/elf64-ppc.c": lldsource.ELF64_PPC}),
    ])


def scan_json(*args: str) -> dict[str, Any]:
    done = run("scan-commit", *args, "--json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = documented(done.stdout)
    return doc


def changes(doc: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [(i["change"], i["kind"], i["pattern"], i["was"] and i["was"]["pattern"])
            for i in doc["items"]]


def test_each_spelling_reads_the_same_patterns() -> None:
    def pats(text: str) -> set[tuple[RuleKind, str]]:
        return {(f.pattern.kind, f.pattern.text) for f in patterns_in("Thunks.cpp", text)}

    old = {(RuleKind.PREFIX, p) for p in ("__ARMV5PILongThunk_", "__ARMv5ABSLongThunk_",
                                           "__ThumbV7PILongThunk_")}
    assert pats(lldsource.THUNKS_2019) == pats(lldsource.THUNKS_2022) == old
    assert pats(lldsource.THUNKS_2023) == {
        (RuleKind.PREFIX, "__ARMv4PILongBXThunk_"),  # split over three lines
        (RuleKind.PREFIX, "__ARMv5LongLdrPcThunk_"),  # through Twine
        (RuleKind.PREFIX, "__ThumbV7PILongThunk_")}
    assert pats(lldsource.PPC_STUBS) == {(RuleKind.SUBSTRING, ".plt_call32."),
                                         (RuleKind.SUBSTRING, ".plt_pic32.")}
    assert "$a" not in {p for _, p in pats(lldsource.THUNKS_2019)}  # mapping symbols


def test_a_spelling_change_or_an_unrelated_commit_adds_nothing(
        lld_repo: tuple[Path, list[str]]) -> None:
    path, revs = lld_repo
    assert changes(scan_json(str(path), revs[1])) == []
    assert changes(scan_json(str(path), revs[2])) == []
    text = run("scan-commit", str(path), revs[2])
    assert text.returncode == 0 and "no symbol-name patterns" in text.stdout


def test_the_rename_commit(lld_repo: tuple[Path, list[str]]) -> None:
    path, revs = lld_repo
    doc = scan_json(str(path), revs[3])
    assert doc["subject"] == "[lld][ARM] v4/v5 thunks use BX"
    assert sorted(changes(doc)) == sorted([
        ("renamed", "prefix", "__ARMv4PILongBXThunk_", "__ARMV5PILongThunk_"),
        ("renamed", "prefix", "__ARMv5LongLdrPcThunk_", "__ARMv5ABSLongThunk_"),
    ])
    item = next(i for i in doc["items"] if i["pattern"] == "__ARMv4PILongBXThunk_")
    assert (item["file"], item["line"], item["scope"]) == (
        "lld/ELF/Thunks.cpp", 9, "ARMv4PILongBXThunk::addSymbols")
    assert item["was"]["line"] == 8
    # Root commit: everything is added.
    assert {c[0] for c in changes(scan_json(str(path), revs[0]))} == {"added"}


def test_gnu_formats(bfd_repo: tuple[Path, list[str]]) -> None:
    path, revs = bfd_repo
    assert changes(scan_json(str(path), revs[1])) == [
        ("renamed", "suffix", "_veneer", "_stub")]
    assert sorted(changes(scan_json(str(path), revs[2]))) == [
        ("added", "substring", ".long_branch.", None),
        ("added", "substring", ".plt_branch.", None)]
    first = {c[2] for c in changes(scan_json(str(path), revs[0]))}
    assert first == {"_from_arm", "_from_thumb", "_stub"}  # not the warning's "%s"


@pytest.mark.kernel
def test_patterns_match_what_real_linkers_emit(
        lld_repo: tuple[Path, list[str]], bfd_repo: tuple[Path, list[str]],
        real_trees: dict[str, Path], versions: dict[str, str], tmp_path: Path) -> None:
    """Our lld-style fixture's renamed pattern covers the names ld.lld-16 really makes
    for the ARMv5 case, the one it replaced lld-15's; the bfd-style ones GNU ld's."""
    require("/usr/lib/llvm-16/bin/ld.lld", "arm-linux-gnueabihf-ld")
    observed = []
    for ld, case in (("/usr/lib/llvm-16/bin/ld.lld", "arm-v5-pic"),
                     ("/usr/lib/llvm-15/bin/ld.lld", "arm-v5-pic"),
                     ("/usr/lib/llvm-16/bin/ld.lld", "arm-v5-abs"),
                     ("arm-linux-gnueabihf-ld", "arm-v5-pic"),
                     ("powerpc64le-linux-gnu-ld", "ppc64")):
        report = tmp_path / f"{Path(ld).parent.parent.name}-{case}.json"
        done = run("probe", "--ld", ld, "--case", case, "--json")
        assert done.returncode == 0, done.stderr
        report.write_text(done.stdout)
        observed += ["--observed", str(report)]
    kernels = ["--kernel", str(real_trees["6.1"]), "--kernel", str(real_trees["6.12"])]
    path, revs = lld_repo
    doc = scan_json(str(path), revs[3], *kernels, *observed)
    by = {i["pattern"]: i for i in doc["items"]}
    bx = by["__ARMv4PILongBXThunk_"]
    assert bx["observed"] == ["__ARMv4PILongBXThunk_far_arm", "__ARMv4PILongBXThunk_far_thumb"]
    assert bx["hidden_by"][versions["6.1"]] is None  # the regression
    assert "__[[:alnum:]]*Thunk_" in bx["hidden_by"][versions["6.12"]]
    assert by["__ARMv5LongLdrPcThunk_"]["observed"]
    # The pattern it replaced is what lld-15 made, and 6.1 hides it.
    old = scan_json(str(path), revs[0], *kernels, *observed)
    v5 = next(i for i in old["items"] if i["pattern"] == "__ARMV5PILongThunk_")
    assert v5["observed"] == ["__ARMV5PILongThunk_far_arm", "__ARMV5PILongThunk_far_thumb"]
    assert "__ARMV5PILongThunk_" in v5["hidden_by"][versions["6.1"]]
    text = run("scan-commit", str(path), revs[0], *observed).stdout
    assert "only in the source" in text  # __ThumbV7PILongThunk_: no v7 case observed
    bpath, brevs = bfd_repo
    gnu = {i["pattern"]: i["observed"]
           for i in scan_json(str(bpath), brevs[1], *observed)["items"]}
    assert gnu["_veneer"] == ["__far_arm_veneer", "__far_thumb_veneer"]
    ppc = {i["pattern"]: i["observed"]
           for i in scan_json(str(bpath), brevs[2], *observed)["items"]}
    assert ppc[".plt_branch."] == ["00000018.plt_branch.far_func"]
    assert ppc[".long_branch."] == []


@pytest.mark.parametrize("args, message", [
    (["/nonexistent", "HEAD"], "/nonexistent: not a git repository"),
    (["{repo}", "no-such-rev"], "unknown revision 'no-such-rev'"),
    (["{repo}", "HEAD", "--observed", "/nonexistent.json"], "/nonexistent.json: no such file"),
    (["{repo}", "HEAD", "--observed", "{notjson}"], "not JSON"),
    (["{repo}", "HEAD", "--kernel", "/tmp"], "/tmp: not a kernel tree"),
])
def test_bad_input(lld_repo: tuple[Path, list[str]], tmp_path: Path, args: list[str],
                   message: str) -> None:
    notjson = tmp_path / "x.json"
    notjson.write_text("{")
    done = run("scan-commit", *(a.format(repo=lld_repo[0], notjson=notjson) for a in args))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1


def test_scan_is_pure_over_texts() -> None:
    items = scan([FileChange("a.cpp", "a.cpp", lldsource.THUNKS_2022, lldsource.THUNKS_2023)])
    assert {i.change for i in items} == {PatternChange.RENAMED}
