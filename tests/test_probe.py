"""probe and validate: Debian's real linkers on our far-call corpus, the real 6.1 and
6.12 trees' rules, and the real tiny ARMv5 kernel build."""

from __future__ import annotations

import itertools
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from lldbisect.linkers.cases import CASES, select
from tests.conftest import require
from tests.schemas import documented

LLD = {v: f"/usr/lib/llvm-{v}/bin/ld.lld" for v in (13, 14, 15, 16, 19, 22)}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lldbisect", *args], capture_output=True,
                          text=True)


def families(doc: dict[str, Any], case: str) -> dict[str, list[str]]:
    """key -> kernels that see it, for one case of a probe document."""
    found = next(c for c in doc["cases"] if c["case"] == case)
    return {f["key"]: f["visible_to"] for f in found["families"]}


@pytest.fixture(scope="module")
def kernel_args(real_trees: dict[str, Path]) -> list[str]:
    return ["--kernel", str(real_trees["6.1"]), "--kernel", str(real_trees["6.12"])]


@pytest.mark.kernel
@pytest.mark.parametrize("version", sorted(LLD))
def test_every_case_makes_what_its_flags_act_on(versions: dict[str, str], version: int,
                                                kernel_args: list[str]) -> None:
    """Each case makes each Debian lld emit stubs: the corpus contains what the flags
    act on (far calls, interworking, LA25, PLT calls, the erratum 843419 sequence)."""
    require(LLD[version], "clang")
    done = run("probe", "--ld", LLD[version], "--json", *kernel_args)
    assert done.returncode == 0, done.stderr
    doc = documented(done.stdout)
    assert doc["kernels"] == [versions["6.1"], versions["6.12"]]
    proof = {"riscv", "x86", "s390", "hexagon"}  # where lld made no thunks for long
    for case in doc["cases"]:
        if case["case"] not in proof:
            assert case["status"] == "ok", case
            assert case["families"], case["case"]
    status = {c["case"]: c["status"] for c in doc["cases"]}
    # RISC-V and x86 calls reach 2 GiB: nothing made, and the case shows it.
    assert status["riscv"] == status["x86"] == "ok"
    assert families(doc, "riscv") == families(doc, "x86") == {}
    # lld <= 16 knows no s390x: it crashes (a real SIGSEGV, not a refusal).
    assert status["s390"] == ("crashed" if version <= 16 else "ok")
    if version > 16:
        assert families(doc, "s390") == {}
    # Hexagon: older lld refuse the far call; lld 22 makes a thunk that both 6.1 and
    # 6.12 let through (6.12's " __[[:alnum:]]*Thunk_" wants a capital T).
    if version >= 22:
        assert families(doc, "hexagon") == {
            "suffix _from_.text.thunk": [versions["6.1"], versions["6.12"]]}
    else:
        assert status["hexagon"] == "unsupported"
    arm64 = families(doc, "arm64")
    assert "prefix __AArch64ADRPThunk_" in arm64 and "prefix __CortexA53843419_" in arm64
    assert "prefix __AArch64AbsLongThunk_" in families(doc, "arm64-nopic")
    assert families(doc, "mips-la25") == {"prefix __LA25Thunk_": []}
    assert families(doc, "micromips-la25") == {"prefix __microLA25Thunk_": []}
    v5 = families(doc, "arm-v5-pic")
    if version >= 16:  # the rename that broke Linux 6.1; 6.12 hides it
        assert v5 == {"prefix __ARMv4PILongBXThunk_": [versions["6.1"]]}
    else:
        assert v5 == {"prefix __ARMV5PILongThunk_": []}


@pytest.mark.kernel
def test_gnu_ld_probes_its_own_target_and_reports_the_rest(kernel_args: list[str]) -> None:
    require("arm-linux-gnueabihf-ld")
    done = run("probe", "--ld", "arm-linux-gnueabihf-ld", "--json", *kernel_args)
    assert done.returncode == 0, done.stderr
    doc = documented(done.stdout)
    status = {c["case"]: (c["status"], c["message"]) for c in doc["cases"]}
    assert set(families(doc, "arm-v5-pic")) == {"suffix _veneer", "suffix _from_arm",
                                                 "suffix _from_thumb"}
    assert status["arm64"] == ("unsupported", "arm-linux-gnueabihf-ld: unrecognized option"
                                              " '--fix-cortex-a53-843419'")
    assert status["ppc64"][0] == status["mips-la25"][0] == "unsupported"
    text = run("probe", "--ld", "arm-linux-gnueabihf-ld", "--arch", "mips")
    assert text.returncode == 0 and "unsupported: " in text.stdout


