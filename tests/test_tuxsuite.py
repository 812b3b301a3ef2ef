"""The validation matrix as a TuxSuite plan, checked with the tuxsuite client's own plan
schema and loader and with TuxMake's own architecture and toolchain tables; results in
the shape ``tuxsuite plan submit --json-out`` writes (files of our own: the service
cannot be reached from here), and the client itself failing as it does here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lldbisect.arch import by_machine
from lldbisect.errors import InputError
from lldbisect.linkers.tuxsuite import (
    STABLE_REPO,
    PlanBuild,
    check_with_client,
    judge_results,
    plan_matrix,
    read_results,
    toolchain_for,
)
from tests.llvmrepo import commit_history
from tests.schemas import documented

LLD16 = "/usr/lib/llvm-16/bin/ld.lld"
LLD19 = "/usr/lib/llvm-19/bin/ld.lld"
GNU_ARM = "arm-linux-gnueabihf-ld"
ARCHES = ("arm", "arm64", "riscv")


def _lldbisect(*args: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lldbisect", *args], capture_output=True,
                          text=True, env=env)


def _validate(real_trees: dict[str, Path], plan: Path, *extra: str,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    arches = [a for arch in ARCHES for a in ("--arch", arch)]
    return _lldbisect("validate", "--ld", LLD19, "--baseline", LLD16, *arches,
                      "--kernel", str(real_trees["6.1"]), "--kernel", str(real_trees["6.12"]),
                      "--tuxsuite-plan", str(plan), *extra, env=env)


@pytest.mark.kernel
def test_a_plan_of_3_arches_2_kernels_2_linkers_the_client_accepts(
        real_trees: dict[str, Path], versions: dict[str, str], tmp_path: Path) -> None:
    import tuxmake.arch
    import tuxmake.toolchain
    import tuxsuite.config
    import tuxsuite.schema

    plan_file = tmp_path / "plan.yaml"
    done = _validate(real_trees, plan_file)
    assert done.returncode in (0, 1), done.stderr
    assert "12 builds in" in done.stderr and "tuxsuite client's plan schema" in done.stderr
    assert "not submitted" in done.stdout
    plan = json.loads(plan_file.read_text())
    tuxsuite.schema.plan()(plan)  # the client's own schema ...
    assert not tuxsuite.config.PlanConfig(None, None, str(plan_file)).schema_warning  # loader
    builds = [b for job in plan["jobs"] for b in job["builds"]]
    assert len(plan["jobs"]) == 4 and len(builds) == 12
    assert {b["toolchain"] for b in builds} == {"clang-19", "clang-16"}
    assert {b["target_arch"] for b in builds} == set(ARCHES)
    tags = {b["git_ref"] for b in builds}
    assert tags == {"v" + versions["6.1"], "v" + versions["6.12"]}, tags
    assert {b["git_repo"] for b in builds} == {STABLE_REPO}
    for b in builds:  # TuxMake knows every architecture and toolchain named
        tuxmake.arch.Architecture(b["target_arch"])
        tuxmake.toolchain.Toolchain(b["toolchain"])
        assert b["make_variables"] == {"LLVM": "1", "LLVM_IAS": "1"}
    assert "Debian" not in plan["description"] or "patches" in plan["description"]
    assert "not in the tag" in plan["description"]


def test_linkers_tuxsuite_cannot_have_are_refused() -> None:
    with pytest.raises(InputError, match="built from an LLVM revision"):
        toolchain_for("/b/ld.lld", "LLD 17.0.0 (https://github.com/llvm/llvm-project"
                                   " 1a2b3c) (compatible with GNU linkers)", "new", None)
    with pytest.raises(InputError, match="built from an LLVM revision"):
        toolchain_for("/b/ld.lld", "LLD 18.0.0git (compatible with GNU linkers)", "new", None)
    with pytest.raises(InputError, match="neither lld nor GNU ld"):
        toolchain_for("ld.gold", "GNU gold (GNU Binutils for Debian 2.40) 1.16", "new", 16)
    arm = by_machine("EM_ARM")
    gnu = toolchain_for(GNU_ARM, "GNU ld (GNU Binutils for Debian) 2.40", "baseline", 19, arm)
    assert gnu.toolchain == "clang-19" and gnu.make_variables["LD"] == GNU_ARM
    assert "not GNU ld (GNU Binutils for Debian) 2.40" in gnu.note  # said, not hidden


def test_a_kernel_checkout_goes_as_its_remote_and_commit(tmp_path: Path) -> None:
    repo = tmp_path / "linux"
    commit_history(repo, [("v6.1", {"Makefile": "VERSION = 6\nPATCHLEVEL = 1\n"})])
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin",
                    "https://example.org/linux.git"], check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    _plan, builds = plan_matrix(LLD19, LLD16, ("arm",), [("6.1", repo, "6.1.0")])
    assert builds[0].build["git_repo"] == "https://example.org/linux.git"
    assert builds[0].build["git_sha"] == head and "git_ref" not in builds[0].build
    (repo / "Makefile").write_text("changed\n")
    with pytest.raises(InputError, match="not committed"):
        plan_matrix(LLD19, LLD16, ("arm",), [("6.1", repo, "6.1.0")])
    subprocess.run(["git", "-C", str(repo), "checkout", "Makefile"], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "set-url", "origin", str(tmp_path)],
                   check=True)
    with pytest.raises(InputError, match="not one TuxSuite can fetch"):
        plan_matrix(LLD19, LLD16, ("arm",), [("6.1", repo, "6.1.0")])


def test_a_plan_the_client_rejects_is_bad_input(tmp_path: Path) -> None:
    bad = {"version": 2, "jobs": []}
    (tmp_path / "p.yaml").write_text(json.dumps(bad))
    with pytest.raises(InputError, match="rejects the plan"):
        check_with_client(bad, tmp_path / "p.yaml")


def _status(b: PlanBuild, state: str, message: str = "") -> dict[str, Any]:
    """One build as TuxSuite's API reports it (the fields the client prints from)."""
    build = b.build
    return {"uid": f"{b.arch.kernel_arch}-{b.kernel.label}-{b.linker.role}",
            "target_arch": build["target_arch"], "toolchain": build["toolchain"],
            "kconfig": [build["kconfig"]], "git_repo": build["git_repo"],
            "git_ref": build.get("git_ref"), "git_sha": "0123abcd" * 5,
            "make_variables": build["make_variables"], "tuxbuild_status": "complete",
            "build_status": state, "status_message": message,
            "download_url": f"https://storage.example/{b.arch.kernel_arch}/",
            "warnings_count": 0, "errors_count": int(state == "fail")}


