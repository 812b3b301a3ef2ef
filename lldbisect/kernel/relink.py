"""Relinking a kernel build with another linker: its objects and configuration stay.

Kconfig asks the linker for its version and turns options on or off by it, so a plain
``make LD=`` reconfigures and recompiles another kernel. ``LD=`` is a wrapper instead,
which links with the linker under test and answers version queries as the linker the
build was configured with.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lldbisect.errors import InputError, ToolError
from lldbisect.kernel.buildconfig import infer, merge_make_args
from lldbisect.kernel.overlay import PatchedTree
from lldbisect.linkers.identity import installed_lld, kernel_number

__all__ = ["DEFAULT_TIMEOUT", "KernelRelinker", "RelinkTimeout", "RelinkWouldRebuild",
           "configured_linker", "wrapped_linker"]


class RelinkTimeout(ToolError):
    """make ran longer than the relink's time limit (and was stopped)."""


class RelinkWouldRebuild(InputError):
    """make set out to reconfigure or recompile the build: it was stopped, and the
    configuration put back. The build needs make arguments we could not infer."""


# What a relink may build, by itself: the link stages, their kallsyms sources, the version
# stamp linked into each vmlinux, vmlinux.o (its command names $(LD)), and the kallsyms
# program when a patched kallsyms.c is being tried. Anything else must follow from those,
# or from the linker itself (a vDSO is linked with $(LD): its link, and what includes its
# offsets, rerun when LD= changes); make's own reasons (V=2) tell. The rest is a rebuild.
_MAY_BUILD = re.compile(r"(\.tmp_|\.vmlinux|vmlinux|init/version|scripts/kallsyms$"
                        r"|System\.map|Module\.symvers|modules\.builtin|include/generated/"
                        r"(compile|utsversion)\.h)")
_BUILD_LINE = re.compile(r"^\s{2}([A-Z][A-Z0-9_]*(?: \[M\])?)\s+(\S+)"
                         r"(?: - due to:? ?(.*))?$")
_HARMLESS = re.compile(r"^(target is PHONY|target missing)$")


class _Guard:
    """Reads make's V=2 output: says what make sets out to build that a relink must not."""

    def __init__(self) -> None:
        self.rebuilt: set[str] = set()

    def check(self, line: str) -> str | None:
        m = _BUILD_LINE.match(line.rstrip("\n"))
        if m is None:
            return None
        cmd, target, why = m.group(1), m.group(2), (m.group(3) or "").strip()
        if cmd in ("SYNC", "UPD", "GEN", "CALL", "CHK", "CHKHEAD", "SORTTAB", "KSYMS", "NM",
                   "SYSMAP", "MODPOST", "MODINFO"):
            return None
        deps = why.split() if why and not why.startswith(("command line", "target")) else []
        # A link whose command names $(LD): a vDSO, or (before 4.13) each built-in.o.
        linked = why == "command line change" and (
            cmd.startswith(("LD", "VDSO")) or "vdso" in target)
        follows = bool(deps) and all(d in self.rebuilt or _MAY_BUILD.match(d)
                                     or "vdso" in d for d in deps)
        if _MAY_BUILD.match(target) or linked or follows or (
                _HARMLESS.match(why) and cmd in ("GEN", "CALL")):
            self.rebuilt.add(target)
            return None
        return f"recompile {target}" + (f" (due to {why})" if why else "")


# Kconfig asking questions: a configuration this one is not.
_CONFIG_LINE = re.compile(r"Restart config|^\*\*\* |^\* Restart")
# Kconfig rerunning: harmless when it writes the same configuration. Each make variable
# Kconfig read is recorded (include/config/auto.conf.cmd), so our LD= wrapper alone
# makes it rerun; what it wrote is compared before make goes on.
_SYNC_LINE = re.compile(r"^\s{2}SYNC\s")
_ESSENTIAL = (".config", "include/config/auto.conf", "include/generated/autoconf.h")
# Kept aside around each relink and compared after: the configuration, all of it.
_CONFIG_DIRS = ("include/config", "include/generated")
# ... less what each link rewrites: the version stamp (build number, time).
_STAMPS = frozenset({"include/generated/compile.h", "include/generated/utsversion.h"})
DEFAULT_TIMEOUT = 3600.0  # seconds: a distribution kernel's three links, generously