@pytest.mark.kernel
def test_gnu_ld_families_of_other_targets(versions: dict[str, str],
                                          kernel_args: list[str]) -> None:
    require("mips-linux-gnu-ld", "powerpc64le-linux-gnu-ld")
    mips = documented(run("probe", "--ld", "mips-linux-gnu-ld", "--arch", "mips",
                          "--json").stdout)
    assert families(mips, "mips-la25") == {"prefix .pic.": []}
    ppc = documented(run("probe", "--ld", "powerpc64le-linux-gnu-ld", "--case", "ppc64",
                         "--json", *kernel_args).stdout)
    assert families(ppc, "ppc64") == {"substring .plt_branch.": [],
                                      "substring .plt_call.": [versions["6.1"],
                                                               versions["6.12"]]}


@pytest.mark.kernel
def test_validate_flags_the_armv5_thunks_for_61_not_612(
        versions: dict[str, str], kernel_args: list[str], tmp_path: Path) -> None:
    junit = tmp_path / "validate.xml"
    done = run("validate", "--ld", LLD[16], "--baseline", LLD[15], "--json",
               "--junit", str(junit), *kernel_args)
    assert done.returncode == 1, done.stderr
    doc = documented(done.stdout)
    assert doc["failed"] is True
    failed = {c["case"] for c in doc["cases"] if c["failed"]}
    assert failed == {"arm-v5-pic", "arm-v5-abs", "arm-v4t-pic", "arm-v4t-abs"}
    v5 = next(c for c in doc["cases"] if c["case"] == "arm-v5-pic")
    new = [(c["key"], c["visible_to"]) for c in v5["changes"] if c["change"] == "new"]
    assert new == [("prefix __ARMv4PILongBXThunk_", [versions["6.1"]])]
    assert "[23/23]" in done.stderr  # progress
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "23" and suite.get("failures") == "4"
    bad = suite.find("testcase[@name='arm-v5-pic']/failure")
    assert bad is not None and f"__ARMv4PILongBXThunk_ visible to {versions['6.1']}" in (
        bad.get("message") or "")
    # 6.12 alone sees nothing new: exit 0.
    only612 = run("validate", "--ld", LLD[16], "--baseline", LLD[15], *kernel_args[2:])
    assert only612.returncode == 0, only612.stdout
    assert "verdict: nothing new that a given kernel would see" in only612.stdout


@pytest.mark.kernel
def test_validate_shards_split_the_cases(kernel_args: list[str]) -> None:
    seen: list[str] = []
    for i in (1, 2, 3):
        done = run("validate", "--ld", LLD[16], "--baseline", LLD[15], "--json",
                   "--shard", f"{i}/3", *kernel_args)
        doc = documented(done.stdout)
        seen += [c["case"] for c in doc["cases"]]
        assert done.returncode == (1 if any(c["failed"] for c in doc["cases"]) else 0)
    assert sorted(seen) == sorted(c.name for c in CASES)


