"""How much of what a linker can make the probe's corpus made: the name families read
from the linker's own source (lld/ELF of Debian's llvm-toolchain-N, bfd of binutils)
against the names the probe's links really got.

Each source family is given the architecture it belongs to (the class or file it is
made in, or its own name), and whether the kernel links that architecture with LLVM=1;
the coverage is over those the kernel can meet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lldbisect.analysis.commitscan import Found, NamePattern, patterns_in
from lldbisect.kernel.model import RuleKind
from lldbisect.linkers.probe import CaseResult, CaseStatus

__all__ = ["KERNEL_ARCHES", "Coverage", "SourceFamily", "coverage", "source_families"]

# The architectures the kernel builds with LLVM=1 (Documentation/kbuild/llvm.rst).
KERNEL_ARCHES = ("arm", "arm64", "hexagon", "loongarch", "mips", "powerpc", "riscv", "s390",
                 "x86", "um")

# Where (class, file or the name itself) says which architecture a family is made for;
# the first that matches. AArch64 before ARM: "ARM" is in both.
_ARCH = [(re.compile(p), a) for p, a in (
    (r"AArch64|aarch64|CortexA53", "arm64"),
    (r"ARM|Thumb|CortexA8|elf32-arm|_from_arm|_from_thumb|__vfp11|__stm32l4xx|__bx_r",
     "arm"),
    (r"Mips|MIPS|MicroMips|LA25|mips", "mips"),
    (r"PPC|ppc|\.plt_call32\.|plt_pic32|__toc_save_|__gep_setup_|__plt_|__long_branch_|"
     r"long_branch|plt_branch|plt_call|\.global_entry\.", "powerpc"),
    (r"Hexagon|hexagon", "hexagon"),
    (r"LoongArch|loongarch", "loongarch"),
    (r"RISCV|riscv", "riscv"),
    (r"SystemZ|s390", "s390"),
    (r"X86|x86|i386", "x86"),
    (r"AVR|avr", "avr"),
    (r"csky|spu|m68hc1x|rx|xcoff|ia64|mmo|coff-", "other"),
)]


@dataclass(frozen=True)
class SourceFamily:
    pattern: NamePattern
    arch: str  # "" when nothing says
    where: str  # file:line in the source, and the function or class

    @property
    def kernel(self) -> bool:
        """Whether the kernel links this architecture with LLVM=1."""
        return self.arch in KERNEL_ARCHES


@dataclass(frozen=True)
class Coverage:
    source: str  # what was read (the source package and version)
    families: list[tuple[SourceFamily, list[str]]]  # each with the cases that made it
    unlinked: tuple[str, ...] = ()  # architectures with families no case linked: why

    def kernel_families(self) -> list[tuple[SourceFamily, list[str]]]:
        return [(f, c) for f, c in self.families if f.kernel]

    def produced(self) -> int:
        return sum(1 for _f, cases in self.kernel_families() if cases)

    def percent(self) -> float | None:
        """None: nothing was measured (no family of an architecture the linker linked)."""
        total = len(self.kernel_families())
        return 100.0 * self.produced() / total if total else None


def _arch(*hints: str) -> str:
    for hint in hints:
        for pattern, arch in _ARCH:
            if pattern.search(hint):
                return arch
    return ""


def source_families(root: Path, glob: str) -> list[SourceFamily]:
    """The name patterns the sources under ``root`` matching ``glob`` build, once each
    (the first place)."""
    seen: dict[tuple[NamePattern, str], SourceFamily] = {}
    for path in sorted(p for p in root.rglob(glob) if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        found = patterns_in(path.name, text)
        # One name built of several literals ("__hexagon_thunk_" + t + "_from_" + s) is
        # one family: on one line, its start stands for it.
        first: dict[tuple[int, str], Found] = {}
        for f in sorted(found, key=lambda f: _RANK[f.pattern.kind]):
            first.setdefault((f.line, f.scope), f)
        for f in found:
            if first[(f.line, f.scope)] is not f:
                continue
            rel = path.relative_to(root)
            arch = _arch(f.scope, f.pattern.text, str(rel))
            # The same spelling in two backends (bfd's "__%s_veneer" for arm and
            # aarch64) is a family of each.
            seen.setdefault((f.pattern, arch), SourceFamily(
                f.pattern, arch, f"{rel}:{f.line} {f.scope}".strip()))
    return list(seen.values())


_RANK = {RuleKind.PREFIX: 0, RuleKind.EXACT: 1, RuleKind.SUFFIX: 2, RuleKind.SUBSTRING: 3,
         RuleKind.REGEX: 4}


def coverage(source: str, families: Iterable[SourceFamily], results: Sequence[CaseResult]
             ) -> Coverage:
    """Which cases made a name of each source family, for the architectures the linker
    links at all (a GNU ld is built for one: the source's other backends are not its)."""
    made = [(r.case.name, m) for r in results for f in r.families for m in f.family.members]
    linked = {r.case.arch for r in results if r.status is CaseStatus.OK}
    failed: dict[str, set[str]] = {}
    for r in results:
        if r.status is not CaseStatus.OK and r.case.arch not in linked:
            failed.setdefault(r.case.arch, set()).add(r.status.value)
    out = []
    unlinked = set()
    for fam in families:
        if fam.kernel and fam.arch not in linked:
            if fam.arch in failed:
                unlinked.add(f"{fam.arch} ({'/'.join(sorted(failed[fam.arch]))})")
            continue
        cases = sorted({case for case, name in made if fam.pattern.covers(name)})
        out.append((fam, cases))
    out.sort(key=lambda fc: (not fc[0].kernel, fc[0].arch, fc[0].pattern.text))
    return Coverage(source, out, tuple(sorted(unlinked)))
