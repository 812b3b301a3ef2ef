"""Relink a build at other layouts until one fails as the report says.

Each layout is the user's own build relinked with a padding object of ours added to
every vmlinux-stage link (the relinker's LD wrapper adds it), in the output section the
build's linker script places between callers and callees. The paddings the layout
model says fail are relinked first, then a uniform sweep of the range. The build
directory is kept aside and put back afterwards, interrupted or not.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from lldbisect.analysis.check import CheckResult, check_build
from lldbisect.analysis.convergence import StageSymbols, Verdict
from lldbisect.errors import InputError, ToolError
from lldbisect.kernel.overlay import PatchedTree
from lldbisect.kernel.relink import KernelRelinker, RelinkTimeout
from lldbisect.kernel.snapshot import kept_build
from lldbisect.layouts.branches import Branch, direct_branches, image_branch_model
from lldbisect.layouts.model import (
    LayoutModel,
    PassModel,
    fit_layout,
    fit_table,
    script_alignments,
    section_layout,
)
from lldbisect.layouts.padding import PadSection, choose_section, landed, write_padding

__all__ = ["Layout", "SweepPlan", "SweepResult", "plan_sweep", "relink_at", "sweep",
           "verify_at"]

_RESOLUTION = 16  # bytes: the model is played at every 16th padding


@dataclass(frozen=True)
class Layout:
    """One relink at one padding."""

    padding: int
    verdict: Verdict
    status: int  # make's exit status
    passes: int
    culprits: tuple[str, ...]
    failure: str | None  # the kernel's own failure message, when it printed one
    seconds: float
    predicted: bool  # tried because the model said it fails
    placed: bool | None = True  # the padding seen in the section; None: unchecked

    @property
    def fails(self) -> bool:
        return self.failure is not None or self.verdict is Verdict.DIVERGED

    @property
    def undecided(self) -> str | None:
        """Why this relink says nothing about the layout (it neither linked clean nor
        failed as the report says); None when it does."""
        if self.fails:
            return None
        if self.status != 0:
            return f"make exit {self.status} without the kernel's kallsyms failure"
        if self.verdict is Verdict.DIVERGED_OTHER:
            return "the passes differ, but no linker-made name explains it"
        return None


@dataclass
class SweepPlan:
    """What to relink, in order, and why."""

    build_dir: Path
    pad: PadSection
    template: Path  # the object whose ELF header the padding copies
    lo: int
    hi: int
    step: int
    predicted: list[int]
    uniform: list[int]
    model: PassModel | None
    model_note: str  # what the model is, or why there is none
    windows: list[tuple[int, int]] = field(default_factory=list)

    @property
    def order(self) -> list[int]:
        return self.predicted + [p for p in self.uniform if p not in self.predicted]

    def uniform_estimate(self) -> int | None:
        """How many relinks a uniform sweep of the range would need to meet a failing
        layout, by the model; None without one, or when none of its points fails."""
        if self.model is None:
            return None
        return next((i + 1 for i, p in enumerate(self.uniform) if self.model.passes(p)[1]),
                    None)


@dataclass
class SweepResult:
    plan: SweepPlan
    ld: str
    layouts: list[Layout]
    stopped: str = ""  # why the sweep stopped before the plan's end (limit, time)

    @property
    def failing(self) -> Layout | None:
        return next((layout for layout in self.layouts if layout.fails), None)

    @property
    def undecided(self) -> list[Layout]:
        return [layout for layout in self.layouts if layout.undecided]

    @property
    def covered(self) -> bool:
        """Every padding of the plan was relinked and judged (or one failed)."""
        return self.failing is not None or (len(self.layouts) == len(self.plan.order)
                                            and not self.undecided)


def plan_sweep(result: CheckResult, lo: int, hi: int, step: int, *,
               section: str | None = None, predict: bool = True) -> SweepPlan:
    """The paddings to relink the build ``result`` judged, model-predicted first.
    Raises InputError when the build has no image to pad or no section to pad in."""
    stages = result.stages
    images = [p.image for p in stages.passes if p.image is not None]
    reference = stages.vmlinux or (images[-1] if images else None)
    if reference is None:
        raise InputError(stages.build_dir, "no linked image (vmlinux or a pass's) to sweep")
    template = stages.vmlinux_o or reference
    machine = _reference_stage(result, reference).table.machine
    bmodel, why = image_branch_model(reference, machine)
    branches = direct_branches(reference, machine)[0] if bmodel else []
    pad = choose_section(reference, stages.linker_script,
                         [(b.site, b.target) for b in branches], section)
    uniform = list(range(lo, hi, step))
    plan = SweepPlan(stages.build_dir, pad, template, lo, hi, step, [], uniform, None, "")
    if not predict:
        plan.model_note = "not used (--no-predict): a uniform sweep"
        return plan
    if bmodel is None:
        plan.model_note = f"none ({why}): a uniform sweep"
        return plan
    crossing = [b for b in branches if (b.site < pad.start) != (b.target < pad.start)]
    if not crossing:
        plan.model_note = f"no direct branch crosses {pad.output}: a uniform sweep"
        return plan
    try:
        script = stages.linker_script.read_text(errors="replace") if stages.linker_script else ""
    except OSError:
        script = ""
    labelled = [(f"pass {p.number}", p.image) for p in stages.passes
                if p.image is not None and p.image != reference]
    layout = fit_layout(reference, pad, {b.moving_section for b in crossing},
                        script_alignments(script), labelled)
    if layout.mismatch:
        plan.model_note = (f"the layout model does not predict the build's own stage"
                           f" ({layout.mismatch}): a uniform sweep")
        return plan
    model = _pass_model(result, reference, pad, layout, crossing)
    plan.model = model
    plan.windows = model.failing(lo, hi, _RESOLUTION)
    plan.predicted = [(a + b) // 2 // _RESOLUTION * _RESOLUTION for a, b in plan.windows]
    nearest = min((b.margin for b in crossing if b.margin >= 0), default=None)
    plan.model_note = (
        f"{len(crossing)} direct branches cross {pad.output} ({why};"
        + (f" nearest its limit: {nearest} B" if nearest is not None else "") + ");"
        f" layout checked against {', '.join(layout.checked) or 'no other stage'};"
        f" kallsyms table {model.table.per_name:.1f} B per visible linker-made name"
        f" ({'measured' if model.table.measured else 'estimated'})")
    return plan


def _reference_stage(result: CheckResult, reference: Path) -> StageSymbols:
    """The comparison's stage read from ``reference`` (not System.map's listing, when
    the failed link left no vmlinux)."""
    stages = result.comparison.stages
    return next((s for s in stages if Path(s.path) == reference), stages[-1])


def _visible_made(stage: StageSymbols) -> int:
    return sum(n for name, n in stage.in_table().items() if name in stage.made)


def _alloc_size(obj: Path) -> int:
    try:
        with open(obj, "rb") as f:
            return sum(s["sh_size"] for s in ELFFile(f).iter_sections()
                       if s["sh_flags"] & 0x2)
    except (OSError, ELFError) as e:
        raise InputError(obj, f"cannot read the kallsyms object: {e}") from None


def _pass_model(result: CheckResult, reference: Path, pad: PadSection, layout: LayoutModel,
                branches: list[Branch]) -> PassModel:
    stages = result.stages
    by_label = {s.label: s for s in result.comparison.stages}
    points: list[tuple[int, int]] = []
    sizes: dict[int, int] = {}
    for p in stages.passes:
        stage = by_label.get(f"pass {p.number}")
        if p.kallsyms_object is not None and p.kallsyms_object.exists() and stage:
            sizes[p.number] = _alloc_size(p.kallsyms_object)
            points.append((_visible_made(stage), sizes[p.number]))
    last = _reference_stage(result, reference)
    visible_ref = _visible_made(last)
    in_table = last.in_table()
    thunks = {b.thunk for b in branches if b.thunk}
    visible_thunks = sum(in_table.get(t, 0) for t in thunks)
    far = {b.callee for b in branches if b.margin < 0}
    hidden = bool(thunks) and visible_thunks == 0
    table = fit_table(points, [t for t in thunks if t in in_table], hidden)
    numbers = [p.number for p in stages.passes]
    if reference == stages.vmlinux:
        table_ref = sizes.get(numbers[-1], table.base) if numbers else table.base
    else:
        table_ref = sizes.get(numbers[-2], 0) if len(numbers) > 1 else 0
    pad_sizes = {s.name: s.size for s in section_layout(reference)}
    first = stages.passes[0].image if stages.passes else None
    growth_first = -table_ref
    if first is not None and first != reference:
        first_sizes = {s.name: s.size for s in section_layout(first)}
        growth_first = first_sizes.get(pad.output, 0) - pad_sizes.get(pad.output, 0)
    ratio = visible_thunks / len(far) if far and visible_thunks else 1.0
    return PassModel(layout, branches, table, visible_ref, table_ref, growth_first, ratio)


def relink_at(relinker: KernelRelinker, ld: str, plan: SweepPlan, padding: int,
              tmp: Path, *, patched: PatchedTree | None = None) -> Layout:
    """One relink with ``padding`` bytes, judged. Raises ToolError when the padding did
    not land where the plan put it (the linker script sent it elsewhere)."""
    obj = tmp / f"lldbisect-pad-{padding}.o"
    if padding:  # padding 0 is the build's own layout: nothing to add
        write_padding(obj, padding, plan.template, plan.pad.input)
    relinker.pad_object = obj if padding else None
    start = time.monotonic()
    try:
        status, log = relinker.relink(ld, patched)
    finally:
        relinker.pad_object = None
        obj.unlink(missing_ok=True)
    seconds = time.monotonic() - start
    kernel = patched.rules_tree if patched is not None else None
    try:
        found = check_build(plan.build_dir, log=log, kernel=kernel)
    except InputError as e:
        if status == 0:
            raise
        # The link left nothing to judge: the linker refused our padding, or the build
        # broke for a reason of its own. A tool failure, not a layout's verdict.
        tail = " | ".join(line.strip() for line in log.strip().splitlines()[-3:])
        raise ToolError(f"the relink at padding {padding} B failed (make exit {status})"
                        f" and left nothing to judge ({e}): {tail}") from None
    images = [p.image for p in found.stages.passes if p.image is not None]
    image = found.stages.vmlinux or (images[-1] if images else None)
    placed = (True if padding == 0  # nothing to place
              else landed(image, plan.pad, padding) if image is not None else None)
    if placed is False:
        raise ToolError(f"{image}: the padding is not in {plan.pad.output}: the linker"
                        f" script did not place input section {plan.pad.input} there")
    c = found.comparison
    return Layout(padding, c.verdict, status, len(found.stages.passes), tuple(c.culprits),
                  found.failure_message, seconds, padding in plan.predicted, placed)


def sweep(relinker: KernelRelinker, ld: str, result: CheckResult, *, lo: int, hi: int,
          step: int, section: str | None = None, predict: bool = True,
          at: int | None = None, relink_first: bool = False, max_relinks: int | None,
          timeout: float, progress: Callable[[str], None]) -> SweepResult:
    """Sweep the build ``result`` judged: plan (model first), relink until a layout
    fails, ``max_relinks`` are done (None: the whole plan) or ``timeout`` seconds are
    spent. ``relink_first``:
    the build's last link is another linker's, so ``ld`` relinks it unpadded first and
    the model is of that link. ``at``: relink at that padding only. The build
    directory is as it was afterwards, whatever happens."""
    deadline = time.monotonic() + timeout
    first: Layout | None = None
    with kept_build(result.stages.build_dir):
        if relink_first:
            progress(f"relinking with {ld} unpadded first: the model must be of its link")
            start = time.monotonic()
            status, log = relinker.relink(ld)
            result = check_build(result.stages.build_dir, log=log)
            c = result.comparison
            first = Layout(0, c.verdict, status, len(result.stages.passes),
                           tuple(c.culprits), result.failure_message,
                           time.monotonic() - start, False)
        plan = plan_sweep(result, lo, hi, step, section=section,
                          predict=predict and at is None)
        if at is not None:
            plan.predicted, plan.uniform = [], [at]
            plan.model_note = f"not used: one relink at padding {at} (--at)"
        progress(f"sweep: model: {plan.model_note}")
        done = SweepResult(plan, ld, [])
        if first is not None and (at is None or at == 0) and (lo == 0 or at == 0):
            done.layouts.append(first)
            progress(_line(1, len(plan.order), first))
            if first.fails:
                return done
        todo = [p for p in plan.order if p not in {x.padding for x in done.layouts}]
        _relink_all(relinker, ld, plan, todo, done,
                    max_relinks=max_relinks,
                    deadline=deadline, timeout=timeout, progress=progress)
    return done


def verify_at(relinker: KernelRelinker, ld: str, plan: SweepPlan, paddings: Sequence[int],
              patched: PatchedTree, *, timeout: float, progress: Callable[[str], None]
              ) -> SweepResult:
    """Relink the patched tree at every one of ``paddings``, failing or not; the build
    directory as it was afterwards."""
    done = SweepResult(plan, ld, [])
    with kept_build(plan.build_dir):
        _relink_all(relinker, ld, plan, list(paddings), done, max_relinks=len(paddings),
                    deadline=time.monotonic() + timeout, timeout=timeout,
                    progress=progress, patched=patched, stop_at_failure=False)
    return done


def _relink_all(relinker: KernelRelinker, ld: str, plan: SweepPlan, todo: list[int],
                done: SweepResult, *, max_relinks: int | None, deadline: float, timeout: float,
                progress: Callable[[str], None], patched: PatchedTree | None = None,
                stop_at_failure: bool = True) -> None:
    said, relinker.progress = relinker.progress, None  # one line per relink, ours
    base_timeout = relinker.timeout
    total = len(done.layouts) + len(todo)
    try:
        with tempfile.TemporaryDirectory(prefix="lldbisect-sweep-") as tmp:
            for padding in todo:
                if max_relinks is not None and len(done.layouts) >= max_relinks:
                    done.stopped = f"--max-relinks {max_relinks} reached"
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    done.stopped = f"--timeout {timeout:.0f} s reached"
                    break
                relinker.timeout = min(base_timeout, left)
                try:
                    layout = relink_at(relinker, ld, plan, padding, Path(tmp),
                                       patched=patched)
                except RelinkTimeout:
                    done.stopped = f"--timeout {timeout:.0f} s reached during a relink"
                    break
                done.layouts.append(layout)
                progress(_line(len(done.layouts), total, layout))
                if layout.fails and stop_at_failure:
                    break
    finally:
        relinker.progress, relinker.timeout = said, base_timeout


def _line(n: int, total: int, layout: Layout) -> str:
    why = " (predicted to fail)" if layout.predicted else ""
    what = ((layout.failure or "").splitlines()[0] if layout.failure else
            f"UNDECIDED ({layout.undecided})" if layout.undecided else layout.verdict.value)
    if layout.placed is None:
        what += " (where the padding went is unchecked)"
    names = (f"; culprits: {', '.join(layout.culprits[:3])}"
             + (" ..." if len(layout.culprits) > 3 else "")) if layout.culprits else ""
    return (f"relink {n}/{total}: padding {layout.padding} B{why}: {what},"
            f" {layout.passes} passes{names} ({layout.seconds:.1f} s)")
