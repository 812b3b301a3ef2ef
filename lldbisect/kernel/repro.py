"""The tiny ARMv5 kernel that reproduces the real failure: Debian's 6.1 linked by lld 16.

The recipe (the README's `lldbisect repro`): an out-of-tree ``allnoconfig`` of
``ARCH=arm`` with ``tiny.config`` and an ARMv5 Versatile board, built with clang 14; a
padding object of our own in ``.rodata`` pushes ``.init.text`` more than 32 MiB away from
``.text`` so the linker must add range-extension thunks, as a large kernel does. The
padding is built only when ``LLDBISECT_PAD`` names its size, so one tree serves every
case; changing the size or the linker relinks in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lldbisect.cache import cache_dir
from lldbisect.errors import ToolError
from lldbisect.kernel import sources
from lldbisect.kernel.relink import wrapped_linker

__all__ = ["AT_RISK_PAD", "FAILING_PAD", "MakeResult", "TinyArmBuild"]

CONFIG_LD = "/usr/lib/llvm-15/bin/ld.lld"  # the linker the build is configured with
FAILING_PAD = 32686460  # lld 16: three passes, then "Inconsistent kallsyms data"
AT_RISK_PAD = 32505856  # lld 16: a third pass that converges
CLANG = "/usr/lib/llvm-14/bin/"
MAKE_ARGS_FILE = "lldbisect.make-args"  # what a relink of this build dir must pass to make
CONFIG = """\
CONFIG_EXPERT=y
CONFIG_MMU=y
CONFIG_ARCH_MULTIPLATFORM=y
# CONFIG_ARCH_MULTI_V7 is not set
CONFIG_ARCH_MULTI_V5=y
CONFIG_ARCH_VERSATILE=y
CONFIG_KALLSYMS=y
CONFIG_KALLSYMS_ALL=y
CONFIG_PRINTK=y
"""
# Our own padding object and the one Makefile line that builds it on request.
PAD_SOURCE = """\
/* lldbisect: padding between .text and .init.text, to force range-extension thunks. */
	.section .rodata, "a"
	.space LLDBISECT_PAD
