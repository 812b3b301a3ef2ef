"""Find the link stages of a kernel build directory, whatever the kernel's age.

``scripts/link-vmlinux.sh`` has named its temporary images, symbol lists and kallsyms
objects four ways (kernel-formats.md); ``bisect-scripts/ld-keep-stages`` keeps copies of
every image it links in ``.lldbisect-stages/``, for kernels that delete them on failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lldbisect.errors import InputError

__all__ = ["KEEP_DIR", "Pass", "Stages", "find_stages"]

KEEP_DIR = ".lldbisect-stages"
FAILURE = re.compile(r"Inconsistent kallsyms data")
EXTRA_PASS_HINT = re.compile(r"Try \"?make KALLSYMS_EXTRA_PASS=1\"? as a workaround")


@dataclass(frozen=True)
class Pass:
    """One kallsyms pass: the image it linked, its symbol list, the kallsyms object
    made from it (linked into the next pass) and that object's size."""

    number: int
    image: Path | None
    syms: Path | None
    kallsyms_object: Path | None

    @property
    def kallsyms_size(self) -> int | None:
        if self.kallsyms_object is None or not self.kallsyms_object.exists():
            return None
        return self.kallsyms_object.stat().st_size


@dataclass(frozen=True)
class Stages:
    """Everything ``check`` reads from one build directory."""

    build_dir: Path
    layout: str
    passes: tuple[Pass, ...]
    vmlinux: Path | None
    system_map: Path | None
    vmlinux_o: Path | None
    linker_script: Path | None
    source_tree: Path | None
    release: str | None

    @property
    def third_pass(self) -> bool:
        return len(self.passes) >= 3

    def inputs(self) -> list[Path]:
        """What every pass links: vmlinux.o and the kallsyms objects."""
        objs = [p.kallsyms_object for p in self.passes if p.kallsyms_object is not None]
        return ([self.vmlinux_o] if self.vmlinux_o else []) + [o for o in objs if o.exists()]


_LAYOUTS = (
    # (name, image, symbol list, kallsyms object) patterns with {n} for the pass
    ("6.10+", ".tmp_vmlinux{n}", ".tmp_vmlinux{n}.syms", ".tmp_vmlinux{n}.kallsyms.o"),
    ("6.1-6.9", ".tmp_vmlinux.kallsyms{n}", ".tmp_vmlinux.kallsyms{n}.syms",
     ".tmp_vmlinux.kallsyms{n}.o"),
    ("5.7-6.0", ".tmp_vmlinux.kallsyms{n}", None, ".tmp_vmlinux.kallsyms{n}.o"),
    ("3.x-5.6", ".tmp_vmlinux{n}", None, ".tmp_kallsyms{n}.o"),
)


def find_stages(build_dir: Path | str) -> Stages:
    """The link stages of ``build_dir``. Raises InputError when there are none."""
    d = Path(build_dir)
    if not d.is_dir():
        raise InputError(d, "not a directory: expected a kernel build directory")
    keep = d / KEEP_DIR
    # Two layouts share image names: pick the one whose symbol lists and kallsyms
    # objects are there too.
    best: tuple[float, str, list[Pass]] = (0, "none", [])
    for name, image, syms, obj in _LAYOUTS:
        passes: list[Pass] = []
        score = 0.0
        for n in (1, 2, 3):
            img = _existing(d, keep, image.format(n=n))
            sym = _existing(d, keep, syms.format(n=n)) if syms else None
            o = _existing(d, keep, obj.format(n=n))
            if img is None and sym is None and o is None:
                break
            score += 1 + (sym is not None) + (o is not None)
            passes.append(Pass(n, img, sym, o))
        if syms and not any(p.syms for p in passes):
            score -= 0.5  # a layout that writes symbol lists, but none is here
        if score > best[0]:
            best = (score, name, passes)
    _, name, passes = best
    passes = _fresh(passes)
    old_map = d / ".tmp_System.map"
    if passes and passes[-1].syms is None and old_map.is_file():
        last = passes[-1]  # before 6.1 only the last pass's list is kept, under this name
        passes[-1] = Pass(last.number, last.image, old_map, last.kallsyms_object)
    newest_pass = max((_mtime(p) for p in passes), default=0.0)
    # Since 6.15 the final link is vmlinux.unstripped and vmlinux its copy without
    # relocations (same symbols); either is the final image.
    vmlinux = next((d / n for n in ("vmlinux", "vmlinux.unstripped")
                    if _is_fresh(d / n, newest_pass)), None)
    if not passes and vmlinux is None:
        raise InputError(d, "no link stages: no .tmp_vmlinux* images, no .syms lists and no"
                            " vmlinux (was the build kept? see bisect-scripts/ld-keep-stages)")
    if not passes:
        name = "vmlinux only"
    lds = next(iter(sorted(d.glob("arch/*/kernel/vmlinux.lds"))), None)
    source = d / "source"
    release = d / "include" / "config" / "kernel.release"
    return Stages(
        build_dir=d, layout=name, passes=tuple(passes), vmlinux=vmlinux,
        system_map=d / "System.map" if _is_fresh(d / "System.map", newest_pass) else None,
        vmlinux_o=d / "vmlinux.o" if (d / "vmlinux.o").is_file() else None,
        linker_script=lds,
        source_tree=(source.resolve() if source.exists() else
                     d if (d / "scripts" / "kallsyms.c").exists() else None),
        release=release.read_text().strip() if release.is_file() else None,
    )


def _mtime(p: Pass) -> float:
    return max((f.stat().st_mtime for f in (p.image, p.syms, p.kallsyms_object)
                if f is not None), default=0.0)


def _fresh(passes: list[Pass]) -> list[Pass]:
    """The passes of the latest link: a pass older than the one before it was left by
    an earlier build (link-vmlinux.sh does not delete a third pass it no longer needs).
    Whether a third pass runs changed with kernel commit 951bcae6c5a0 ("kallsyms: Avoid
    weak references for kallsyms symbols"), after which it always ran until 6.10."""
    out: list[Pass] = []
    for p in passes:
        if out and _mtime(p) < _mtime(out[-1]):
            break
        out.append(p)
    return out


def _is_fresh(path: Path, newest_pass: float) -> bool:
    return path.is_file() and path.stat().st_mtime >= newest_pass


def _existing(d: Path, keep: Path, name: str) -> Path | None:
    for candidate in (d / name, keep / name):
        if candidate.is_file():
            return candidate
    return None


def failure_message(log: str) -> str | None:
    """The kernel's own failure lines from a build log, or None."""
    lines = [ln.strip() for ln in log.splitlines()
             if FAILURE.search(ln) or EXTRA_PASS_HINT.search(ln)]
    return "\n".join(lines) if lines else None
