"""The far-call corpus: one case per architecture and code model, as data.

Each case is our own assembly, a linker script that puts the callees out of branch
range, and the flags the architecture's kernel passes to its vmlinux link
(``LDFLAGS_vmlinux`` in ``arch/*/Makefile``, Linux 6.1): a linker meets here what it
meets in a kernel link, in a few kilobytes. What each case makes a linker emit is never
listed here: the probe finds it by comparing the output with the inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lldbisect.arch import by_machine

__all__ = ["ARCHES", "CASES", "Case", "Source", "cases_for_config", "select"]


@dataclass(frozen=True)
class Source:
    """One object of a case: assembled by clang's integrated assembler for ``triple``."""

    stem: str
    triple: str
    text: str
    cflags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    arch: str  # the kernel's ARCH
    what: str  # what the case exercises, for the report
    sources: tuple[Source, ...]
    flags: tuple[str, ...]  # the kernel's vmlinux link flags for this configuration
    far: int  # where the out-of-range callees go
    entry: str = "caller"
    gnu_emulation: str | None = None  # -m for a GNU ld that defaults to another target


# ARM state and Thumb callers, each calling an ARM and a Thumb function out of range and
# one in range in the other state (interworking without distance).
_ARM_INTERWORK = """\
	.syntax unified
	.section .text,"ax",%progbits
	.arm
	.globl caller
	.type caller,%function
caller:
	bl far_arm
	bl far_thumb
	bl near_thumb
	bx lr
	.thumb
	.thumb_func
	.globl thumb_caller
	.type thumb_caller,%function
thumb_caller:
	bl far_arm
	bl far_thumb
	bl near_arm
	bx lr
	.thumb_func
	.type near_thumb,%function
near_thumb:
	bx lr
	.arm
	.type near_arm,%function
near_arm:
	bx lr
	.section .text.far,"ax",%progbits
	.arm
	.globl far_arm
	.type far_arm,%function
far_arm:
	bx lr
	.thumb
	.thumb_func
	.globl far_thumb
	.type far_thumb,%function
far_thumb:
	bx lr
"""

_THUMB_ONLY = """\
	.syntax unified
	.section .text,"ax",%progbits
	.thumb
	.thumb_func
	.globl caller
	.type caller,%function
caller:
	bl far_thumb
	bx lr
	.section .text.far,"ax",%progbits
	.thumb_func
	.globl far_thumb
	.type far_thumb,%function
far_thumb:
	bx lr
"""

# A far call, and an ADRP at a page's last-but-one word followed by the load/store pair
# that Cortex-A53 erratum 843419 needs (what --fix-cortex-a53-843419 acts on).
_ARM64 = """\
	.section .text,"ax",%progbits
	.globl caller
	.type caller,%function
caller:
	bl far_func
	ret
	.section .text.erratum,"ax",%progbits
	.balign 4096
	.globl erratum_843419
	.type erratum_843419,%function
erratum_843419:
	.space 4096 - 8
	adrp x0, table
	ldr x1, [x1, #0]
	ldr x2, [x0, :lo12:table]
	ret
	.section .data,"aw",%progbits
	.globl table
table:
	.quad 0
	.section .text.far,"ax",%progbits
	.globl far_func
	.type far_func,%function
far_func:
	ret
"""

# Non-PIC code calling a PIC (abicalls) function: the linker must set up $t9 for it.
_MIPS_CALLER = """\
	.section .text,"ax",@progbits
	.set noreorder
{mode}	.globl caller
	.type caller,@function
caller:
	jal pic_func
	nop
	jr $ra
	nop
"""
_MIPS_PIC = """\
	.abicalls
	.option pic2
	.section .text.far,"ax",@progbits
	.set noreorder
{mode}	.globl pic_func
	.type pic_func,@function
	.ent pic_func
pic_func:
	.cpload $25
	jr $ra
	nop
	.end pic_func
"""

# ELFv2: a far call and a call to an ifunc, which goes through the PLT.
_PPC64 = """\
	.abiversion 2
	.section .text,"ax",@progbits
	.globl caller
	.type caller,@function
caller:
0:	addis 2, 12, .TOC.-0b@ha
	addi 2, 2, .TOC.-0b@l
	.localentry caller, .-caller
	mflr 0
	bl far_func
	nop
	bl ifunc_func
	nop
	mtlr 0
	blr
	.globl ifunc_impl
	.type ifunc_impl,@function
ifunc_impl:
	blr
	.globl ifunc_resolver
	.type ifunc_resolver,@function
ifunc_resolver:
	blr
	.globl ifunc_func
	.type ifunc_func,@gnu_indirect_function
	.set ifunc_func, ifunc_resolver
	.section .text.far,"ax",@progbits
	.globl far_func
	.type far_func,@function
far_func:
0:	addis 2, 12, .TOC.-0b@ha
	addi 2, 2, .TOC.-0b@l
	.localentry far_func, .-far_func
	blr
"""

