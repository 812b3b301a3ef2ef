"""Kernel builds for a bisect over kernel commits, the linker fixed.

One worktree of the user's kernel repository (their checkout stays as it is) and one
persistent out-of-tree build directory: each step checks a commit out, puts the same
configuration in (``--config FILE`` through ``olddefconfig``, else a ``defconfig``
target), and lets kbuild rebuild what the commit changed, through the compiler
launcher (``launcher.py``). The build and the kallsyms judgement are the step's test
(``steps.judge``): a commit whose kernel does not build is a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from lldbisect.bisect.builders.launcher import Launcher
from lldbisect.bisect.builders.llvm import BuildOutcome
from lldbisect.bisect.gitrepo import Worktree
from lldbisect.errors import ToolError

__all__ = ["KernelBuilder", "with_launcher"]


def with_launcher(make_args: list[str], launcher: Launcher) -> list[str]:
    """``make_args`` with ``CC=<launcher> <compiler>`` (the compiler LLVM= or
    CROSS_COMPILE= names, else gcc), the launcher's environment as make variables
    (make exports those to every command), and distcc's job count. The user's own CC=
    wins: it is left alone."""
    if launcher.path is None or any(a.startswith("CC=") for a in make_args):
        return make_args
    opts = dict(a.split("=", 1) for a in make_args if "=" in a)
    if "LLVM" in opts:
        llvm = opts["LLVM"]
        cc = (f"{llvm}clang" if llvm.endswith("/") else
              f"clang{llvm}" if llvm.startswith("-") else "clang")
    else:
        cc = f"{opts.get('CROSS_COMPILE', '')}gcc"
    extra = [f"{k}={v}" for k, v in launcher.env.items()]
    if launcher.jobs:
        extra.append(f"-j{launcher.jobs}")
    return [*make_args, f"CC={launcher.name} {cc}", *extra]


class KernelBuilder:
    """Prepares the build directory for each commit of one kernel worktree."""

    def __init__(self, worktree: Worktree, build_dir: Path, ld: str, make_args: list[str],
                 config: Path | None, defconfig: str = "defconfig",
                 launcher: Launcher | None = None) -> None:
        self.wt = worktree
        self.build_dir = build_dir
        self.ld = ld
        self.launcher = launcher or Launcher("none", None, "none")
        self.make_args = with_launcher(make_args, self.launcher)
        self.config = config.read_text() if config is not None else None
        self.defconfig = defconfig
        self.builds = 0

    def prepare(self, rev: str) -> BuildOutcome:
        """Check ``rev`` out and configure the build directory for it; the linker is the
        fixed one. A configuration that fails is a skip. Raises ToolError when make is
        missing."""
        if shutil.which("make") is None:
            raise ToolError("make not found: building the kernel needs it")
        start = time.monotonic()
        self.wt.checkout(rev)
        self.build_dir.mkdir(parents=True, exist_ok=True)
        if self.config is not None:
            (self.build_dir / ".config").write_text(self.config)
            target = "olddefconfig"
        else:
            target = self.defconfig
        try:
            done = subprocess.run(["make", "-C", str(self.wt.path), f"O={self.build_dir}",
                                   f"-j{os.cpu_count() or 2}", *self.make_args,
                                   f"LD={self.ld}", target],
                                  capture_output=True, text=True, errors="replace",
                                  timeout=3600)
        except subprocess.TimeoutExpired:
            return BuildOutcome(None, False, time.monotonic() - start, True,
                                f"make {target} timed out after 3600 s", rev)
        self.builds += 1
        log = (done.stdout + done.stderr)[-4000:]
        failed = done.returncode != 0
        return BuildOutcome(None if failed else Path(self.ld), False,
                            time.monotonic() - start, failed, log, rev)
