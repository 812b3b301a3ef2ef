#!/usr/bin/env python3
"""Benchmark `lldbisect scan-commit` over a whole release range of lld/ELF.

Target: a range of 1,000 commits touching lld/ELF within 2 s on this machine.
Baseline, same run: `git log -p` of the same range and paths (reading every diff, with
no analysis at all). The history is our own: an lld-style Thunks.cpp of real size
(~30-40 KB) changed in most commits, a thunk renamed now and then, plus commits
elsewhere in the tree.

usage: python3 benchmarks/bench_scan.py [--runs N] [--commits N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_symbols import median_time

# Our own lld-style source: thunk classes naming their symbols, and where each is made.
THUNK = """\
void {cls}::addSymbols(ThunkSection &isec) {{
  addSymbol(ctx.saver.save("__{name}_" + destination.getName()), STT_FUNC, 0, isec);
  addSymbol("$a", STT_NOTYPE, 0, isec);
}}
"""
MAKE = """\
static std::unique_ptr<Thunk> addThunkArm(Ctx &ctx, RelType reloc, Symbol &s, int64_t a) {{
  switch (reloc) {{
{cases}  }}
}}
"""


def thunks(names: list[str], filler: int) -> str:
    body = "".join(THUNK.format(cls=n, name=n) for n in names)
    cases = "".join(f"  case R_ARM_{k}:\n    return std::make_unique<{n}>(ctx, s, a);\n"
                    for k, n in enumerate(names))
    # A file of real size: Thunks.cpp is ~60 KB, mostly code that names nothing.
    filler_text = "".join(f"// note {j}\nstatic int f{j}(int x) {{ return x + {j}; }}\n"
                          for j in range(filler))
    return body + MAKE.format(cases=cases) + filler_text


def history(n: int) -> list[tuple[str, dict[str, str]]]:
    names = [f"ARMV{k}LongThunk" for k in range(20)]
    out: list[tuple[str, dict[str, str]]] = [
        ("Initial", {"lld/ELF/Thunks.cpp": thunks(names, 300), "llvm/README": "x\n"})]
    for k in range(1, n):
        if k % 250 == 0:  # now and then a name changes
            names[k % 20] = f"ARMv{k}RenamedThunk"
            out.append((f"[lld] rename {k}", {"lld/ELF/Thunks.cpp": thunks(names, 300)}))
        elif k % 3:
            out.append((f"[lld] change {k}",
                        {"lld/ELF/Thunks.cpp": thunks(names, 300 + k % 200)}))
        else:
            out.append((f"[llvm] change {k}", {f"llvm/lib/F{k % 50}.cpp": f"int x = {k};\n"}))
    return out


def commit_history(repo: Path, history: list[tuple[str, dict[str, str]]]) -> list[str]:
    """A repository with one commit per entry, written by git fast-import (fast)."""
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    stream = []
    for k, (subject, files) in enumerate(history, 1):
        stream.append(f"commit refs/heads/main\nmark :{k}\n"
                      f"committer Bench <bench@example.org> {1700000000 + k} +0000\n"
                      f"data {len(subject.encode())}\n{subject}\n")
        if k > 1:
            stream.append(f"from :{k - 1}\n")
        for path, text in files.items():
            data = text.encode()
            stream.append(f"M 100644 inline {path}\ndata {len(data)}\n{text}\n")
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"],
                   input="".join(stream).encode(), check=True)
    out = subprocess.run(["git", "-C", str(repo), "rev-list", "--reverse", "main"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--commits", type=int, default=1500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "llvm"
        revs = commit_history(repo, history(args.commits))
        span = f"{revs[0]}..{revs[-1]}"
        touching = subprocess.run(["git", "-C", str(repo), "rev-list", "--count", span,
                                   "--", "lld/ELF"], capture_output=True, text=True,
                                  check=True).stdout.strip()

        def baseline() -> None:
            subprocess.run(["git", "-C", str(repo), "log", "-p", span, "--", "lld/ELF"],
                           stdout=subprocess.DEVNULL, check=True)

        def scan() -> None:
            subprocess.run([sys.executable, "-m", "lldbisect", "scan-commit", str(repo), span],
                           stdout=subprocess.DEVNULL, check=True)

        base = median_time(baseline, args.runs)
        t = median_time(scan, args.runs)
    print(f"{len(revs) - 1} commits, {touching} touching lld/ELF; {args.runs} runs, medians\n")
    print(f"  git log -p of the range              {base:6.3f} s  (baseline)")
    print(f"  scan-commit of the range             {t:6.3f} s  ratio {t / base:4.2f}x"
          "  (target: 2 s)")


if __name__ == "__main__":
    main()