# A far call and a call to an undefined weak function (through the PLT when PIC).
_PPC32 = """\
	.section .text,"ax",@progbits
	.globl caller
	.type caller,@function
caller:
	bl far_func
	bl weak_func
	blr
	.weak weak_func
	.section .text.far,"ax",@progbits
	.globl far_func
	.type far_func,@function
far_func:
	blr
"""

# Calls far away on the architectures where the kernel links with LLVM=1 but no linker
# had thunks when these were written: each proves what a linker makes there (nothing,
# an out-of-range error, a crash, or a new thunk family).
def _call_and_jump(call: str, jump: str, ret: str) -> str:
    """A call and a tail jump to a function in .text.far (``{t}``: its name)."""
    return f"""\
	.section .text,"ax",@progbits
	.globl caller
	.type caller,@function
caller:
	{call.format(t="far_func")}
	{jump.format(t="far_func")}
	.section .text.far,"ax",@progbits
	.globl far_func
	.type far_func,@function
far_func:
	{ret}
"""


_RISCV = _call_and_jump("call {t}", "tail {t}", "ret")
_X86 = _call_and_jump("call {t}", "jmp {t}", "ret")
_S390 = _call_and_jump("brasl %r14, {t}", "jg {t}", "br %r14")
# Hexagon's call reaches +-8 MiB: beyond it lld 22 makes a thunk, older lld refuse.
_HEXAGON = """\
	.section .text,"ax",@progbits
	.globl caller
	.type caller,@function
caller:
	{ call far_func }
	{ call other_func }
	{ jump far_func }
	.section .text.far,"ax",@progbits
	.globl far_func
	.type far_func,@function
far_func:
	{ jumpr r31 }
	.globl other_func
	.type other_func,@function
other_func:
	{ jumpr r31 }
"""

# Beyond every direct branch's reach: ARM BL +-32 MiB, Thumb-2 +-16 MiB, Thumb-1 +-4 MiB,
# AArch64 BL +-128 MiB, PowerPC bl +-32 MiB. MIPS jal reaches its 256 MiB region, so its
# callee stays near (LA25 stubs do not depend on distance).
_FAR, _FAR64, _NEAR = 0x4000000, 0x10000000, 0x100000

def _ldflags(machine: str) -> tuple[str, ...]:
    row = by_machine(machine)
    assert row is not None
    return row.ldflags_vmlinux


_ARM_FLAGS = _ldflags("EM_ARM")
_ARM_ABS_FLAGS = tuple(f for f in _ARM_FLAGS if f != "--pic-veneer")
_ARM64_FLAGS = _ldflags("EM_AARCH64")
_ARM64_RELOCATABLE = (*_ARM64_FLAGS, "-shared", "-Bsymbolic", "-z", "notext",
                      "--no-apply-dynamic-relocs")
_MIPS_FLAGS = _ldflags("EM_MIPS")


def _arm(level: str, triple: str, text: str, what: str) -> list[Case]:
    src = (Source(f"{level}", triple, text),)
    return [
        Case(f"arm-{level}-pic", "arm", f"{what}, --pic-veneer (the kernel's flags)", src,
             _ARM_FLAGS, _FAR),
        Case(f"arm-{level}-abs", "arm", f"{what}, absolute (no --pic-veneer)", src,
             _ARM_ABS_FLAGS, _FAR),
    ]


def _mips(name: str, mode: str, what: str) -> Case:
    return Case(name, "mips", what, (
        Source(f"{name}-caller", "mips-linux-gnu", _MIPS_CALLER.format(mode=mode),
               ("-fno-pic", "-mno-abicalls")),
        Source(f"{name}-pic", "mips-linux-gnu", _MIPS_PIC.format(mode=mode)),
    ), _MIPS_FLAGS, _NEAR)


