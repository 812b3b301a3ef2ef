"""Who a linker is: its ``--version`` line, its release, and the number the kernel's
``scripts/ld-version.sh`` makes of it. The one place that asks a linker its version."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from packaging.version import InvalidVersion, Version

from lldbisect.errors import InputError

__all__ = ["installed_lld", "kernel_number", "made_by", "release", "version_line"]


def installed_lld() -> list[str]:
    """Every ``/usr/lib/llvm-N/bin/ld.lld`` here (Debian installs them side by side)."""
    return [str(p) for p in sorted(Path("/usr/lib").glob("llvm-*/bin/ld.lld"))]


def made_by(comment: str | None) -> str | None:
    """The installed ld.lld whose release an image's .comment names (``LLD 16.0.6``)."""
    said = re.search(r"LLD (\d+\.\d+\.\d+)", comment or "")
    if said is None:
        return None
    return next((c for c in installed_lld()
                 if re.search(rf"LLD {re.escape(said.group(1))}\b", version_line(c))), None)


def _argv(ld: str) -> list[str]:
    """A path or a command name; else a command with arguments (``ld-keep-stages
    ld.lld-16``), split as make splits ``$(LD)``."""
    return [ld] if Path(ld).exists() or shutil.which(ld) else ld.split()


def _output(ld: str) -> str:
    try:
        done = subprocess.run([*_argv(ld), "--version"], capture_output=True, text=True,
                              errors="replace", timeout=60)
    except FileNotFoundError:
        raise InputError(ld, "no such linker") from None
    except PermissionError:
        raise InputError(ld, "not executable") from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InputError(ld, f"cannot run: {getattr(e, 'strerror', None) or e}") from None
    if done.returncode or not done.stdout.strip():
        raise InputError(ld, "does not answer --version: not a linker")
    return done.stdout


def version_line(ld: str) -> str:
    """The first line of ``ld --version``. Raises InputError when it does not run."""
    return _output(ld).strip().splitlines()[0]


def release(ld: str) -> Version:
    """The linker's release (LLD 16.0.6, GNU ld 2.40). Raises InputError if it has none."""
    out = _output(ld)
    m = re.search(r"(?:LLD|GNU ld[^\n]*?)\s+(\d+\.\d+(?:\.\d+)?)", out) or re.search(
        r"(\d+\.\d+(?:\.\d+)?)", out)
    if not m:
        raise InputError(ld, "its --version names no version")
    try:
        return Version(m.group(1))
    except InvalidVersion:
        raise InputError(ld, f"unreadable version {m.group(1)!r}") from None


def kernel_number(ld: str) -> int | None:
    """10000*major + 100*minor + patch, as ld-version.sh computes it for Kconfig's
    CONFIG_LLD_VERSION / CONFIG_LD_VERSION; None when the linker does not answer."""
    try:
        first = version_line(ld)
    except InputError:
        return None
    m = re.search(r"LLD (\d+)\.(\d+)\.(\d+)", first) or re.search(
        r"(\d+)\.(\d+)(?:\.(\d+))?\S*$", first)
    if m is None:
        return None
    major, minor, patch = (int(x or 0) for x in m.groups())
    return 10000 * major + 100 * minor + patch
