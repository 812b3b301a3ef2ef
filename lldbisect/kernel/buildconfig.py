"""What ``make`` needs to relink a build, read from the build itself.

A relink must call make exactly as the build was made, or kbuild reconfigures and
recompiles it: without ``ARCH=`` it becomes an x86 kernel, without ``LLVM=`` a GCC one.
The build says what it was: ``.config``'s header names the architecture
(``# Linux/arm 6.1.77 Kernel Configuration``), and ``include/config/auto.conf`` the
compiler (``CONFIG_CC_IS_CLANG``, ``CONFIG_CC_VERSION_TEXT``), the assembler
(``CONFIG_AS_IS_GNU``) and the linker (``CONFIG_LD_IS_BFD``). We find the installed
tools of those exact versions. What a build cannot tell (its own ``KCFLAGS=``) the
relink guard finds out, by stopping make before it compiles anything.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lldbisect.arch import ARCHES, Arch
from lldbisect.errors import InputError

__all__ = ["BuildConfig", "arch_of_config", "infer", "merge_make_args"]

_HEADER = re.compile(r"^# Linux/(\S+) (\S+) Kernel Configuration$", re.M)
_HOST = {"x86_64": "x86", "aarch64": "arm64", "ppc64le": "powerpc", "riscv64": "riscv"}


@dataclass(frozen=True)
class BuildConfig:
    """The make arguments inferred for a build, and what they were inferred from."""

    arch: str
    version: str
    make_args: tuple[str, ...]
    said: str  # one line: what was inferred, from what


def _options(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip('"') for m in
            re.finditer(r"^(CONFIG_\w+)=(.*)$", text, re.M)}


@cache
def _first_line(tool: str) -> str:
    try:
        done = subprocess.run([tool, "--version"], capture_output=True, text=True,
                              errors="replace", timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout.strip().splitlines() or [""])[0]


def _clang_dir(version_text: str) -> Path | None:
    """The directory of an installed clang whose ``--version`` is ``version_text``."""
    for clang in sorted(Path("/usr/lib").glob("llvm-*/bin/clang")):
        if _first_line(str(clang)).startswith(version_text):
            return clang.parent
    return None


def _row(arch: str, opts: dict[str, str]) -> Arch | None:
    """The architecture's row; where ARCH covers two ELF machines, the configured one."""
    rows = [a for a in ARCHES if a.kernel_arch == arch]
    if len(rows) > 1:
        wide = opts.get("CONFIG_64BIT") == "y"
        rows.sort(key=lambda a: (a.elf_machine in ("EM_PPC", "EM_386")) == wide)
    return rows[0] if rows else None


def _cross_prefix(row: Arch | None, opts: dict[str, str], tool: str) -> str | None:
    """An installed ``<prefix>tool`` for the architecture (little-endian first where
    the configuration says so)."""
    if row is None:
        return None
    prefixes = list(row.cross_prefixes)
    little = ("le-", "el-")
    if opts.get("CONFIG_CPU_BIG_ENDIAN") == "y":
        prefixes.sort(key=lambda p: any(x in p for x in little))
    elif opts.get("CONFIG_CPU_LITTLE_ENDIAN") == "y":
        prefixes.sort(key=lambda p: not any(x in p for x in little))
    return next((p for p in prefixes if shutil.which(p + tool)), None)


def infer(build_dir: Path) -> BuildConfig:
    """The make arguments that relink ``build_dir`` as it was built.

    Raises InputError when the build has no ``.config`` or the tools it was built with
    are not installed here (naming them).
    """
    try:
        config = (build_dir / ".config").read_text(errors="replace")
    except OSError:
        raise InputError(build_dir, "not a kernel build directory (no .config)") from None
    header = _HEADER.search(config)
    if header is None:
        raise InputError(build_dir / ".config", "no `# Linux/<arch> <version> Kernel"
                                                " Configuration` header: not kbuild's")
    arch, version = header.groups()
    try:
        conf = (build_dir / "include" / "config" / "auto.conf").read_text(errors="replace")
    except OSError:
        conf = config  # configured, never built: .config says the same
    opts = _options(conf)
    row = _row(arch, opts)
    args = [f"ARCH={arch}"]
    said = [f"ARCH={arch} (.config)"]
    native = _HOST.get(platform.machine()) == arch
    if opts.get("CONFIG_CC_IS_CLANG") == "y":
        text = opts.get("CONFIG_CC_VERSION_TEXT", "")
        found = _clang_dir(text)
        if found is None:
            raise InputError(build_dir, f"built with {text!r}, which is not installed here")
        args.append(f"LLVM={found}/")
        said.append(f"LLVM={found}/ ({text})")
        if opts.get("CONFIG_AS_IS_GNU") == "y" or opts.get("CONFIG_LD_IS_BFD") == "y":
            if opts.get("CONFIG_AS_IS_GNU") == "y":
                args.append("LLVM_IAS=0")
                said.append("LLVM_IAS=0 (GNU as)")
            if not native:
                prefix = _cross_prefix(row, opts, "as")
                if prefix is None:
                    raise InputError(build_dir, f"built with GNU binutils for {arch},"
                                                " which are not installed here")
                args.append(f"CROSS_COMPILE={prefix}")
                said.append(f"CROSS_COMPILE={prefix}")
    elif opts.get("CONFIG_CC_IS_GCC") == "y" and not native:
        text = opts.get("CONFIG_CC_VERSION_TEXT", "")
        prefix = _cross_prefix(row, opts, "gcc")
        if prefix is None or not _first_line(prefix + "gcc").startswith(text):
            raise InputError(build_dir, f"built with {text!r} for {arch}, which is not"
                                        " installed here")
        args.append(f"CROSS_COMPILE={prefix}")
        said.append(f"CROSS_COMPILE={prefix} ({text})")
    return BuildConfig(arch, version, tuple(args), "inferred from the build: "
                       + ", ".join(said))


def arch_of_config(config: Path) -> str | None:
    """The architecture a ``.config`` file's header names, if it has kbuild's header."""
    try:
        m = _HEADER.search(config.read_text(errors="replace"))
    except OSError:
        return None
    return m.group(1) if m else None


def merge_make_args(inferred: tuple[str, ...], given: tuple[str, ...] | list[str]
                    ) -> list[str]:
    """``inferred`` with each variable the user gave (``--make-arg VAR=…``) replaced by
    theirs, and the rest of theirs after."""
    names = {a.split("=", 1)[0] for a in given if "=" in a}
    return [a for a in inferred if a.split("=", 1)[0] not in names] + list(given)