class KernelRelinker:
    """Relinks an existing kernel build with another linker: the objects stay, only the
    link stages rerun (``make vmlinux`` with ``LD=``).

    Kconfig asks the linker for its version (``CONFIG_LLD_VERSION``, ``ld-option``), and
    options depend on it (Linux 6.1 on ARM: lld 13 turns off ARM_HAS_GROUP_RELOCS and
    with it VMAP_STACK), so a plain ``LD=`` would reconfigure and recompile the kernel:
    another kernel, and minutes per step. ``LD=`` is a wrapper instead, which links with
    the linker under test and sends version queries to the linker the build was
    configured with. The make arguments come from the build itself (``buildconfig``),
    and a guard stops make the moment it sets out to do more than relink.
    """

    def __init__(self, build_dir: Path, make_args: list[str] | None = None,
                 config_ld: str | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 progress: Callable[[str], None] | None = None,
                 builds: bool = False) -> None:
        """``make_args`` default to what ``lldbisect repro`` recorded in the build dir;
        ``config_ld`` to the linker whose version the build's configuration records.
        ``builds``: this make may compile (a kernel bisect builds each commit in a
        build directory of lldbisect's own); else anything but a relink is stopped."""
        self.build_dir = build_dir
        if make_args is None:
            make_args = _recorded(build_dir) or []
        self.make_args = make_args
        self.config_ld = config_ld or configured_linker(build_dir, make_args)
        self.timeout = timeout
        self.progress = progress
        self.inferred = ""  # what of make_args was read from the build, said once
        self._times: dict[str, int] = {}  # the kept configuration's file times
        self.builds = builds
        # An object added to every vmlinux-stage link (a layout sweep's padding).
        self.pad_object: Path | None = None

    @classmethod
    def of_build(cls, build_dir: Path, make_args: Sequence[str] = (), *,
                 timeout: float = DEFAULT_TIMEOUT,
                 progress: Callable[[str], None] | None = None) -> KernelRelinker:
        """The relinker of a build the user names (``--kernel-build``, ``--make-arg``):
        the make arguments it was built with, read from it (or recorded by ``repro``),
        with the user's ``--make-arg`` over them. Raises InputError when it is not a
        kernel build, or the tools it was built with are not here."""
        if not build_dir.is_dir():
            raise InputError(build_dir, "not a kernel build directory")
        if not (build_dir / ".config").is_file() or not (
                (build_dir / "Makefile").is_file() or (build_dir / "vmlinux.o").is_file()):
            raise InputError(build_dir, "not a kernel build directory (no .config and"
                                        " Makefile)")
        recorded = _recorded(build_dir)
        said = "make arguments recorded by lldbisect repro"
        if recorded is None:
            found = infer(build_dir)
            recorded, said = list(found.make_args), found.said
        relinker = cls(build_dir, merge_make_args(tuple(recorded), tuple(make_args)),
                       timeout=timeout, progress=progress)
        relinker.inferred = said + (f"; given: {' '.join(make_args)}" if make_args else "")
        return relinker

    def relink(self, ld: str, patched: PatchedTree | None = None) -> tuple[int, str]:
        """``make vmlinux`` with ``ld``; where the tree looks as ``patched`` says, if
        given. The exit status and the log.

        Raises RelinkWouldRebuild (the configuration put back) when make sets out to
        reconfigure or recompile, RelinkTimeout past the time limit; an interruption
        stops make and puts the configuration back before it goes on up.
        """
        if shutil.which("make") is None:
            raise ToolError("make not found: relinking the kernel needs it")
        env = dict(os.environ)
        env.pop("LLDBISECT_PAD_OBJ", None)
        if self.config_ld is not None or self.pad_object is not None:
            ld, extra = wrapped_linker(self.build_dir, ld, self.config_ld or ld)
            env.update(extra)
        if self.pad_object is not None:
            env["LLDBISECT_PAD_OBJ"] = str(self.pad_object)
        # V=2: make says why it builds each target, which the guard reads.
        argv = ["make", "-C", str(self.build_dir), f"-j{os.cpu_count() or 2}",
                *([] if self.builds else ["V=2"]), *self.make_args, f"LD={ld}", "vmlinux"]
        if patched is not None:
            argv = patched.wrap(argv)
        if self.progress is not None:
            self.progress(f"relinking {self.build_dir} with {env.get('LLDBISECT_RELINK_LD', ld)}")
        kept = _configuration(self.build_dir)
        self._times = _times(self.build_dir, kept)
        small = _small_files(self.build_dir)
        # Since 6.15 the final link writes vmlinux.unstripped (vmlinux is its copy): make
        # relinks only when both are gone.
        for final in ("vmlinux", "vmlinux.unstripped"):
            (self.build_dir / final).unlink(missing_ok=True)
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", env=env, start_new_session=True)
        timed_out = threading.Event()

        def time_out() -> None:
            timed_out.set()
            _stop(proc)

        timer = threading.Timer(self.timeout, time_out)
        timer.start()
        lines: list[str] = []
        essential = {rel: kept.get(rel) for rel in _ESSENTIAL}
        synced = False
        guard = _Guard()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if self.builds:
                    continue
                what = "reconfigure the build" if _CONFIG_LINE.search(line) else (
                    guard.check(line))
                if what is None and synced and _essential(self.build_dir) != essential:
                    what = "reconfigure the build"
                synced = synced or bool(_SYNC_LINE.match(line))
                if what is not None:
                    _stop(proc, hard=True)  # make would delete what it was making
                    self._put_back(kept, small)
                    raise RelinkWouldRebuild(self.build_dir, (
                        f"relinking would {what} (make said: {line.strip()}): stopped, the"
                        " configuration put back. The build needs make arguments that"
                        f" could not be inferred (we passed: {' '.join(self.make_args)}):"
                        " give them with --make-arg (ARCH=, LLVM=, CROSS_COMPILE=, KCFLAGS="
                        " or whatever it was built with)"))
            status = proc.wait()
        except BaseException:
            _stop(proc)
            self._put_back(kept, small)
            raise
        finally:
            timer.cancel()
        seconds = time.monotonic() - start
        if timed_out.is_set():
            self._put_back(kept, small)
            raise RelinkTimeout(f"{self.build_dir}: the relink with {ld} took longer than"
                                f" {self.timeout:.0f} s and was stopped")
        if not self.builds:
            changed = _essential(self.build_dir) != essential
            self._put_back(kept)  # also what Kconfig recorded of our LD= (auto.conf.cmd)
            if changed:
                raise RelinkWouldRebuild(self.build_dir, "the relink changed the build's"
                                         " configuration: put back; give the make"
                                         " arguments it was built with (--make-arg)")
        if self.progress is not None:
            self.progress(f"linked in {seconds:.0f} s (exit {status})")
        return status, "".join(lines)

    def _put_back(self, kept: dict[str, bytes],
                  small: dict[str, tuple[bytes, int]] | None = None) -> None:
        """The configuration as it was; with ``small``, also the build's own small files
        at the top (make stopped while writing one, its generated Makefile say, leaves
        it half written)."""
        for name, (data, mtime) in (small or {}).items():
            path = self.build_dir / name
            try:
                same = path.stat().st_mtime_ns == mtime and path.read_bytes() == data
            except OSError:
                same = False
            if not same:
                path.write_bytes(data)
                os.utime(path, ns=(mtime, mtime))
        now = _configuration(self.build_dir)
        for rel in now.keys() - kept.keys():
            (self.build_dir / rel).unlink(missing_ok=True)
        times = self._times
        for rel, data in kept.items():
            path = self.build_dir / rel
            if now.get(rel) != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            # Its time too: a configuration file newer than the objects would make the
            # next make recompile everything that includes it.
            when = times.get(rel)
            if when is not None:
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime_ns != when:
                        os.utime(path, ns=(when, when))


