"""``sweep`` on the real tiny ARMv5 6.1 build: from a layout that links, find one that
fails as the report says, with fewer relinks than a uniform sweep; prove the patch on
every layout swept; never change the build."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.schemas import documented

pytestmark = [pytest.mark.kernel, pytest.mark.realbuild]

LLD16 = "/usr/lib/llvm-16/bin/ld.lld"
GNU_ARM = "/usr/bin/arm-linux-gnueabihf-ld"


def _state(build: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and link of the build directory: size, time, content."""
    out: dict[str, tuple[int, int, str]] = {}
    for d, dirs, files in os.walk(build):
        for name in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = Path(d, name)
            st = p.lstat()
            body = (os.readlink(p) if p.is_symlink()
                    else hashlib.sha1(p.read_bytes()).hexdigest())
            out[str(p.relative_to(build))] = (st.st_size, st.st_mtime_ns, body)
        for name in dirs:
            out[str(Path(d, name).relative_to(build)) + "/"] = (0, 0, "")
    return out


def _lldbisect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lldbisect", *args], capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def at_risk(tiny_arm: object) -> Path:
    """The tiny build linked by lld 16 at a padding where it converges in three passes."""
    from lldbisect.kernel.repro import TinyArmBuild

    assert isinstance(tiny_arm, TinyArmBuild)
    if tiny_arm.at_risk_pad(LLD16) is None:
        pytest.fail("no padding near the recipe's at which lld 16 converges in 3 passes")
    return tiny_arm.build_dir


def test_sweep_finds_the_failing_layout_first(at_risk: Path) -> None:
    before = _state(at_risk)
    done = _lldbisect("sweep", str(at_risk), "--ld", LLD16, "--json")
    assert done.returncode == 1, done.stderr[-2000:]
    doc = documented(done.stdout)
    failing = doc["failing"]
    assert failing and failing["failure"].startswith("Inconsistent kallsyms data")
    assert failing["culprits"] and all(c.startswith("__ARMv4PILongBXThunk_")
                                       for c in failing["culprits"])
    assert "layout checked against pass 1, pass 2" in doc["model"]
    assert failing["predicted"] and doc["relinks"] == 1  # the model's first guess
    assert _state(at_risk) == before  # byte for byte, times too

    # A uniform sweep of the same range, for real: it needs more relinks.
    uniform = _lldbisect("sweep", str(at_risk), "--ld", LLD16, "--no-predict", "--json")
    assert uniform.returncode == 1, uniform.stderr[-2000:]
    plain = json.loads(uniform.stdout)
    assert plain["relinks"] > doc["relinks"]
    assert doc["uniform_relinks_estimate"] == plain["relinks"]  # the model said so
    assert _state(at_risk) == before

    # The reproducer the report prints fails the same way.
    again = _lldbisect(*doc["reproduce"].split()[1:])
    assert again.returncode == 1, again.stderr[-2000:]
    assert "FAILING LAYOUT" in again.stdout and failing["culprits"][0] in again.stdout


def test_gnu_ld_sweep_finds_no_failing_layout(at_risk: Path) -> None:
    """GNU ld's veneers are hidden by 6.1's rules: no layout fails, and the range is said."""
    before = _state(at_risk)
    done = _lldbisect("sweep", str(at_risk), "--ld", GNU_ARM, "--range", "0:3072")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no failing layout at the 3 padding(s) relinked and judged in 0..3072 B" in done.stdout
    assert "relinking with" in done.stderr and "unpadded first" in done.stderr
    assert _state(at_risk) == before


def test_a_sweep_cut_short_has_no_verdict(at_risk: Path) -> None:
    done = _lldbisect("sweep", str(at_risk), "--ld", GNU_ARM, "--max-relinks", "1")
    assert done.returncode == 4, done.stderr[-2000:]
    assert "NOT COVERED: no verdict for the range: --max-relinks 1 reached" in done.stdout


def test_propose_proves_the_patch_on_every_layout(at_risk: Path, tmp_path: Path) -> None:
    before = _state(at_risk)
    patch = tmp_path / "0001.patch"
    done = _lldbisect("propose", str(at_risk), "--verify-sweep", "--max-relinks", "4",
                      "-o", str(patch))
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stderr.splitlines() if "converges at" in x)
    n = line.split("converges at ")[1].split()
    assert n[0] == n[2] and int(n[0]) >= 3, line  # N of N, the failing one included
    assert "failed" in line and "__ARMv4PILongBXThunk_" in patch.read_text()
    assert _state(at_risk) == before


def test_an_interrupted_sweep_puts_the_build_back(at_risk: Path) -> None:
    before = _state(at_risk)
    proc = subprocess.Popen([sys.executable, "-m", "lldbisect", "sweep", str(at_risk),
                             "--ld", LLD16, "--no-predict"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "relink 1/" in line:  # the second relink is under way
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert _state(at_risk) == before