"""
PAD_MAKEFILE = """
# lldbisect: padding object, built only when LLDBISECT_PAD gives its size in bytes.
obj-$(if $(LLDBISECT_PAD),y) += lldbisect_pad.o
AFLAGS_lldbisect_pad.o := -DLLDBISECT_PAD=$(LLDBISECT_PAD)
"""


@dataclass(frozen=True)
class MakeResult:
    """One make run: its exit status, its log, how long it took."""

    returncode: int
    log: str
    seconds: float

    @property
    def inconsistent_kallsyms(self) -> bool:
        return "Inconsistent kallsyms data" in self.log


class TinyArmBuild:
    """A configured O= build of the tiny ARMv5 kernel in the cache."""

    def __init__(self, package: str = "linux-source-6.1", suite: str | None = None,
                 root: Path | None = None) -> None:
        self.package, self.suite = package, suite
        self.root = root or cache_dir() / "builds"
        self._tree: Path | None = None

    @property
    def tree(self) -> Path:
        """The full source tree, unpacked once, with the padding hook added."""
        if self._tree is None:
            tree = sources.kernel_source(self.package, self.suite, full=True)
            pad = tree / "arch" / "arm" / "kernel" / "lldbisect_pad.S"
            if not pad.exists():
                pad.write_text(PAD_SOURCE)
                with open(tree / "arch" / "arm" / "kernel" / "Makefile", "a") as f:
                    f.write(PAD_MAKEFILE)
            self._tree = tree
        return self._tree

    @property
    def config_ld(self) -> str | None:
        """The linker the build is configured with (Kconfig's view), when installed."""
        return CONFIG_LD if Path(CONFIG_LD).exists() else None

    @property
    def build_dir(self) -> Path:
        return self.root / f"armv5-tiny-{self.tree.parent.name}"

    def _make(self, *targets: str, ld: str | None = None, pad: int | None = None,
              jobs: int | None = None) -> MakeResult:
        for tool in ("make", f"{CLANG}clang"):
            if shutil.which(tool) is None:
                raise ToolError(f"{tool} not found: the kernel build needs it"
                                " (run bisect-scripts/setup-machine)")
        argv = ["make", "-C", str(self.tree), f"O={self.build_dir}",
                f"-j{jobs or os.cpu_count() or 2}", *self.make_args(pad)]
        config_ld = self.config_ld or ld
        env = dict(os.environ)
        if config_ld:
            # Kconfig always sees one linker, so changing ``ld`` relinks, never rebuilds.
            wrapper, extra = wrapped_linker(self.build_dir, ld or config_ld, config_ld)
            argv.append(f"LD={wrapper}")
            env.update(extra)
        start = time.monotonic()
        done = subprocess.run([*argv, *targets], capture_output=True, text=True,
                              errors="replace", env=env)
        return MakeResult(done.returncode, done.stdout + done.stderr,
                           time.monotonic() - start)

    def configure(self) -> None:
        """``allnoconfig`` with the recipe's fragment, once."""
        if (self.build_dir / ".config").exists():
            return
        self.build_dir.mkdir(parents=True, exist_ok=True)
        fragment = self.build_dir / "lldbisect.config"
        tiny = (self.tree / "kernel" / "configs" / "tiny.config").read_text()
        fragment.write_text(tiny + CONFIG)
        os.environ["KCONFIG_ALLCONFIG"] = str(fragment)
        try:
            result = self._make("allnoconfig")
        finally:
            del os.environ["KCONFIG_ALLCONFIG"]
        if result.returncode:
            raise ToolError(f"configuring {self.build_dir} failed: {result.log[-300:]}")

    def failing_pad(self, ld: str) -> tuple[int, MakeResult] | None:
        """The recipe's failing padding, or one nearby that fails with ``ld``, and that
        failing build: the exact value depends on the source and compiler (Debian's next
        revision of the same kernel moves it), and failing windows recur every 4 KiB page
        (a page's worth of padding moves every later section alike). None if none fails."""
        return self._search(ld, FAILING_PAD, lambda r: r.inconsistent_kallsyms)

    def at_risk_pad(self, ld: str) -> tuple[int, MakeResult] | None:
        """A padding near the recipe's at-risk value at which ``ld`` links in three
        passes that agree, and that build. None if none does."""
        def third_pass(r: MakeResult) -> bool:
            # A third pass of this link, not one a failed link left behind earlier.
            started = time.time() - r.seconds - 1
            return r.returncode == 0 and any(
                p.exists() and p.stat().st_mtime >= started
                for p in (self.build_dir / ".tmp_vmlinux.kallsyms3",
                          self.build_dir / ".tmp_vmlinux3"))
        return self._search(ld, AT_RISK_PAD, third_pass)

    def _search(self, ld: str, start: int, accept: Callable[[MakeResult], bool]
                ) -> tuple[int, MakeResult] | None:
        # The value found last time for this linker and search is tried first: each try
        # is a relink.
        # LLDBISECT_REPRO_SHIFT moves where the search starts: another layout, to show
        # that a test holds whatever layout Debian's next revision brings.
        start += int(os.environ.get("LLDBISECT_REPRO_SHIFT") or 0)
        memo = self.build_dir / "lldbisect.pads.json"
        key = f"{ld} {start}"
        try:
            found: dict[str, int] = json.loads(memo.read_text())
        except (OSError, ValueError):
            found = {}
        tries = [start + d for d in [0] + [k * s for k in range(1, 9) for s in (1024, -1024)]]
        if key in found and found[key] in tries:
            tries.remove(found[key])
            tries.insert(0, found[key])
        for pad in tries:
            result = self.build(ld, pad)
            if accept(result):
                memo.write_text(json.dumps({**found, key: pad}, indent=1) + "\n")
                return pad, result
        return None

    def make_args(self, pad: int | None) -> list[str]:
        """The make arguments a relink of this build needs (``LD=`` aside). The build
        number and time are pinned: they go into the image, and a banner one character
        longer moves the layout, and so the number of thunks."""
        return ["ARCH=arm", f"LLVM={CLANG}", f"LLDBISECT_PAD={pad}" if pad else "LLDBISECT_PAD=",
                "KBUILD_BUILD_VERSION=1", "KBUILD_BUILD_TIMESTAMP=2026-01-01",
                "KBUILD_BUILD_USER=lldbisect", "KBUILD_BUILD_HOST=lldbisect"]

    def build(self, ld: str, pad: int | None = None) -> MakeResult:
        """Build (or relink) vmlinux with linker ``ld`` and ``pad`` bytes of padding.
        Records the make arguments in ``lldbisect.make-args`` for later relinks."""
        self.configure()
        (self.build_dir / MAKE_ARGS_FILE).write_text("\n".join(self.make_args(pad)) + "\n")
        vmlinux = self.build_dir / "vmlinux"
        if vmlinux.exists():
            vmlinux.unlink()  # the link does not depend on ld or on scripts/kallsyms
        return self._make("vmlinux", ld=ld, pad=pad)
