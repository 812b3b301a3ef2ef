"""Build real ELF files at test time: every symbol kind nm distinguishes, for each target.

Our own assembly, assembled by clang's integrated assembler (``--target=``) and linked by
Debian's lld and GNU ld, so the reader is checked against what real toolchains write.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    name: str
    triple: str
    nm: str  # the GNU nm that reads this target
    gnu_ld: str | None  # the GNU ld for this target, when Debian ships it here
    call: str  # one call instruction sequence, {f} is the callee
    ret: str
    emulation: str | None = None  # -m for GNU ld
    small_data: bool = False  # the target has .sdata/.sbss
    thumb: bool = False
    far: int = 0x4000000  # distance beyond the target's direct branch range
    cflags: tuple[str, ...] = ()
    gnu_as: tuple[str, ...] = ()  # the cross GNU as and its flags, where it fits


TARGETS = [
    Target("x86_64", "x86_64-linux-gnu", "nm", "ld", "call {f}", "ret", gnu_as=("as",)),
    Target("i386", "i386-linux-gnu", "nm", "ld", "call {f}", "ret", emulation="elf_i386",
           gnu_as=("as", "--32")),
    Target("arm", "armv7a-linux-gnueabihf", "arm-linux-gnueabihf-nm", "arm-linux-gnueabihf-ld",
           "bl {f}", "bx lr", gnu_as=("arm-linux-gnueabihf-as",)),
    Target("thumb", "thumbv7a-linux-gnueabihf", "arm-linux-gnueabihf-nm",
           "arm-linux-gnueabihf-ld", "bl {f}", "bx lr", thumb=True, far=0x2000000),
    Target("armv5", "armv5te-linux-gnueabi", "arm-linux-gnueabihf-nm", "arm-linux-gnueabihf-ld",
           "bl {f}", "bx lr", gnu_as=("arm-linux-gnueabihf-as", "-march=armv5te")),
    Target("aarch64", "aarch64-linux-gnu", "aarch64-linux-gnu-nm", "aarch64-linux-gnu-ld",
           "bl {f}", "ret", far=0x10000000, gnu_as=("aarch64-linux-gnu-as",)),
    Target("mips", "mips-linux-gnu", "mips-linux-gnu-nm", "mips-linux-gnu-ld",
           "jal {f}\n\tnop", "jr $ra\n\tnop", small_data=True,
           cflags=("-fno-pic", "-mno-abicalls"), gnu_as=("mips-linux-gnu-as", "-call_nonpic")),
    Target("ppc64le", "powerpc64le-linux-gnu", "powerpc64le-linux-gnu-nm",
           "powerpc64le-linux-gnu-ld", "bl {f}\n\tnop", "blr",
           gnu_as=("powerpc64le-linux-gnu-as",)),
    Target("ppc32", "powerpc-linux-gnu", "powerpc64le-linux-gnu-nm", None, "bl {f}", "blr",
           small_data=True, gnu_as=("powerpc64le-linux-gnu-as", "-a32", "-mbig")),
    Target("riscv64", "riscv64-linux-gnu", "riscv64-linux-gnu-nm", None, "call {f}", "ret",
           small_data=True, gnu_as=("riscv64-linux-gnu-as",)),
]

_KINDS = """\
	.text
	.globl _start
	.type _start, %function
{thumb_func}_start:
	{call_ext}
	{call_weak}
	{call_local}
	{ret}
	.type local_func, %function
{thumb_func}local_func:
	{ret}
	.size local_func, .-local_func
	.weak weak_func
	.type weak_func, %function
{thumb_func}weak_func:
	{ret}
	.weak weak_undef_func
	.weak weak_undef_obj
	.type weak_undef_obj, %object
{ifunc}	.globl no_type_sym
no_type_sym:
	{ret}

	.data
	.globl data_obj
	.type data_obj, %object
data_obj: .long 1
	.size data_obj, 4
local_data: .long 2
	.weak weak_obj
	.type weak_obj, %object
weak_obj: .long 3
	.globl unique_obj
	.type unique_obj, %gnu_unique_object
unique_obj: .long 4

	.section .rodata,"a",%progbits
	.globl ro_obj
ro_obj: .long 5
local_ro: .long 6

	.bss
	.globl bss_obj
bss_obj: .space 8
local_bss: .space 8

	.comm common_obj,16,4
	.local local_common
	.comm local_common,8,4

	.section .tdata,"awT",%progbits
	.globl tls_data
	.type tls_data, %tls_object
tls_data: .long 7
	.section .tbss,"awT",%nobits
	.type tls_bss, %tls_object
tls_bss: .space 4

	.globl abs_sym
	.set abs_sym, 0x1234
	.set local_abs, 0x42

	.section .debug_info,"",%progbits
debug_label: .long 0
	.section .comment_rw,"w",%progbits
odd_rw_label: .long 0
	.section .note.mine,"",%note
