"""Link each far-call case with one linker and name the families of what it made.

Objects are assembled once (cached by content under the cache directory), so probing
a linker is a handful of links run side by side. A linker that cannot do a case (an
option it does not know, a relocation it does not support, another target) gives an
"unsupported" result for that case, never an error; a linker that crashes on it (a
signal, its crash handler) gives "crashed", which validation counts as a failure; a
linker that does not run at all is a ToolError.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lldbisect.analysis.convergence import linker_made
from lldbisect.analysis.families import Family, infer_families, normalised
from lldbisect.elf.reader import read_symbols
from lldbisect.elf.table import SymbolTable, first_indices
from lldbisect.errors import ElfError, ToolError
from lldbisect.kernel.model import RuleKind
from lldbisect.kernel.rules import RuleSet
from lldbisect.linkers.cases import Case, Source, linker_script
from lldbisect.linkers.crash import crashed
from lldbisect.linkers.identity import version_line

__all__ = ["Assembler", "CaseResult", "CaseStatus", "ProbeFamily", "probe"]


class CaseStatus(StrEnum):
    OK = "ok"
    UNSUPPORTED = "unsupported"  # the linker refused the case
    CRASHED = "crashed"  # killed by a signal, or its crash handler spoke: its failure


@dataclass(frozen=True)
class ProbeFamily:
    family: Family
    key: str  # the same family under any linker: kind and pattern, digits normalised
    hidden_by: tuple[tuple[str, str | None], ...]  # per kernel label: the hiding rule

    def visible_to(self) -> list[str]:
        return [label for label, rule in self.hidden_by if rule is None]


@dataclass(frozen=True)
class CaseResult:
    case: Case
    status: CaseStatus
    message: str  # the linker's complaint when unsupported
    families: tuple[ProbeFamily, ...]
    seconds: float


def probe(ld: str, cases: Sequence[Case], kernels: Sequence[tuple[str, RuleSet]], *,
          cache: Path, jobs: int | None = None,
          progress: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    """Link every case with ``ld``; results in the cases' order.

    Raises ToolError when clang is missing or fails on our own corpus."""
    gnu = "GNU ld" in version_line(ld)
    objects = Assembler(cache)
    with tempfile.TemporaryDirectory(prefix="lldbisect-probe-") as tmp:
        def one(case: Case) -> CaseResult:
            result = _probe_case(ld, gnu, case, objects, Path(tmp), kernels)
            if progress:
                progress(result)
            return result

        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
            return list(pool.map(one, cases))


def link_case(ld: str, gnu: bool, case: Case, objects: Assembler, work: Path
              ) -> tuple[subprocess.CompletedProcess[str], Path, list[Path]]:
    """Link ``case`` with ``ld`` in ``work``: the linker's run, the output's path (which
    a failed link may not leave) and the input objects."""
    inputs = [objects.get(s) for s in case.sources]
    work.mkdir(parents=True, exist_ok=True)
    script = work / "far.lds"
    script.write_text(linker_script(case))
    out = work / "out"
    argv = [ld, *case.flags, "-e", case.entry, "-T", str(script), *map(str, inputs),
            "-o", str(out)]
    if gnu and case.gnu_emulation:
        argv[1:1] = ["-m", case.gnu_emulation]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=120)
    except OSError as e:
        raise ToolError(f"{ld}: cannot run: {e.strerror or e}") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{ld}: no answer in 120 s linking case {case.name}") from None
    return done, out, inputs


def _probe_case(ld: str, gnu: bool, case: Case, objects: Assembler, tmp: Path,
                kernels: Sequence[tuple[str, RuleSet]]) -> CaseResult:
    start = time.monotonic()
    done, out, inputs = link_case(ld, gnu, case, objects, tmp / case.name)
    crash = crashed(done.returncode, done.stderr)
    if crash is not None:
        return CaseResult(case, CaseStatus.CRASHED, crash, (), time.monotonic() - start)
    if done.returncode or not out.exists():
        return CaseResult(case, CaseStatus.UNSUPPORTED, _complaint(done.stderr),
                          (), time.monotonic() - start)
    try:
        table = read_symbols(out)
        known = {n for o in inputs for n in read_symbols(o).names}
    except ElfError as e:  # the linker wrote something we cannot read: its failure
        return CaseResult(case, CaseStatus.UNSUPPORTED, e.message, (),
                          time.monotonic() - start)
    return CaseResult(case, CaseStatus.OK, "", _families(table, known, kernels),
                      time.monotonic() - start)


def _families(table: SymbolTable, known: set[str],
              kernels: Sequence[tuple[str, RuleSet]]) -> tuple[ProbeFamily, ...]:
    """The families of what the linker made, each with the rule of each kernel that
    hides all its members (None: kallsyms sees at least one)."""
    made = linker_made(table, known)
    names = table.names
    first = first_indices(names, made)
    seen = [(label, rules.apply(table)) for label, rules in kernels]
    found = []
    for f in infer_families([n for n in names if n in made], names):
        hidden = []
        for label, vis in seen:
            rule = vis.family_hider(first[m] for m in f.members)
            hidden.append((label, None if rule is None else rule.describe()))
        found.append(ProbeFamily(f, family_key(f), tuple(hidden)))
    return tuple(found)


def family_key(f: Family) -> str:
    """A family's identity across linkers: its rule kind and pattern, which leaves out
    what varies (``__CortexA53843419_<hex>`` is ``prefix __CortexA53843419_``); for a
    lone exact name, its shape with digits normalised."""
    if f.kind is not RuleKind.EXACT:
        return f"{f.kind.value} {f.pattern}"
    return f"shape {normalised(f.pattern)}"


def _complaint(stderr: str) -> str:
    """The linker's first error line, without its program-name prefix."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    pick = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else
                "exited without a message")
    return pick[:300]


class Assembler:
    """Assembles corpus sources with clang, caching objects by content."""

    def __init__(self, cache: Path) -> None:
        self.dir = cache / "probe-objects"
        clang = _which("clang")
        st = os.stat(clang)
        self.clang = clang
        self.identity = f"{os.path.realpath(clang)}:{st.st_size}:{st.st_mtime_ns}"

    def get(self, src: Source) -> Path:
        key = hashlib.sha256("\0".join(
            (self.identity, src.triple, *src.cflags, src.text)).encode()).hexdigest()[:20]
        obj = self.dir / f"{src.stem}-{key}.o"
        if obj.exists():
            return obj
        self.dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
            asm, tmp_obj = Path(tmp) / f"{src.stem}.S", Path(tmp) / f"{src.stem}.o"
            asm.write_text(src.text)
            done = subprocess.run([self.clang, f"--target={src.triple}", *src.cflags, "-c",
                                   str(asm), "-o", str(tmp_obj)],
                                  capture_output=True, text=True, errors="replace")
            if done.returncode:
                raise ToolError(f"clang could not assemble the {src.stem} case for"
                                f" {src.triple}: {_complaint(done.stderr)}")
            os.replace(tmp_obj, obj)  # atomic: a parallel probe sees all or nothing
        return obj


def _which(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise ToolError(f"{program} not found: the probe assembles its corpus with it")
    return found
