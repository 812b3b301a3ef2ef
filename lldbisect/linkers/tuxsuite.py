"""The validation matrix as a TuxSuite plan, and TuxSuite's results read back.

A TuxSuite build runs in a container of TuxMake's: its compiler and linker are that
toolchain's, never a binary of the user's. So a linker under test is named by its
release (``ld.lld`` 19 -> toolchain ``clang-19`` with ``LLVM=1 LLVM_IAS=1``: the
container's ld.lld of the same major release, not necessarily the same patch level),
a GNU ld by ``LD=<cross prefix>ld`` beside the new linker's clang (the container's
binutils), and a linker built from an LLVM revision cannot be sent at all. A kernel
tree is sent as a git repository and ref: its own remote and commit when it is a git
checkout, else the stable tree's tag of its version (a Debian ``linux-source`` tree:
Debian's own patches are not in that tag). The plan says each of these in its
description, and ``tuxsuite plan submit --json-out`` gives back one status per build.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lldbisect.arch import Arch
from lldbisect.errors import InputError, ToolError

__all__ = ["STABLE_REPO", "KernelRef", "PlanBuild", "Toolchain", "TuxResult",
           "build_plan", "kernel_ref", "read_results", "submit", "toolchain_for",
           "tux_target"]

STABLE_REPO = "https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git"

# TuxMake's name of each architecture row (arch.py), and the config it builds there:
# the kernel's own defconfig, but for the two rows ARCH=powerpc and ARCH=x86 share.
_TUX = {"EM_ARM": ("arm", "defconfig"), "EM_AARCH64": ("arm64", "defconfig"),
        "EM_MIPS": ("mips", "defconfig"), "EM_PPC64": ("powerpc", "ppc64le_defconfig"),
        "EM_PPC": ("powerpc", "pmac32_defconfig"), "EM_X86_64": ("x86_64", "defconfig"),
        "EM_386": ("i386", "defconfig"), "EM_RISCV": ("riscv", "defconfig"),
        "EM_LOONGARCH": ("loongarch", "defconfig"), "EM_S390": ("s390", "defconfig"),
        "EM_QDSP6": ("hexagon", "defconfig")}


def tux_target(arch: Arch) -> tuple[str, str]:
    """TuxMake's ``target_arch`` for an architecture row, and its ``kconfig``."""
    return _TUX[arch.elf_machine]


@dataclass(frozen=True)
class KernelRef:
    label: str  # the kernel's version, as the validation report names it
    git_repo: str
    git_ref: str  # a tag or branch (git_ref) ...
    git_sha: str | None  # ... or a commit (git_sha), as TuxSuite takes them
    note: str  # where it came from


def kernel_ref(label: str, tree: Path, version: str) -> KernelRef:
    """The git repository and ref TuxSuite can fetch ``tree`` from."""
    from lldbisect.bisect.gitrepo import checkout_origin

    origin = checkout_origin(tree)
    if origin is not None and origin.url:
        if not re.match(r"^(https?|git)://", origin.url):
            raise InputError(tree, f"its remote {origin.url} is not one TuxSuite can fetch"
                                   " (https:// or git://)")
        if origin.dirty:
            raise InputError(tree, "has changes not committed: TuxSuite builds commits")
        return KernelRef(label, origin.url, "", origin.sha,
                         f"{origin.url} at {origin.sha[:12]}")
    m = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", version)
    if m is None:
        raise InputError(tree, f"no git remote, and its version {version!r} names no"
                               " stable tag")
    tag = f"v{m.group(1)}.{m.group(2)}" + (f".{m.group(3)}" if m.group(3) not in
                                            (None, "0") else "")
    return KernelRef(label, STABLE_REPO, tag, None,
                     f"the stable tree's {tag} (no git checkout: a distribution's own"
                     " patches to it are not in the tag)")


@dataclass(frozen=True)
class Toolchain:
    label: str  # the linker as the user gave it
    role: str  # "new" or "baseline"
    toolchain: str  # TuxMake's toolchain: clang-19
    make_variables: dict[str, str]
    note: str


def toolchain_for(ld: str, version_line: str, role: str, clang_major: int | None,
                  arch: Arch | None = None) -> Toolchain:
    """The TuxMake toolchain that stands for the linker ``ld`` (its ``--version`` first
    line ``version_line``). ``clang_major``: the clang release a GNU ld is paired with.
    Raises InputError for a linker no TuxSuite container has."""
    m = re.search(r"\bLLD (\d+)\.(\d+)\.(\d+)(\S*)", version_line)
    if m:
        if m.group(4) or re.search(r"\([^)]*(?:github|llvm-project|git)[^)]*\)",
                                   version_line):
            raise InputError(ld, f"{version_line.strip()} is built from an LLVM revision:"
                                 " TuxSuite builds only with its released toolchains")
        major = int(m.group(1))
        return Toolchain(ld, role, f"clang-{major}", {"LLVM": "1", "LLVM_IAS": "1"},
                         f"{ld} (LLD {m.group(1)}.{m.group(2)}.{m.group(3)}) stands as"
                         f" clang-{major}'s own ld.lld {major}.x")
    if "GNU ld" in version_line and "gold" not in version_line.lower():
        if clang_major is None:
            raise InputError(ld, "a GNU ld needs an lld beside it to pick the clang")
        prefix = arch.cross_prefixes[0] if arch and arch.cross_prefixes else ""
        return Toolchain(ld, role, f"clang-{clang_major}",
                         {"LLVM": "1", "LLVM_IAS": "1", "LD": f"{prefix}ld"},
                         f"{ld} stands as the container's GNU ld ({prefix}ld), not"
                         f" {version_line.strip()}")
    raise InputError(ld, f"neither lld nor GNU ld ({version_line.strip()}): no TuxSuite"
                         " toolchain has it")