note_label: .long 0
	.section .init.text,"ax",%progbits
{thumb_func}init_func:
	{ret}
{small}
	.section .text.far,"ax",%progbits
	.globl far_func
	.type far_func, %function
{thumb_func}far_func:
	{ret}
	.globl far_func2
	.type far_func2, %function
{thumb_func}far_func2:
	{call_back}
	{ret}
"""

_SMALL = """\
	.section .sdata,"aw",%progbits
	.globl sdata_obj
sdata_obj: .long 8
	.section .sbss,"aw",%nobits
	.globl sbss_obj
sbss_obj: .space 4
"""

_IFUNC = """\
	.globl ifunc_sym
	.type ifunc_sym, %gnu_indirect_function
{thumb_func}ifunc_sym:
	{ret}
"""

_DEFS = """\
	.text
	.globl ext_func
	.type ext_func, %function
{thumb_func}ext_func:
	{ret}
"""


def _script(target: Target) -> str:
    far = 0x100000 + target.far
    return f"""SECTIONS {{
  . = 0x100000;
  .text : {{ *(.text) *(.init.text) }}
  .rodata : {{ *(.rodata) }}
  .data : {{ *(.data) *(.sdata) }}
  .tdata : {{ *(.tdata) }}
  .tbss : {{ *(.tbss) }}
  .bss : {{ *(.sbss) *(.bss) *(COMMON) }}
  . = {far:#x};
  .text.far : {{ *(.text.far) }}
}}
"""


def _source(target: Target, template: str) -> str:
    return template.format(
        thumb_func="\t.thumb_func\n" if target.thumb else "",
        call_ext=target.call.format(f="ext_func"),
        call_weak=target.call.format(f="weak_undef_func"),
        call_local=target.call.format(f="far_func"),
        call_back=target.call.format(f="_start"),
        ret=target.ret,
        small=_SMALL if target.small_data else "",
        ifunc="" if target.name == "mips" else _IFUNC.format(
            thumb_func="\t.thumb_func\n" if target.thumb else "", ret=target.ret),
    )


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed in {cwd}:\n{done.stderr}")


@dataclass(frozen=True)
class Built:
    target: Target
    kind: str  # object / exe-<linker>
    path: Path


def available_lld() -> list[str]:
    return [str(p) for p in sorted(Path("/usr/lib").glob("llvm-*/bin/ld.lld"))]


def build_target(target: Target, out: Path, lld_versions: list[str]) -> list[Built]:
    """Assemble the kinds file for one target and link it with each lld and GNU ld."""
    d = out / target.name
    d.mkdir(parents=True, exist_ok=True)
    (d / "kinds.S").write_text(_source(target, _KINDS))
    (d / "defs.S").write_text(_source(target, _DEFS))
    (d / "far.lds").write_text(_script(target))
    cc = ["clang", f"--target={target.triple}", "-c", *target.cflags]
    _run([*cc, "kinds.S", "-o", "kinds.o"], d)
    _run([*cc, "defs.S", "-o", "defs.o"], d)
    built = [Built(target, "object", d / "kinds.o")]
    if target.gnu_as:
        _run([*target.gnu_as, "kinds.S", "-o", "gas.o"], d)
        built.append(Built(target, "object-gas", d / "gas.o"))
    for lld in lld_versions:
        version = Path(lld).parent.parent.name  # llvm-16
        for pic in ((False, True) if target.name in ("arm", "thumb", "armv5", "aarch64")
                    else (False,)):
            name = f"exe-{version}{'-pic' if pic else ''}"
            argv = [lld, "-T", "far.lds", "kinds.o", "defs.o", "-o", name, "-e", "_start"]
            if pic:
                argv.insert(1, "--pic-veneer")
            _run(argv, d)
            built.append(Built(target, name, d / name))
    if target.name != "mips":  # non-PIC MIPS calls cannot go in a DSO
        _run([lld_versions[-1], "-shared", "-Bsymbolic", "-z", "notext", "kinds.o",
              "-o", "lib-lld.so"], d)
        built.append(Built(target, "so-lld", d / "lib-lld.so"))
    if target.gnu_ld and shutil.which(target.gnu_ld):
        argv = [target.gnu_ld, "-T", "far.lds", "kinds.o", "defs.o", "-o", "exe-gnu",
                "-e", "_start"]
        if target.emulation:
            argv[1:1] = ["-m", target.emulation]
        _run(argv, d)
        built.append(Built(target, "exe-gnu", d / "exe-gnu"))
        if target.name not in ("mips",):  # GNU ld refuses non-PIC MIPS code in a DSO
            argv = [target.gnu_ld, "-shared", "-Bsymbolic", "-z", "notext", "kinds.o",
                    "-o", "lib-gnu.so"]
            if target.emulation:
                argv[1:1] = ["-m", target.emulation]
            _run(argv, d)
            built.append(Built(target, "so-gnu", d / "lib-gnu.so"))
    return built
