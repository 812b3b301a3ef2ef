"""scan-commit's reading of GNU ld on the real thing: bfd of Debian's binutils source
package (fetched at test time), each backend's names checked against the cross
linkers' own libbfd and the names their links really get in the probe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lldbisect.analysis.commitscan import patterns_in
from lldbisect.kernel import sources

pytestmark = pytest.mark.sources
LIB = Path("/usr/lib/x86_64-linux-gnu")
# backend source -> the Debian cross binutils' libbfd that holds it
BACKENDS = {"elf32-arm.c": "armhf", "elfnn-aarch64.c": "arm64", "elf64-ppc.c": "ppc64el",
            "elfxx-mips.c": "mips"}


@pytest.fixture(scope="module")
def bfd() -> Path:
    return sources.source_subtree("binutils", ("bfd",)) / "bfd"


def _names(path: Path) -> set[str]:
    return {f.pattern.text for f in patterns_in(path.name, path.read_text(errors="replace"))}


def test_each_backend_names_what_its_linker_holds_and_no_section(bfd: Path) -> None:
    found = {}
    for source, lib in BACKENDS.items():
        binary = LIB / f"libbfd-2.40-{lib}.so"
        if not binary.exists():
            pytest.skip(f"{binary} missing: run bisect-scripts/setup-machine")
        found[source] = names = _names(bfd / source)
        data = binary.read_bytes()
        assert {n for n in names if n.encode() not in data} == set(), source
    # The stubs, veneers and erratum fixes of the architectures the kernel links.
    assert {"_veneer", "_from_arm", "_from_thumb", "__vfp11_veneer_", "__bx_r",
            "__stm32l4xx_veneer_"} <= found["elf32-arm.c"]
    assert {"__erratum_835769_veneer_", "e843419@"} <= found["elfnn-aarch64.c"]
    assert ".global_entry." in found["elf64-ppc.c"]
    assert {".pic.", ".mips16."} <= found["elfxx-mips.c"]  # LA25 and MIPS16 stubs
    # The same printf spellings that name sections are not symbol names.
    every = set().union(*found.values())
    assert not every & {".text.stub.", ".plt.", ".got.plt.", ".sec", ".stub"}


def test_the_names_gnu_ld_really_makes_are_read_from_its_source(bfd: Path) -> None:
    ld = "/usr/bin/arm-linux-gnueabihf-ld.bfd"
    if not Path(ld).exists():
        pytest.skip(f"{ld} missing: run bisect-scripts/setup-machine")
    done = subprocess.run([sys.executable, "-m", "lldbisect", "probe", "--ld", ld, "--arch",
                           "arm", "--json"], capture_output=True, text=True, check=True)
    made = {m for c in json.loads(done.stdout)["cases"] for f in c.get("families", [])
            for m in f.get("members", [])}
    assert made, "the probe's ARM links made no stub with GNU ld"
    names = _names(bfd / "elf32-arm.c")
    assert {m for m in made if not any(m.endswith(n) or m.startswith(n) for n in names)} \
        == set()


def test_ppc64_stub_names_assembled_from_a_table_are_read(bfd: Path, tmp_path: Path) -> None:
    """GNU ld's ppc64 names its stubs by memcpy from a table (`stub_str[]`): a real
    link with --emit-stub-syms, a far call and a call into a shared library."""
    ld = "/usr/bin/powerpc64le-linux-gnu-ld.bfd"
    if not Path(ld).exists():
        pytest.skip(f"{ld} missing: run bisect-scripts/setup-machine")
    (tmp_path / "a.c").write_text("void far(void);\nvoid ext(void);\n"
                                  "void _start(void) { far(); ext(); }\n")
    (tmp_path / "b.c").write_text("void far(void) {}\n")
    (tmp_path / "x.c").write_text("void ext(void) {}\n")
    (tmp_path / "far.lds").write_text(
        "SECTIONS { .text 0x10000000 : { *(.text) } .far 0x14000000 : { *(.text.far) } }\n")
    cc = ["clang", "--target=powerpc64le-linux-gnu", "-O2"]
    for args in (["-c", "a.c"], ["-c", "-ffunction-sections", "b.c"],
                 ["-fPIC", "-shared", "-nostdlib", "-fuse-ld=lld", "-o", "libx.so", "x.c"]):
        subprocess.run([*cc, *args], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run([ld, "--emit-stub-syms", "-T", "far.lds", "-o", "out", "a.o", "b.o",
                    "libx.so"], cwd=tmp_path, check=True, capture_output=True)
    nm = subprocess.run(["nm", str(tmp_path / "out")], capture_output=True, text=True,
                        check=True).stdout
    stubs = {ln.split()[-1] for ln in nm.splitlines() if ".plt_" in ln or ".long_" in ln}
    assert {s.split(".", 2)[1] for s in stubs} == {"plt_branch", "plt_call"}, nm
    patterns = {f.pattern for f in patterns_in("elf64-ppc.c",
                                               (bfd / "elf64-ppc.c").read_text())}
    assert all(any(p.covers(s) for p in patterns) for s in stubs), (stubs, patterns)