@dataclass(frozen=True)
class PlanBuild:
    """One build of the plan, with what it stands for in the validation."""

    arch: Arch
    kernel: KernelRef
    linker: Toolchain
    build: dict[str, Any]


def build_plan(arches: Sequence[Arch], kernels: Sequence[KernelRef],
               linkers: Sequence[Sequence[Toolchain]], name: str
               ) -> tuple[dict[str, Any], list[PlanBuild]]:
    """The TuxSuite plan (version 1) of every architecture x kernel x linker, one job
    per kernel and linker; ``linkers[i]`` is one linker's toolchain per architecture.
    Returns the plan and its builds, in order."""
    jobs: list[dict[str, Any]] = []
    builds: list[PlanBuild] = []
    for kernel in kernels:
        for per_arch in linkers:
            entries = []
            for arch, tc in zip(arches, per_arch, strict=True):
                target_arch, kconfig = tux_target(arch)
                build: dict[str, Any] = {
                    "git_repo": kernel.git_repo, "target_arch": target_arch,
                    "toolchain": tc.toolchain, "kconfig": kconfig,
                    "targets": ["config", "kernel"],
                    "make_variables": dict(tc.make_variables)}
                if kernel.git_sha:
                    build["git_sha"] = kernel.git_sha
                else:
                    build["git_ref"] = kernel.git_ref
                entries.append(build)
                builds.append(PlanBuild(arch, kernel, tc, build))
            jobs.append({"name": f"{kernel.label} {per_arch[0].role} {per_arch[0].label}",
                         "builds": entries})
    notes = list(dict.fromkeys([k.note for k in kernels]
                               + [tc.note for per in linkers for tc in per]))
    plan = {"version": 1, "name": name,
            "description": "lldbisect validate: " + "; ".join(notes), "jobs": jobs}
    return plan, builds


def check_with_client(plan: dict[str, Any], path: Path) -> str:
    """Check ``plan`` (written at ``path``) with the tuxsuite client's own plan schema
    and plan loader. Returns what was checked; raises InputError when the client
    rejects it."""
    try:
        import tuxsuite.config
        import tuxsuite.schema
    except ImportError:
        return "not checked: the tuxsuite client is not installed (pip install tuxsuite)"
    try:
        tuxsuite.schema.plan()(plan)
        loaded = tuxsuite.config.PlanConfig(None, None, str(path))
    except Exception as e:  # voluptuous and the client raise their own kinds
        raise InputError(path, f"the tuxsuite client rejects the plan: {e}") from None
    if loaded.schema_warning:
        raise InputError(path, f"the tuxsuite client rejects the plan:"
                               f" {loaded.schema_warning}")
    return "checked with the tuxsuite client's plan schema and loader"


def submit(plan_file: Path, json_out: Path, timeout: float) -> None:
    """``tuxsuite plan submit --json-out``, with the user's own token (the client reads
    it from TUXSUITE_TOKEN or its config; we never see it). Raises ToolError when the
    client is missing or fails (no token, the service cannot be reached)."""
    client = shutil.which("tuxsuite")
    if client is None:
        raise ToolError("the tuxsuite client is not installed (pip install tuxsuite)")
    try:
        done = subprocess.run([client, "plan", "submit", "--json-out", str(json_out),
                               str(plan_file)], capture_output=True, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolError(f"tuxsuite plan submit: no answer in {timeout:.0f} s") from None
    if not json_out.is_file():
        lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines()
                 if ln.strip()]
        raise ToolError(f"tuxsuite plan submit failed (exit {done.returncode}):"
                        f" {lines[-1][:300] if lines else 'no message'}")


@dataclass(frozen=True)
class TuxResult:
    """One build's outcome on TuxSuite, matched to the plan's build."""

    build: PlanBuild | None  # None: a build the plan does not have
    uid: str
    state: str  # pass, fail, error (TuxSuite's infrastructure), or unfinished
    kallsyms: bool  # the failure message is the kernel's kallsyms one
    message: str
    log: str  # where the build's log is

    @property
    def label(self) -> str:
        b = self.build
        if b is None:
            return f"build {self.uid} (not in the plan)"
        return (f"{b.arch.kernel_arch}/{b.build['kconfig']} {b.kernel.label}"
                f" {b.linker.role} {b.linker.label} ({b.linker.toolchain})")