@pytest.mark.parametrize("args, message", [
    (["probe", "--ld", "/nonexistent/ld.lld"], "/nonexistent/ld.lld: no such linker"),
    (["probe", "--ld", "/etc/passwd"], "/etc/passwd: not executable"),
    (["probe", "--ld", "/bin/false"], "/bin/false: does not answer --version"),
    (["probe", "--ld", LLD[16], "--arch", "sparc"], "unknown arch 'sparc'"),
    (["probe", "--ld", LLD[16], "--kernel", "/tmp"], "/tmp: not a kernel tree"),
    (["validate", "--ld", LLD[16], "--baseline", LLD[15], "--shard", "3/2"],
     "--shard 3/2: I must be between 1 and N"),
    (["validate", "--ld", LLD[16], "--baseline", LLD[15], "--shard", "x"],
     "--shard x: expected I/N"),
    (["validate", "--ld", LLD[16], "--baseline", LLD[15], "--kernel-build", "/tmp"],
     "/tmp: not a kernel build directory"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_case_selection() -> None:
    assert {c.arch for c in select(("arm64",))} == {"arm64"}
    assert [c.name for c in select((), ("ppc32",))] == ["ppc32"]
    assert len(select()) == len(CASES)
    listed = run("probe", "--list")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == len(CASES)


@pytest.mark.kernel
@pytest.mark.realbuild
def test_validate_relinks_a_real_build_with_both(tiny_arm: Any) -> None:
    """On the real tiny ARMv5 6.1 build: converged with lld-15, diverged with lld-16."""
    assert tiny_arm.failing_pad(LLD[16]) is not None
    done = run("validate", "--ld", LLD[16], "--baseline", LLD[15], "--arch", "arm",
               "--kernel-build", str(tiny_arm.build_dir), "--json")
    assert done.returncode == 1, done.stderr[-2000:]
    build = documented(done.stdout)["builds"][0]
    assert (build["baseline"], build["new"], build["regressed"]) == (
        "converged", "diverged", True)
    assert any(n.startswith("__ARMv4PILongBXThunk_") for n in build["new_culprits"])


@pytest.mark.kernel
@pytest.mark.realbuild
def test_validate_says_a_linker_crashed_relinking_a_real_build(tiny_arm: Any,
                                                               tmp_path: Path) -> None:
    crashy = _crashing_linker(tmp_path, "vmlinux")  # every link of the vmlinux stages
    done = run("validate", "--ld", crashy, "--baseline", LLD[15], "--arch", "arm64",
               "--kernel-build", str(tiny_arm.build_dir), "--json")
    assert done.returncode == 1, done.stderr[-2000:]
    build = documented(done.stdout)["builds"][0]
    assert (build["baseline"], build["new"], build["crashed"]) == ("converged", "crashed",
                                                                  True)
    assert build["new_reason"].startswith("the linker crashed (")
    text = run("validate", "--ld", crashy, "--baseline", LLD[15], "--arch", "arm64",
               "--kernel-build", str(tiny_arm.build_dir))
    assert "CRASH" in text.stdout and "the new linker crashed on" in text.stdout


def release_table(kernel_args: list[str]) -> list[str]:
    """The README's table: each Debian lld against the one before it."""
    rows = ["| lld | new family (cases) | 6.1 sees it | 6.12 sees it |", "|---|---|---|---|"]
    versions = sorted(LLD)
    for old, new in itertools.pairwise(versions):
        doc = documented(run("validate", "--ld", LLD[new], "--baseline", LLD[old], "--json",
                             *kernel_args).stdout)
        found: dict[str, tuple[set[str], set[str]]] = {}
        for case in doc["cases"]:
            for ch in case["changes"]:
                if ch["change"] == "new":
                    cases, seen = found.setdefault(ch["key"], (set(), set()))
                    cases.add(case["case"])
                    seen.update(ch["visible_to"])
        label = f"{new} (vs {old})"
        if not found:
            rows.append(f"| {label} | none | | |")
        for key, (cases, seen) in sorted(found.items()):
            yes = ["yes" if any(s.startswith(v + ".") for s in seen) else "no"
                   for v in ("6.1", "6.12")]
            rows.append(f"| {label} | `{key}` ({', '.join(sorted(cases))}) | {yes[0]} |"
                        f" {yes[1]} |")
    return rows


@pytest.mark.kernel
def test_readme_release_table_is_what_the_linkers_do(kernel_args: list[str]) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- release-table -->\n")[1].split("<!-- /release-table -->")[0]
    assert block.splitlines() == release_table(kernel_args)


@pytest.mark.parametrize("old, new, at_risk_bad, regressed", [
    ("converged", "diverged", True, True),
    ("converged", "at-risk", True, True),
    ("converged", "at-risk", False, False),  # --at-risk-good
    ("at-risk", "converged", True, False),
    (None, "converged", True, False),  # the baseline could not link it
    ("converged", None, True, True),  # the new linker cannot
    ("diverged", "diverged", True, False),
])
def test_build_regression_ranks(old: str | None, new: str | None, at_risk_bad: bool,
                                regressed: bool) -> None:
    from lldbisect.analysis.convergence import Verdict
    from lldbisect.bisect.steps import StepOutcome, StepVerdict
    from lldbisect.linkers.validate import BuildComparison

    def outcome(state: str | None) -> StepOutcome:
        return StepOutcome(StepVerdict.SKIP, "", 1.0, None if state is None else Verdict(state))

    assert BuildComparison("b", outcome(old), outcome(new), at_risk_bad).regressed() is regressed


def _crashing_linker(tmp_path: Path, when: str) -> str:
    """lld 16 that answers --version, and kills itself with SIGSEGV (as a crashing
    linker dies) when its arguments match ``when``."""
    ld = tmp_path / "ld.crashy"
    ld.write_text("#!/bin/sh\n"
                  f'case "$*" in *{when}*) kill -SEGV $$ ;; esac\n'
                  f'exec {LLD[16]} "$@"\n')
    ld.chmod(0o755)
    return str(ld)


def test_a_crash_is_a_failure_with_its_own_line_never_unsupported(tmp_path: Path) -> None:
    crashy = _crashing_linker(tmp_path, "arm-v7-pic")  # the case's own directory name
    probed = run("probe", "--ld", crashy, "--arch", "arm", "--json")
    assert probed.returncode == 0, probed.stderr
    doc = documented(probed.stdout)
    status = {c["case"]: (c["status"], c["message"]) for c in doc["cases"]}
    assert status["arm-v7-pic"] == ("crashed", "killed by SIGSEGV")
    assert {s for case, (s, _m) in status.items() if case != "arm-v7-pic"} == {"ok"}
    text = run("probe", "--ld", crashy, "--arch", "arm")
    assert "crashed: killed by SIGSEGV" in text.stdout
    done = run("validate", "--ld", crashy, "--baseline", LLD[16], "--arch", "arm", "--json")
    assert done.returncode == 1, done.stdout
    report = documented(done.stdout)
    assert [c["case"] for c in report["cases"] if c["failed"]] == ["arm-v7-pic"]
    crash = next(c for c in report["cases"] if c["case"] == "arm-v7-pic")
    assert crash["crashed"] and not crash["lost_support"]
    text = run("validate", "--ld", crashy, "--baseline", LLD[16], "--arch", "arm")
    assert text.returncode == 1
    assert "arm-v7-pic  CRASH   the new linker crashed: killed by SIGSEGV" in text.stdout
    assert "verdict: FAIL: the new linker crashed on arm-v7-pic" in text.stdout


def test_a_linker_that_crashes_on_every_link_fails_validation(tmp_path: Path) -> None:
    crashy = _crashing_linker(tmp_path, "-o")
    done = run("validate", "--ld", crashy, "--baseline", LLD[16], "--arch", "arm64")
    assert done.returncode == 1, done.stdout
    assert "the new linker crashed on" in done.stdout and "unsupported" not in done.stdout


def test_crashes_are_told_from_refusals() -> None:
    from lldbisect.linkers.crash import crash_in_log, crashed

    assert crashed(-11, "") == "killed by SIGSEGV"
    assert crashed(134, "") == "killed by SIGABRT (exit status 134)"
    assert crashed(1, "ld.lld: error: unknown argument '--fix-cortex-a8'") is None
    assert crashed(1, "PLEASE submit a bug report to https://github.com/llvm/...\n"
                      "Stack dump:\n0. Program arguments: ld.lld") is not None
    assert crash_in_log("make[2]: *** [scripts/Makefile.vmlinux:34: vmlinux] Error 139")
    assert crash_in_log("ld.lld: error: undefined symbol: foo\nmake: *** [x] Error 1") is None
    # Not the linker's: a compiler's crash, the OOM killer, a SIGTERM, a file's name.
    assert crash_in_log("make[2]: *** [scripts/Makefile.build:250: kernel/fork.o] Error 139"
                        ) is None
    assert crash_in_log("make[1]: *** [Makefile:1250: vmlinux] Error 137") is None
    assert crash_in_log("make[1]: *** [Makefile:1250: vmlinux] Error 143") is None
    assert crashed(1, "ld.lld: error: unable to open Aborted.o") is None
