"""Whether a linker crashed: killed by a signal, or LLVM's crash handler said so. A
crash is the linker's failure, never "it does not support this"."""

from __future__ import annotations

import re
import signal

__all__ = ["crash_in_log", "crashed"]

# A shell reports a child killed by signal N as exit status 128 + N.
_FATAL = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE,
          signal.SIGTRAP, signal.SIGSYS}
# What LLVM's crash handler and GNU ld's own fatal-error path print.
_SAID = re.compile(r"PLEASE submit a bug report|^Stack dump:|internal error, aborting",
                   re.M)
# make, when the recipe of a link stage (vmlinux, .tmp_vmlinux*, vmlinux.o) died of a
# fatal signal: "Error 139" (128 + SIGSEGV) or the shell's word for it. A compiler's
# crash, the OOM killer's SIGKILL or a SIGTERM are no linker crash.
_MAKE = re.compile(r"\*\*\* \[[^\]]*(?:vmlinux[^\]/]*|\.tmp_vmlinux\w*)\] (?:Error (?:"
                   + "|".join(str(128 + s) for s in sorted(_FATAL)) + r")|Segmentation fault"
                   r"|Aborted|Illegal instruction|Bus error)")


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def crashed(returncode: int, stderr: str) -> str | None:
    """How the linker crashed (``killed by SIGSEGV``), or None when it exited on its own
    (which may still be an error)."""
    if returncode < 0:
        return f"killed by {_name(-returncode)}"
    if returncode > 128 and any(returncode == 128 + s for s in _FATAL):
        return f"killed by {_name(returncode - 128)} (exit status {returncode})"
    if returncode and (m := _SAID.search(stderr)):
        return f"crashed ({m.group().strip()})"
    return None


def crash_in_log(log: str) -> str | None:
    """A linker crash in a relink's log (make's words for a link stage's recipe, or the
    crash handler's own), or None."""
    m = _MAKE.search(log) or _SAID.search(log)
    return None if m is None else m.group().strip()
