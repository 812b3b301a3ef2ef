#!/usr/bin/env python3
"""Benchmark applying a kernel tree's rules to a distro vmlinux's ~120k symbols.

Baseline, same run: the tree's own scripts/mksysmap on the same `nm -n` listing (6.1:
the shell and grep; 6.12: sed -f), which is only half of what lldbisect decides (it also
applies kallsyms.c's checks and names the rule that hid each symbol).

usage: python3 benchmarks/bench_rules.py [--runs N]
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import tempfile
from pathlib import Path

from bench_symbols import distro_vmlinux, median_time

from lldbisect.elf.reader import read_symbols
from lldbisect.kernel import sources
from lldbisect.kernel.rules import load_rules

TREES = (("linux-source-6.1", None), ("linux-source-6.12", "trixie"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    vmlinux = distro_vmlinux()
    table = read_symbols(vmlinux)
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "nm.txt"
        listing.write_bytes(table.nm_listing())
        nm = Path(tmp) / "nm"
        nm.write_text(f'#!/bin/sh\ncat "{listing}"\n')
        nm.chmod(0o755)
        print(f"{vmlinux.name}: {len(table)} symbols; {args.runs} runs, medians\n")
        for package, suite in TREES:
            tree = sources.kernel_source(package, suite)
            rules = load_rules(tree)
            script = tree / "scripts" / "mksysmap"
            if script.read_text().startswith("#!/bin/sed"):
                argv = ["sed", "-f", str(script), str(listing)]
            else:
                argv = ["sh", str(script), str(vmlinux), str(Path(tmp) / "map")]

            def real(argv: list[str] = argv) -> None:
                subprocess.run(argv, env={"NM": str(nm), "PATH": "/usr/bin:/bin"},
                               stdout=subprocess.DEVNULL, check=True)

            base = median_time(real, args.runs)
            ours = median_time(functools.partial(rules.apply, table), args.runs)
            load = median_time(functools.partial(load_rules, tree), args.runs)
            print(f"{package} ({rules.era})")
            print(f"  real scripts/mksysmap          {base:6.3f} s  (baseline)")
            print(f"  RuleSet.apply, both stages     {ours:6.3f} s  ratio {ours / base:4.2f}x"
                  "  (target: well under 1 s)")
            print(f"  load_rules (parse the tree)    {load:6.3f} s\n")


if __name__ == "__main__":
    main()
