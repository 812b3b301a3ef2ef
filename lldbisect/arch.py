"""What lldbisect knows of each architecture the kernel links with ``LLVM=1``: one row
each, as data (tuxmake's lesson). Rows are keyed by the ELF machine a vmlinux carries
(pyelftools' names), since that is what a build directory tells us; ppc64 and ppc32
share ``ARCH=powerpc``, x86-64 and i386 share ``ARCH=x86``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ARCHES", "Arch", "by_kernel_arch", "by_machine"]


@dataclass(frozen=True)
class Arch:
    kernel_arch: str  # make ARCH=
    elf_machine: str  # e_machine of its vmlinux, as pyelftools names it
    llvm_target: str  # LLVM_TARGETS_TO_BUILD for an lld that links it
    clang_target: str  # clang --target=
    group: str  # the architecture word of a patch's group comment ("arm lld")
    # The vmlinux link flags of its default configuration (LDFLAGS_vmlinux in
    # arch/*/Makefile, Linux 6.1), for the probe corpus.
    ldflags_vmlinux: tuple[str, ...] = ()
    # CROSS_COMPILE prefixes of Debian's cross binutils and compilers, preferred first
    cross_prefixes: tuple[str, ...] = ()


ARCHES: tuple[Arch, ...] = (
    Arch("arm", "EM_ARM", "ARM", "armv7a-linux-gnueabi", "arm",
         ("--no-undefined", "-X", "--pic-veneer", "-z", "norelro"),
         ("arm-linux-gnueabihf-", "arm-linux-gnueabi-")),
    Arch("arm64", "EM_AARCH64", "AArch64", "aarch64-linux-gnu", "arm64",
         ("--no-undefined", "-X", "--pic-veneer", "--fix-cortex-a53-843419"),
         ("aarch64-linux-gnu-",)),
    Arch("mips", "EM_MIPS", "Mips", "mips-linux-gnu", "mips",
         ("-G", "0", "-static", "-n", "-nostdlib", "--emit-relocs"),
         ("mips-linux-gnu-", "mipsel-linux-gnu-", "mips64-linux-gnuabi64-",
          "mips64el-linux-gnuabi64-")),
    Arch("powerpc", "EM_PPC64", "PowerPC", "powerpc64le-linux-gnu", "ppc64", ("-Bstatic",),
         ("powerpc64le-linux-gnu-", "powerpc64-linux-gnu-")),
    Arch("powerpc", "EM_PPC", "PowerPC", "powerpc-linux-gnu", "ppc", ("-Bstatic",),
         ("powerpc-linux-gnu-",)),
    Arch("x86", "EM_X86_64", "X86", "x86_64-linux-gnu", "x86", (), ("x86_64-linux-gnu-",)),
    Arch("x86", "EM_386", "X86", "i386-linux-gnu", "x86", (), ("i686-linux-gnu-",)),
    Arch("riscv", "EM_RISCV", "RISCV", "riscv64-linux-gnu", "riscv", (),
         ("riscv64-linux-gnu-",)),
    Arch("loongarch", "EM_LOONGARCH", "LoongArch", "loongarch64-linux-gnu", "loongarch", (),
         ("loongarch64-linux-gnu-",)),
    Arch("s390", "EM_S390", "SystemZ", "s390x-linux-gnu", "s390", (), ("s390x-linux-gnu-",)),
    Arch("hexagon", "EM_QDSP6", "Hexagon", "hexagon-linux-musl", "hexagon"),
)


def by_machine(machine: str) -> Arch | None:
    """The row of an ELF machine (``EM_ARM``), if we know it."""
    return next((a for a in ARCHES if a.elf_machine == machine), None)


def by_kernel_arch(arch: str) -> Arch | None:
    """The first row of a kernel ``ARCH`` (``arm64``), if we know it."""
    return next((a for a in ARCHES if a.kernel_arch == arch), None)