def _results(builds: list[PlanBuild], fail: dict[tuple[str, str], str],
             unfinished: set[tuple[str, str]] = frozenset()) -> dict[str, Any]:
    out = {}
    for b in builds:
        key = (b.arch.kernel_arch, b.linker.role)
        s = _status(b, "fail" if key in fail else "pass", fail.get(key, ""))
        if key in unfinished:
            s.update(tuxbuild_status="building", build_status="")
        out[f"{s['uid']}-{len(out)}"] = s
    return {"builds": out, "tests": {}}


@pytest.mark.kernel
def test_results_read_back_into_the_report(real_trees: dict[str, Path],
                                           versions: dict[str, str], tmp_path: Path) -> None:
    """A new linker's kallsyms failure where the baseline links is a regression (exit 1),
    each build with its log; builds without an outcome leave no verdict (exit 4, unless
    the local validation already failed)."""
    plan_file = tmp_path / "plan.yaml"
    local = _validate(real_trees, plan_file).returncode
    assert local in (0, 1)
    kernels = [(v, real_trees[k], v) for k, v in versions.items()]
    _plan, planned = plan_matrix(LLD19, LLD16, ARCHES, kernels)
    written = json.loads(plan_file.read_text())
    assert [b.build for b in planned] == [b for job in written["jobs"] for b in job["builds"]]
    kallsyms = "Inconsistent kallsyms data\nTry make KALLSYMS_EXTRA_PASS=1 as a workaround"
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_results(planned, {("arm", "new"): kallsyms})))
    done = _validate(real_trees, plan_file, "--tuxsuite-results", str(results), "--json")
    assert done.returncode == 1, done.stderr
    doc = documented(done.stdout)["tuxsuite"]
    flagged = [b for b in doc["builds"] if b["regression"]]
    assert len(flagged) == 2 and all(b["kallsyms"] for b in flagged)  # arm, both kernels
    assert all(b["log"].endswith("/arm/build.log") for b in flagged)
    assert not doc["missing"] and len(doc["builds"]) == 12
    text = _validate(real_trees, plan_file, "--tuxsuite-results", str(results)).stdout
    assert "REGRESSION arm/defconfig" in text and "(Inconsistent kallsyms data)" in text
    # The baseline fails the same way: not the new linker's doing.
    results.write_text(json.dumps(_results(planned, {("arm", "new"): kallsyms,
                                                     ("arm", "baseline"): kallsyms})))
    done = _validate(real_trees, plan_file, "--tuxsuite-results", str(results), "--json")
    assert done.returncode == local
    assert not any(b["regression"] for b in documented(done.stdout)["tuxsuite"]["builds"])
    # Still building: no verdict.
    results.write_text(json.dumps(_results(planned, {}, {("riscv", "new")})))
    done = _validate(real_trees, plan_file, "--tuxsuite-results", str(results))
    assert done.returncode == (1 if local else 4), done.stdout
    assert "2 of 12 builds have no outcome: no verdict" in done.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    done = _validate(real_trees, plan_file, "--tuxsuite-results", str(bad))
    assert done.returncode == 2 and "not a tuxsuite --json-out file" in done.stderr
    assert "Traceback" not in done.stderr