_SMALL = 1 << 20  # the link's products are larger; the build's own small files are not


def _small_files(build_dir: Path) -> dict[str, tuple[bytes, int]]:
    """The build directory's own top-level files under 1 MiB (not the link's products):
    bytes and time, by name."""
    out: dict[str, tuple[bytes, int]] = {}
    for entry in os.scandir(build_dir):
        if entry.is_file(follow_symlinks=False) and not entry.name.startswith(
                (".tmp_", "System.map", "vmlinux")):  # the link's own products
            st = entry.stat(follow_symlinks=False)
            if st.st_size < _SMALL:
                with contextlib.suppress(OSError):
                    out[entry.name] = (Path(entry.path).read_bytes(), st.st_mtime_ns)
    return out


def _essential(build_dir: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for rel in _ESSENTIAL:
        try:
            out[rel] = (build_dir / rel).read_bytes()
        except OSError:
            out[rel] = None
    return out


def _times(build_dir: Path, files: dict[str, bytes]) -> dict[str, int]:
    """Each kept configuration file's modification time, by path."""
    out: dict[str, int] = {}
    for rel in files:
        with contextlib.suppress(OSError):
            out[rel] = (build_dir / rel).stat().st_mtime_ns
    return out


def _configuration(build_dir: Path) -> dict[str, bytes]:
    """``.config`` and every file kbuild's configuration step writes, by path."""
    out: dict[str, bytes] = {}
    files = [build_dir / ".config"]
    for d in _CONFIG_DIRS:
        files += [p for p in (build_dir / d).rglob("*") if p.is_file()]
    for p in files:
        rel = str(p.relative_to(build_dir))
        if rel not in _STAMPS:
            with contextlib.suppress(OSError):
                out[rel] = p.read_bytes()
    return out


def _stop(proc: subprocess.Popen[str], hard: bool = False) -> None:
    """Stop make and everything it started (its own session). ``hard``: at once, before
    it can delete a target it had begun (a half-written link output is ours to lose; an
    object the guard stopped it from rebuilding is the user's)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _recorded(build_dir: Path) -> list[str] | None:
    recorded = build_dir / "lldbisect.make-args"
    return recorded.read_text().splitlines() if recorded.exists() else None


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
# LLDBISECT_PAD_OBJ: an object of lldbisect's own added to each vmlinux-stage link.
pad=
previous=
for arg in "$@"; do
	case "$arg" in -v|-V|--version) exec $LLDBISECT_CONFIG_LD "$@" ;; esac
	if [ "$previous" = -o ] && [ -n "${LLDBISECT_PAD_OBJ:-}" ]; then
		case "${arg##*/}" in
		vmlinux|vmlinux.unstripped|.tmp_vmlinux*) pad=$LLDBISECT_PAD_OBJ ;;
		esac
	fi
	previous=$arg
done
[ -n "$pad" ] && set -- "$@" "$pad"
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
