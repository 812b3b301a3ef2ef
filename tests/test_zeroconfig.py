"""Relinking a build knowing nothing of how it was made: on a second real build,
configured unlike the ARM one (ppc64le, clang with GNU as, ld.lld-16)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from lldbisect.kernel.buildconfig import infer

pytestmark = [pytest.mark.kernel, pytest.mark.realbuild]


def _state(build: Path) -> dict[str, str]:
    """The configuration and every object, by content. (Objects that include the
    vDSO's offsets are rebuilt when LD= changes, since the vDSO is linked with $(LD):
    with the linker the build was made with, they come out the same.)"""
    out: dict[str, str] = {}
    files = [build / ".config", build / "Makefile", *(build / "include" / "config").rglob("*")]
    files += [p for p in build.rglob("*") if p.suffix in (".o", ".a")
              and not p.name.startswith((".tmp_", ".vmlinux"))
              and p.name not in ("vmlinux.o", "version-timestamp.o")]
    for p in files:
        if p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _run_step(build: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lldbisect", "run-step", "ld",
                           "--kernel-build", str(build), *args],
                          capture_output=True, text=True)


def test_the_build_says_how_it_was_made(tiny_ppc: Path) -> None:
    found = infer(tiny_ppc)
    assert found.arch == "powerpc"
    assert found.make_args == ("ARCH=powerpc", "LLVM=/usr/lib/llvm-14/bin/", "LLVM_IAS=0",
                               "CROSS_COMPILE=powerpc64le-linux-gnu-")


def test_relink_with_no_make_arguments(tiny_ppc: Path) -> None:
    before = _state(tiny_ppc)
    done = _run_step(tiny_ppc, "--ld", "ld.lld-16")
    assert done.returncode in (0, 1, 125), done.stderr[-2000:]  # judged, not aborted
    assert "inferred from the build: ARCH=powerpc" in done.stderr
    assert "LLVM_IAS=0 (GNU as), CROSS_COMPILE=powerpc64le-linux-gnu-" in done.stderr
    assert _state(tiny_ppc) == before


def test_a_wrong_make_argument_is_stopped_and_undone(tiny_ppc: Path) -> None:
    """The integrated assembler instead of GNU as is another configuration: make would
    reconfigure; it is stopped and the build is as it was."""
    before = _state(tiny_ppc)
    # Their times too: a configuration file newer than the objects would make the next
    # make recompile everything that includes it (the next relink would be refused).
    config = [tiny_ppc / r for r in (".config", "include/config/auto.conf",
                                     "include/generated/autoconf.h")]
    times = [p.stat().st_mtime_ns for p in config]
    done = _run_step(tiny_ppc, "--ld", "ld.lld-16", "--make-arg", "LLVM_IAS=1")
    assert done.returncode >= 128, done.stderr[-2000:]
    assert "relinking would" in done.stderr
    assert _state(tiny_ppc) == before
    assert [p.stat().st_mtime_ns for p in config] == times


def test_hunt_with_no_make_arguments(tiny_ppc: Path) -> None:
    """hunt relinks it knowing nothing of the build: the tiny ppc64le kernel has no far
    calls, so the newest lld (tried first) converges and hunt says there is nothing to
    bisect (exit 2), the configuration and objects as they were."""
    before = _state(tiny_ppc)
    done = subprocess.run([sys.executable, "-m", "lldbisect", "hunt", "--kernel-build",
                           str(tiny_ppc), "--ld", "ld.lld-16", "--ld", "ld.lld-15"],
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "inferred from the build: ARCH=powerpc" in done.stderr
    assert "is not bad: nothing to bisect" in done.stderr
    assert "relinking would" not in done.stderr
    assert _state(tiny_ppc) == before
