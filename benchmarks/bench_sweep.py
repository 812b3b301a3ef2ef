#!/usr/bin/env python3
"""Benchmark the predicted layout sweep: relinks until a failing layout, against a
uniform sweep of the same range (the baseline, measured in the same run).

On the real tiny ARMv5 6.1 build (the README's `lldbisect repro`), linked by lld 16 at
a padding where it converges in three passes. Each range start is another starting
layout; both sweeps relink for real and stop at the first layout that fails.

Target: the predicted sweep needs fewer relinks than the uniform one at every start
(one, when the model's first guess holds).

usage: python3 benchmarks/bench_sweep.py [--starts N] [--span BYTES] [--step BYTES]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from lldbisect.kernel.repro import TinyArmBuild

LLD16 = "/usr/lib/llvm-16/bin/ld.lld"


def sweep(build: str, lo: int, hi: int, step: int, predict: bool) -> tuple[int, float, int]:
    """Relinks, seconds, and the failing padding (-1: none) of one sweep."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "lldbisect", "sweep", build, "--ld", LLD16,
                           "--range", f"{lo}:{hi}", "--step", str(step), "--max-relinks",
                           "64", "--json", *([] if predict else ["--no-predict"])],
                          capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"sweep failed ({done.returncode}): {done.stderr[-800:]}")
    doc = json.loads(done.stdout)
    failing = doc["failing"]["padding"] if doc["failing"] else -1
    return doc["relinks"], time.monotonic() - start, failing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=4)
    parser.add_argument("--span", type=int, default=32768)
    parser.add_argument("--step", type=int, default=1024)
    args = parser.parse_args()
    tiny = TinyArmBuild()
    if tiny.at_risk_pad(LLD16) is None:
        raise SystemExit("no at-risk layout found for lld 16 near the recipe's padding")
    build = str(tiny.build_dir)
    print(f"build: {build} (lld 16, converging in 3 passes)")
    print(f"{'start':>7} {'predicted':>18} {'uniform (baseline)':>22}  failing padding")
    total = [0, 0]
    for k in range(args.starts):
        lo = k * 4096 + 512 * k  # a new page, and a new place in it
        p = sweep(build, lo, lo + args.span, args.step, True)
        u = sweep(build, lo, lo + args.span, args.step, False)
        total[0] += p[0]
        total[1] += u[0]
        print(f"{lo:>7} {p[0]:>4} relinks {p[1]:>6.1f} s {u[0]:>8} relinks {u[1]:>6.1f} s"
              f"  {p[2]} / {u[2]}")
    print(f"total: predicted {total[0]} relinks, uniform {total[1]}"
          f" ({total[1] / max(total[0], 1):.1f}x)")


if __name__ == "__main__":
    main()
