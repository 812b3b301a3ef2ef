#!/usr/bin/env python3
"""Benchmark `lldbisect probe` of one linker over the whole far-call corpus.

Target: the whole probe of one linker within 3 s on this machine (2 cores).
Baseline, same run: the corpus's links alone, run one after another by a plain loop
(what a shell script linking the same cases would cost, with no analysis at all).
Figures: the CLI end to end (Python start included) with the objects cached, the CLI
with an empty object cache (clang assembles everything), and both kernels' rules.

usage: python3 benchmarks/bench_probe.py [--runs N] [--ld PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_symbols import median_time

from lldbisect.kernel import sources
from lldbisect.linkers.cases import CASES, linker_script
from lldbisect.linkers.probe import Assembler

TREES = (("linux-source-6.1", None), ("linux-source-6.12", "trixie"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ld", default="/usr/lib/llvm-16/bin/ld.lld")
    args = ap.parse_args()
    kernels = [a for p, s in TREES for a in ("--kernel", str(sources.kernel_source(p, s)))]
    cli = [sys.executable, "-m", "lldbisect", "probe", "--ld", args.ld]

    with tempfile.TemporaryDirectory() as tmp:
        objects = Assembler(Path(tmp))
        links = []
        for case in CASES:
            script = Path(tmp) / f"{case.name}.lds"
            script.write_text(linker_script(case))
            links.append([args.ld, *case.flags, "-e", case.entry, "-T", str(script),
                          *(str(objects.get(s)) for s in case.sources),
                          "-o", str(Path(tmp) / case.name)])

        def link_all() -> None:
            # Whatever each link's outcome: some cases are refused or crash the linker
            # (lld <= 16 on s390x), as they do under the probe.
            for argv in links:
                subprocess.run(argv, capture_output=True, check=False)

        def probe(extra: list[str], env: dict[str, str] | None = None) -> None:
            subprocess.run([*cli, *extra], stdout=subprocess.DEVNULL, check=True,
                           env=env)

        def cold() -> None:
            with tempfile.TemporaryDirectory() as empty:
                probe(kernels, {**os.environ, "LLDBISECT_CACHE": empty})

        probe(kernels)  # fill the object cache
        base = median_time(link_all, args.runs)
        warm = median_time(lambda: probe([]), args.runs)
        warm_k = median_time(lambda: probe(kernels), args.runs)
        cold_k = median_time(cold, args.runs)
    print(f"{args.ld}: {len(CASES)} cases, {os.cpu_count()} CPUs; {args.runs} runs, medians\n")
    print(f"  the links alone, serial loop        {base:6.3f} s  (baseline)")
    for label, t in (("probe, objects cached", warm),
                     ("probe + 6.1 and 6.12 rules", warm_k),
                     ("probe + rules, empty cache", cold_k)):
        print(f"  {label:<35} {t:6.3f} s  ratio {t / base:4.2f}x  (target: 3 s)")


if __name__ == "__main__":
    main()
