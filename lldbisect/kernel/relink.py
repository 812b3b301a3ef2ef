"""Relinking a kernel build with another linker: its objects and configuration stay.

Kconfig asks the linker for its version and turns options on or off by it, so a plain
``make LD=`` reconfigures and recompiles another kernel. ``LD=`` is a wrapper instead,
which links with the linker under test and answers version queries as the linker the
build was configured with.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from lldbisect.errors import InputError, ToolError
from lldbisect.kernel.overlay import PatchedTree
from lldbisect.linkers.identity import installed_lld, kernel_number

__all__ = ["KernelRelinker", "configured_linker", "wrapped_linker"]


class KernelRelinker:
    """Relinks an existing kernel build with another linker: the objects stay, only the
    link stages rerun (``make vmlinux`` with ``LD=``).

    Kconfig asks the linker for its version (``CONFIG_LLD_VERSION``, ``ld-option``), and
    options depend on it (Linux 6.1 on ARM: lld 13 turns off ARM_HAS_GROUP_RELOCS and
    with it VMAP_STACK), so a plain ``LD=`` would reconfigure and recompile the kernel:
    another kernel, and minutes per step. ``LD=`` is a wrapper instead, which links with
    the linker under test and sends version queries to the linker the build was
    configured with: configuration and objects stay as they are.
    """

    def __init__(self, build_dir: Path, make_args: list[str] | None = None,
                 config_ld: str | None = None) -> None:
        """``make_args`` default to what ``lldbisect repro`` recorded in the build dir;
        ``config_ld`` to the linker whose version the build's configuration records."""
        self.build_dir = build_dir
        if make_args is None:
            recorded = build_dir / "lldbisect.make-args"
            make_args = recorded.read_text().splitlines() if recorded.exists() else []
        self.make_args = make_args
        self.config_ld = config_ld or configured_linker(build_dir, make_args)

    @classmethod
    def of_build(cls, build_dir: Path, make_args: Sequence[str] = ()) -> KernelRelinker:
        """The relinker of a build the user names (``--kernel-build``, ``--make-arg``).
        Raises InputError when it is not a directory."""
        if not build_dir.is_dir():
            raise InputError(build_dir, "not a kernel build directory")
        return cls(build_dir, list(make_args) or None)

    def relink(self, ld: str, patched: PatchedTree | None = None) -> tuple[int, str]:
        """``make vmlinux`` with ``ld``; where the tree looks as ``patched`` says, if
        given. The exit status and the log."""
        if shutil.which("make") is None:
            raise ToolError("make not found: relinking the kernel needs it")
        (self.build_dir / "vmlinux").unlink(missing_ok=True)
        env = dict(os.environ)
        if self.config_ld is not None:
            ld, extra = wrapped_linker(self.build_dir, ld, self.config_ld)
            env.update(extra)
        argv = ["make", "-C", str(self.build_dir), f"-j{os.cpu_count() or 2}",
                *self.make_args, f"LD={ld}", "vmlinux"]
        if patched is not None:
            argv = patched.wrap(argv)
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              env=env)
        return done.returncode, done.stdout + done.stderr


def wrapped_linker(build_dir: Path, ld: str, config_ld: str) -> tuple[str, dict[str, str]]:
    """The ``LD=`` value and environment that link with ``ld`` while Kconfig sees
    ``config_ld``. Raises ToolError when the wrapper cannot be written."""
    path = build_dir / ".lldbisect" / "ld"
    if not path.exists() or path.read_text() != _WRAPPER:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_WRAPPER)
            path.chmod(0o755)
        except OSError as e:
            raise ToolError(f"{path}: cannot write the linker wrapper: {e.strerror}"
                            ) from None
    return str(path), {"LLDBISECT_RELINK_LD": shutil.which(ld) or ld,
                       "LLDBISECT_CONFIG_LD": shutil.which(config_ld) or config_ld}


_WRAPPER = """\
#!/bin/sh
# lldbisect: link with the linker under test; answer version queries (Kconfig's
# ld-version.sh and ld-option) as the linker this build was configured with.
# Unquoted, as make's $(LD) is: LD may be a command with arguments (ld-keep-stages ld.lld).
for arg in "$@"; do
	case "$arg" in -v|-V|--version) exec $LLDBISECT_CONFIG_LD "$@" ;; esac
done
exec $LLDBISECT_RELINK_LD "$@"
"""


def configured_linker(build_dir: Path, make_args: list[str]) -> str | None:
    """The linker whose version the build's ``include/config/auto.conf`` records: an
    installed ld.lld of that version, or ``$(CROSS_COMPILE)ld`` for GNU ld. None when
    the build has no configuration or no such linker is here."""
    try:
        conf = (build_dir / "include" / "config" / "auto.conf").read_text(errors="replace")
    except OSError:
        return None
    lld = re.search(r"^CONFIG_LLD_VERSION=(\d+)$", conf, re.M)
    bfd = re.search(r"^CONFIG_LD_VERSION=(\d+)$", conf, re.M)
    if lld and int(lld.group(1)):
        candidates = installed_lld() + [p for p in (shutil.which("ld.lld"),) if p]
        want = int(lld.group(1))
    elif bfd and int(bfd.group(1)):
        cross = next((a.split("=", 1)[1] for a in make_args
                      if a.startswith("CROSS_COMPILE=")), "")
        candidates = [p for p in (shutil.which(f"{cross}ld"),) if p]
        want = int(bfd.group(1))
    else:
        return None
    return next((c for c in candidates if kernel_number(c) == want), None)