def test_judging_results_by_the_baseline(tmp_path: Path) -> None:
    kernels = [("6.1", Path("/nonexistent"), "6.1.5")]
    _plan, planned = plan_matrix(LLD19, LLD16, ("arm64",), kernels)
    new, base = planned
    statuses = {"a": _status(new, "fail", "ld.lld: error: undefined symbol"),
                "b": _status(base, "pass")}
    verdict = judge_results(read_results(_write(tmp_path, statuses), planned), planned)
    assert [r.build for r in verdict.regressions] == [new] and verdict.complete
    statuses["b"] = _status(base, "fail", "ld.lld: error: undefined symbol")
    verdict = judge_results(read_results(_write(tmp_path, statuses), planned), planned)
    assert not verdict.regressions and verdict.complete
    del statuses["b"]
    verdict = judge_results(read_results(_write(tmp_path, statuses), planned), planned)
    assert not verdict.regressions and verdict.missing == [base]


def _write(d: Path, statuses: dict[str, Any]) -> Path:
    out = d / f"results{len(list(d.iterdir()))}.json"
    out.write_text(json.dumps({"builds": statuses}))
    return out


@pytest.mark.kernel
def test_submitting_says_what_the_client_says(real_trees: dict[str, Path], tmp_path: Path
                                              ) -> None:
    """The service is not reachable here: without a token the client says so, with one
    it cannot resolve TuxSuite's host; each a one-line tool error (exit 3), no verdict."""
    env = {k: v for k, v in os.environ.items() if k != "TUXSUITE_TOKEN"}
    env["HOME"] = str(tmp_path / "home")
    env.pop("XDG_CONFIG_HOME", None)
    done = _validate(real_trees, tmp_path / "plan.yaml", "--tuxsuite", env=env)
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "tuxsuite plan submit failed" in last and "Token not found" in last, last
    env["TUXSUITE_TOKEN"] = "not-a-real-token"
    done = _validate(real_trees, tmp_path / "plan.yaml", "--tuxsuite", "--tuxsuite-timeout",
                     "15", env=env)
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "tuxsuite plan submit" in last and "Traceback" not in done.stderr, last
