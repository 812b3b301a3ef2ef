#!/usr/bin/env python3
"""Benchmark `check` on a real-size two-stage build against the kernel's own pipeline.

The build: Debian's 6.1 cloud-amd64 vmlinux (debug info stripped) as pass 1 and as the
link's input (vmlinux.o), and a copy with 40 lld thunk symbols added as pass 2, in a
6.1-layout build directory whose `source` is Debian's 6.1 tree. Baseline, same run:
what link-vmlinux.sh does with the same two files: scripts/mksysmap on each (real nm,
the tree's grep) and cmp.

usage: python3 benchmarks/bench_check.py [--runs N]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from bench_symbols import distro_vmlinux, median_time

from lldbisect.analysis.check import check_build
from lldbisect.elf.reader import read_symbols
from lldbisect.kernel import sources


def make_build(root: Path) -> Path:
    tree = sources.kernel_source("linux-source-6.1")
    build = root / "build"
    build.mkdir()
    (build / "source").symlink_to(tree)
    pass1 = build / ".tmp_vmlinux.kallsyms1"
    subprocess.run(["objcopy", "--strip-debug", str(distro_vmlinux()), str(pass1)],
                   check=True)
    # The link's input: every symbol of pass 1 (vmlinux.o holds them all in a real build).
    (build / "vmlinux.o").symlink_to(pass1)
    table = read_symbols(pass1)
    targets = [(n, table.addresses[i]) for i, n in enumerate(table.names)
               if table.letters[i] in "tT" and n.isidentifier()][:40]
    thunks = [f"--add-symbol=__ARMv4PILongBXThunk_{n}=.text:{a - 0xffffffff81000000:#x},"
              "local,function" for n, a in targets]
    subprocess.run(["objcopy", *thunks, str(pass1), str(build / ".tmp_vmlinux.kallsyms2")],
                   check=True)
    return build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build = make_build(Path(tmp))
        mksysmap = build / "source" / "scripts" / "mksysmap"
        a, b = build / ".tmp_vmlinux.kallsyms1", build / ".tmp_vmlinux.kallsyms2"

        def pipeline() -> None:
            for image in (a, b):
                subprocess.run(["sh", str(mksysmap), str(image), f"{image}.map"],
                               env={"NM": "nm", "PATH": "/usr/bin:/bin"}, check=True)
            subprocess.run(["cmp", "-s", f"{a}.map", f"{b}.map"], check=False)

        base = median_time(pipeline, args.runs)
        ours = median_time(lambda: check_build(build, run_scripts=False), args.runs)
        # By default check also runs the tree's own scripts on every stage, to check itself.
        checked = median_time(lambda: check_build(build), args.runs)
        cli = median_time(lambda: subprocess.run(["lldbisect", "check", str(build)],
                                             stdout=subprocess.DEVNULL), args.runs)
        # What any check must do before comparing: read the tables of both stages and
        # of the link's input, with their names.
        inputs = [build / "vmlinux.o", a, b]
        floor = median_time(lambda: [read_symbols(p).names for p in inputs], args.runs)
        result = check_build(build)
        print(f"two-stage build: {len(read_symbols(a))} symbols per image;"
              f" {args.runs} runs, medians")
        print(f"  kernel pipeline (mksysmap x2 + cmp)  {base:6.3f} s  (baseline)")
        print(f"  check_build, in-process              {ours:6.3f} s  ratio {ours / base:4.2f}x"
              "  (target 1.0x)")
        print(f"  check_build + cross-check (default)  {checked:6.3f} s  ratio"
              f" {checked / base:4.2f}x  (the model checked against the real scripts)")
        print(f"  lldbisect check (CLI, default)       {cli:6.3f} s  ratio {cli / base:4.2f}x")
        print(f"  of which reading 3 tables + names    {floor:6.3f} s  ratio"
              f" {floor / base:4.2f}x  (the part no comparison can skip)")
        print(f"  verdict {result.comparison.verdict.value}, culprits"
              f" {len(result.comparison.culprits)}")


if __name__ == "__main__":
    main()
