"""A second real build, configured unlike the ARM one: a tiny ppc64le Linux 6.1 built
with clang 14, GNU as (LLVM_IAS=0, CROSS_COMPILE) and ld.lld-16. Built once, in the
cache, by the kernel's own make; the tests then relink it knowing nothing of how."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lldbisect.cache import cache_dir
from lldbisect.kernel import sources

FRAGMENT = """\
CONFIG_PPC64=y
CONFIG_PPC_BOOK3S_64=y
CONFIG_CPU_LITTLE_ENDIAN=y
CONFIG_EXPERT=y
CONFIG_KALLSYMS=y
CONFIG_KALLSYMS_ALL=y
CONFIG_PRINTK=y
"""
MAKE_ARGS = ["ARCH=powerpc", "LLVM=/usr/lib/llvm-14/bin/", "LLVM_IAS=0",
             "CROSS_COMPILE=powerpc64le-linux-gnu-", "LD=/usr/lib/llvm-16/bin/ld.lld"]


def build() -> Path:
    """The build directory, built once. Raises CalledProcessError with make's output."""
    tree = sources.kernel_source("linux-source-6.1", full=True)
    out = cache_dir() / "builds" / f"ppc64le-tiny-{tree.parent.name}"
    if (out / "vmlinux").exists() and (out / ".lldbisect-complete").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    fragment = out / "lldbisect.config"
    fragment.write_text((tree / "kernel" / "configs" / "tiny.config").read_text() + FRAGMENT)
    make = ["make", "-C", str(tree), f"O={out}", *MAKE_ARGS]
    env = {**os.environ, "KCONFIG_ALLCONFIG": str(fragment)}
    if not (out / ".config").exists():
        subprocess.run([*make, "allnoconfig"], env=env, check=True, capture_output=True,
                       text=True)
    subprocess.run([*make, f"-j{os.cpu_count() or 2}", "vmlinux"], check=True,
                   capture_output=True, text=True)
    (out / ".lldbisect-complete").touch()
    return out