CASES: tuple[Case, ...] = (
    *_arm("v7", "armv7a-linux-gnueabi", _ARM_INTERWORK,
          "ARMv7 ARM and Thumb-2 far calls, ARM<->Thumb interworking"),
    *_arm("thumb2", "thumbv7a-linux-gnueabi", _THUMB_ONLY, "Thumb-2-only far call"),
    *_arm("v6m", "thumbv6m-none-eabi", _THUMB_ONLY, "ARMv6-M (Thumb-1 only) far call"),
    *_arm("v5", "armv5te-linux-gnueabi", _ARM_INTERWORK,
          "ARMv5TE far calls and interworking"),
    *_arm("v4t", "armv4t-linux-gnueabi", _ARM_INTERWORK,
          "ARMv4T far calls and interworking (no BLX)"),
    Case("arm64", "arm64", "far call with --pic-veneer; erratum 843419 sequence",
         (Source("arm64", "aarch64-linux-gnu", _ARM64),), _ARM64_FLAGS, _FAR64),
    Case("arm64-nopic", "arm64", "far call without --pic-veneer",
         (Source("arm64", "aarch64-linux-gnu", _ARM64),),
         tuple(f for f in _ARM64_FLAGS if f != "--pic-veneer"), _FAR64),
    Case("arm64-relocatable", "arm64", "CONFIG_RELOCATABLE: -shared -Bsymbolic",
         (Source("arm64", "aarch64-linux-gnu", _ARM64),), _ARM64_RELOCATABLE, _FAR64),
    _mips("mips-la25", "", "non-PIC code calling a PIC function (LA25)"),
    _mips("micromips-la25", "\t.set micromips\n",
          "microMIPS non-PIC code calling a PIC function"),
    Case("ppc64", "powerpc", "ppc64le far call and ifunc call through the PLT",
         (Source("ppc64", "powerpc64le-linux-gnu", _PPC64),), ("-Bstatic",), _FAR),
    Case("ppc64-relocatable", "powerpc", "CONFIG_RELOCATABLE: -pie -z notext",
         (Source("ppc64", "powerpc64le-linux-gnu", _PPC64),), ("-pie", "-z", "notext"),
         _FAR),
    Case("ppc32", "powerpc", "ppc32 far call and undefined weak call",
         (Source("ppc32", "powerpc-linux-gnu", _PPC32),), ("-Bstatic",), _FAR,
         gnu_emulation="elf32ppc"),
    Case("ppc32-relocatable", "powerpc", "CONFIG_RELOCATABLE: -pie -z notext",
         (Source("ppc32", "powerpc-linux-gnu", _PPC32),), ("-pie", "-z", "notext"), _FAR,
         gnu_emulation="elf32ppc"),
    # The flags of arch/*/Makefile (6.1): riscv --no-relax (LLD), x86 with
    # CONFIG_X86_NEED_RELOCS, s390 -pie, hexagon -G0.
    Case("riscv", "riscv", "RISC-V call and tail far away (auipc+jalr reaches 2 GiB)",
         (Source("riscv", "riscv64-linux-gnu", _RISCV),), ("--no-relax",), _FAR),
    Case("x86", "x86", "x86-64 call and jmp far away (rel32 reaches 2 GiB)",
         (Source("x86", "x86_64-linux-gnu", _X86),),
         ("--emit-relocs", "--discard-none", "-z", "max-page-size=0x200000"), _FAR),
    Case("s390", "s390", "s390x brasl and jg far away (reach 4 GiB), -pie",
         (Source("s390", "s390x-linux-gnu", _S390),), ("-pie",), _FAR),
    Case("hexagon", "hexagon", "Hexagon call and jump beyond their 8 MiB reach",
         (Source("hexagon", "hexagon-linux-musl", _HEXAGON),), ("-G0",), _FAR),
)

ARCHES = tuple(dict.fromkeys(c.arch for c in CASES))


def select(arches: tuple[str, ...] = (), names: tuple[str, ...] = ()) -> list[Case]:
    """The cases of the given kernel ARCHes and case names (all when both are empty).

    Raises KeyError naming an unknown arch or case."""
    for a in arches:
        if a not in ARCHES:
            raise KeyError(f"unknown arch {a!r} (known: {', '.join(ARCHES)})")
    known = {c.name for c in CASES}
    for n in names:
        if n not in known:
            raise KeyError(f"unknown case {n!r} (known: {', '.join(sorted(known))})")
    if not arches and not names:
        return list(CASES)
    return [c for c in CASES if c.arch in arches or c.name in names]


def cases_for_config(arch: str, config: str) -> list[Case]:
    """The cases a kernel of this ``.config`` can meet: its CPU level's, linked with
    the kernel's own flags (never the -abs and -nopic ones, which show what a linker
    makes without --pic-veneer), the relocatable ones only with CONFIG_RELOCATABLE."""
    def on(option: str) -> bool:
        return re.search(rf"^CONFIG_{option}=y$", config, re.M) is not None

    names: list[str]
    if arch == "arm":
        if on("THUMB2_KERNEL") or on("CPU_V7M"):
            names = ["arm-thumb2-pic"]
        elif on("CPU_32v7"):
            names = ["arm-v7-pic"]
        elif on("CPU_32v5") or on("CPU_32v6") or on("CPU_32v6K"):
            names = ["arm-v5-pic"]  # lld gives v5 and v6 (no MOVW/MOVT) the same thunks
        elif on("CPU_32v4T") or on("CPU_32v4"):
            names = ["arm-v4t-pic"]
        else:
            return []
    elif arch == "arm64":
        names = ["arm64"] + (["arm64-relocatable"] if on("RELOCATABLE") else [])
    elif arch == "powerpc":
        base = "ppc64" if on("PPC64") else "ppc32"
        names = [base] + ([f"{base}-relocatable"] if on("RELOCATABLE") else [])
    elif arch == "mips":
        names = ["mips-la25"] + (["micromips-la25"] if on("CPU_MICROMIPS") else [])
    else:
        return [c for c in CASES if c.arch == arch]
    return [c for c in CASES if c.name in names]


def linker_script(case: Case) -> str:
    """Near code at 1 MiB, the callees ``case.far`` beyond it."""
    return f"""SECTIONS {{
  . = 0x100000;
  .text : {{ *(.text) *(.text.erratum) }}
  .data : {{ *(.data) }}
  . = {0x100000 + case.far:#x};
  .text.far : {{ *(.text.far) }}
}}
"""