_KALLSYMS = "Inconsistent kallsyms data"


def read_results(path: Path, builds: Sequence[PlanBuild]) -> list[TuxResult]:
    """The builds of a ``tuxsuite plan submit --json-out`` file, each matched to the
    plan's build by what it built. Raises InputError for a file not of that shape."""
    try:
        doc = json.loads(path.read_text())
        statuses = doc["builds"]
        if not isinstance(statuses, dict):
            raise TypeError
    except OSError as e:
        raise InputError(path, f"cannot read the results: {e.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise InputError(path, "not a tuxsuite --json-out file (no \"builds\" object)"
                         ) from None
    results = []
    for uid, status in statuses.items():
        if not isinstance(status, dict):
            raise InputError(path, f"build {uid}: not an object")
        match = next((b for b in builds if _same(b.build, status)), None)
        tux_state = str(status.get("tuxbuild_status", status.get("state", "")))
        outcome = str(status.get("build_status", ""))
        message = str(status.get("status_message") or "")
        if tux_state == "complete" and outcome in ("pass", "fail"):
            state = outcome
        elif tux_state in ("error", "canceled") or outcome in ("error", "canceled"):
            state = "error"
        else:
            state = "unfinished"
        url = str(status.get("download_url") or "")
        results.append(TuxResult(match, str(uid), state, _KALLSYMS in message, message,
                                 url.rstrip("/") + "/build.log" if url else ""))
    return results


def _same(build: dict[str, Any], status: dict[str, Any]) -> bool:
    keys = ("target_arch", "toolchain", "kconfig", "git_repo")
    if any(str(_first(status.get(k))) != str(_first(build.get(k))) for k in keys):
        return False
    ref = build.get("git_sha") or build.get("git_ref")
    if ref and ref not in (status.get("git_sha"), status.get("git_ref")):
        return False
    given = {str(k): str(v) for k, v in (status.get("make_variables") or {}).items()}
    return bool(given == build["make_variables"])


def _first(value: Any) -> Any:
    """TuxSuite gives ``kconfig`` as a list; the plan may give one string."""
    return value[0] if isinstance(value, list) and value else value


@dataclass(frozen=True)
class TuxVerdict:
    """What the TuxSuite builds say of the new linker."""

    regressions: list[TuxResult]  # the new linker's builds that fail where the baseline's pass
    missing: list[PlanBuild]  # planned builds with no finished pass or fail
    results: list[TuxResult]

    @property
    def complete(self) -> bool:
        return not self.missing


def judge_results(results: Sequence[TuxResult], builds: Sequence[PlanBuild]) -> TuxVerdict:
    """A new-linker build is a regression when it fails and the baseline's build of the
    same architecture and kernel passes, or when it fails with the kernel's kallsyms
    message and the baseline's does not."""
    done = {id(r.build): r for r in results if r.build is not None
            and r.state in ("pass", "fail")}
    missing = [b for b in builds if id(b) not in done]
    regressions = []
    for b in builds:
        new = done.get(id(b))
        if b.linker.role != "new" or new is None or new.state != "fail":
            continue
        base = next((done.get(id(o)) for o in builds if o.linker.role == "baseline"
                     and o.arch == b.arch and o.kernel == b.kernel), None)
        if base is None:
            continue  # listed as missing: no verdict without the baseline's build
        if base.state == "pass" or (new.kallsyms and not base.kallsyms):
            regressions.append(new)
    return TuxVerdict(regressions, missing, list(results))


def plan_matrix(new_ld: str, old_ld: str, arch_names: Sequence[str],
                kernels: Sequence[tuple[str, Path, str]]
                ) -> tuple[dict[str, Any], list[PlanBuild]]:
    """The plan of architecture x kernel x linker for ``validate``: ``arch_names`` the
    kernel ARCHes asked for (all when empty), ``kernels`` (label, tree, version). Raises
    InputError for a linker or tree TuxSuite cannot build with."""
    from lldbisect.arch import ARCHES
    from lldbisect.linkers.identity import version_line

    if not kernels:
        raise InputError(None, "--tuxsuite-plan needs a --kernel tree: TuxSuite builds"
                               " kernels")
    rows = [a for a in ARCHES if not arch_names or a.kernel_arch in arch_names]
    lines = {ld: version_line(ld) for ld in (new_ld, old_ld)}
    lld_major = next((int(m.group(1)) for ld in (new_ld, old_ld)
                      if (m := re.search(r"\bLLD (\d+)\.", lines[ld]))), None)
    linkers = [[toolchain_for(ld, lines[ld], role, lld_major, a) for a in rows]
               for ld, role in ((new_ld, "new"), (old_ld, "baseline"))]
    refs = [kernel_ref(label, tree, version) for label, tree, version in kernels]
    return build_plan(rows, refs, linkers, f"lldbisect validate {new_ld} against {old_ld}")
