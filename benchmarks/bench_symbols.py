#!/usr/bin/env python3
"""Benchmark `lldbisect symbols` against the baseline `nm -n` (GNU binutils), same run.

Files: (a) Debian's 6.1 cloud-amd64 vmlinux (downloaded once into the cache, only the
vmlinux is extracted) and (b) an ELF with 200k+ symbols made here with clang and lld.
For each: wall time of the whole command (median of N runs, output to /dev/null),
the library alone in-process (read + listing), and peak Python memory of the library
(tracemalloc) against the size of the file's .symtab + .strtab.

usage: python3 benchmarks/bench_symbols.py [--runs N] [--skip-vmlinux]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from lldbisect.cache import cache_dir
from lldbisect.elf.reader import read_symbols
from lldbisect.kernel import sources


class _Null(io.RawIOBase):
    def write(self, b: bytes) -> int:  # type: ignore[override]
        return len(b)


def distro_vmlinux() -> Path:
    """Debian's current amd64 cloud kernel, from its -dbg package (cached)."""
    return sources.distro_vmlinux("amd64")


def generated_elf(count: int = 210_000) -> Path:
    """An executable with ``count`` function symbols, half local, some sharing tails."""
    out = cache_dir() / "bench" / f"many-{count}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    asm = out.with_suffix(".S")
    with open(asm, "w") as f:
        f.write("\t.text\n\t.globl _start\n_start:\n\tret\n")
        for i in range(count):
            name = f"fn_{i:06d}_{'x' * (i % 23)}" if i % 7 else f"__pfx_fn_{i + 1:06d}"
            if i % 2:
                f.write(f"\t.globl {name}\n")
            f.write(f"\t.type {name}, @function\n{name}:\n\tnop\n")
    obj = out.with_suffix(".o")
    subprocess.run(["clang", "--target=x86_64-linux-gnu", "-c", str(asm), "-o", str(obj)],
                   check=True)
    lld = sorted(Path("/usr/lib").glob("llvm-*/bin/ld.lld"))[-1]
    subprocess.run([str(lld), "-e", "_start", str(obj), "-o", str(out)], check=True)
    return out


def median_time(fn: Callable[[], object], runs: int) -> float:
    """The median wall time of ``runs`` calls of ``fn``."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def wall(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def in_process(path: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        read_symbols(path).write_nm_listing(_Null())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_memory(path: Path) -> tuple[float, float]:
    """(peak MB while reading and listing, MB of .symtab + .strtab)."""
    tracemalloc.start()
    read_symbols(path).write_nm_listing(_Null())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    tables = 0
    for line in out.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 6 and fields[1] in (".symtab", ".strtab"):
            tables += int(fields[5], 16)
    return peak / 1e6, tables / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--skip-vmlinux", action="store_true")
    args = ap.parse_args()
    lldbisect = shutil.which("lldbisect") or sys.exit("lldbisect is not installed")
    files = [] if args.skip_vmlinux else [("distro vmlinux 6.1 cloud-amd64", distro_vmlinux())]
    files.append(("generated 210k-symbol ELF", generated_elf()))
    nm_version = subprocess.run(["nm", "--version"], capture_output=True, text=True,
                                check=True).stdout.splitlines()[0]
    print(f"baseline: nm -n ({nm_version})")
    print(f"runs: {args.runs} each, medians; output to /dev/null\n")
    for label, path in files:
        n = len(read_symbols(path))
        nm_t = wall(["nm", "-n", str(path)], args.runs)
        cli_t = wall([lldbisect, "symbols", str(path)], args.runs)
        lib_t = in_process(path, args.runs)
        peak, tables = peak_memory(path)
        start = wall([sys.executable, "-c", "import lldbisect.cli, lldbisect.elf.reader"],
                     args.runs)
        print(f"{label}: {path} ({n} symbols)")
        print(f"  nm -n                     {nm_t:7.3f} s   (baseline)")
        print(f"  lldbisect symbols (CLI)   {cli_t:7.3f} s   ratio {cli_t / nm_t:4.2f}x"
              "  (target 1.5x)")
        print(f"  read_symbols + listing    {lib_t:7.3f} s   ratio {lib_t / nm_t:4.2f}x"
              "  (in-process)")
        print(f"  Python start + imports    {start:7.3f} s   ratio {start / nm_t:4.2f}x"
              "  (before the command reads a byte)")
        print(f"  peak memory               {peak:7.1f} MB  = {peak / tables:4.2f}x the"
              f" {tables:.1f} MB of .symtab+.strtab (target 3x)\n")


if __name__ == "__main__":
    main()
