"""``check``: read a kernel build directory's link stages and judge its convergence.

Files -> symbols -> rules -> comparison: this module only gathers the files and hands
them, read, to ``convergence.compare``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lldbisect.analysis.convergence import (
    SHAPES_ONLY,
    Comparison,
    Corpus,
    Evidence,
    EvidenceSource,
    StageSymbols,
    compare,
    linker_made,
)
from lldbisect.analysis.crosscheck import CrossCheck, cross_check
from lldbisect.elf.archive import is_archive, member_files
from lldbisect.elf.nmlist import read_symbol_file
from lldbisect.elf.reader import linker_identity, read_symbols
from lldbisect.elf.table import SymbolTable
from lldbisect.errors import InputError, RulesError, ToolError, UndecidedError
from lldbisect.kernel.realtools import RealTools
from lldbisect.kernel.rules import (
    RuleSet,
    Visibility,
    find_source_tree,
    kallsyms_labels,
    load_rules,
)
from lldbisect.kernel.stages import Stages, failure_message, find_stages
from lldbisect.linkers.defaults import default_script_symbols

__all__ = ["CheckResult", "check_build", "diff_files", "judge",
           "load_judged_rules", "script_symbols"]

_ASSIGNMENT = re.compile(r"(?:PROVIDE(?:_HIDDEN)?\s*\(\s*)?\b([A-Za-z_$][\w.$]*)\s*=(?!=)")


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found in one build directory."""

    stages: Stages
    rules: RuleSet
    comparison: Comparison
    failure_message: str | None
    system_map_matches: bool | None
    inputs_used: list[str]
    cross_checks: list[CrossCheck] = field(default_factory=list)
    cross_check_note: str = ""  # why none ran, or why it could not

    def linker(self) -> str | None:
        """The linker named in the final or last stage image's .comment, if it names
        itself (lld does, GNU ld does not); None also for nm listings named like images."""
        images = [p.image for p in self.stages.passes if p.image is not None]
        image = self.stages.vmlinux or (images[-1] if images else None)
        if image is None:
            return None
        try:
            return linker_identity(image)
        except InputError:
            return None


def script_symbols(lds: Path | None) -> set[str]:
    """Names a (preprocessed) linker script defines: ``NAME = …`` and ``PROVIDE(NAME = …)``."""
    if lds is None:
        return set()
    try:
        text = lds.read_text(errors="replace")
    except OSError as e:
        raise InputError(lds, f"cannot read: {e.strerror}") from None
    return set(_ASSIGNMENT.findall(text))


def _input_names(paths: list[Path]) -> set[str]:
    """Every name the objects (or archives of objects) ``paths`` hold."""
    names: set[str] = set()
    for p in paths:
        if is_archive(p):
            with member_files(p) as objs:
                for o in objs:
                    names.update(read_symbols(o).names)
        else:
            names.update(read_symbols(p).names)
    return names


# Objects link-vmlinux.sh links besides vmlinux.o (6.2+), and the archives vmlinux.o is
# made of, newest layout first: 6.1+ vmlinux.a, then the top-level built-in.a of 4.x-5.x.
_EXTRA_OBJECTS = (".vmlinux.export.o", "init/version-timestamp.o")
_ARCHIVES = ("vmlinux.a", "built-in.a")
_LIBS = ("lib/lib.a", "arch/*/lib/lib.a")


def _extra_objects(d: Path) -> list[Path]:
    return [d / n for n in _EXTRA_OBJECTS if (d / n).is_file()]


def _object_names(d: Path) -> tuple[set[str], list[str]] | None:
    """The names of every object vmlinux.o was made of, from the build's archives, or
    None when the build has none."""
    top = next((d / a for a in _ARCHIVES if (d / a).is_file()), None)
    if top is None:
        return None
    archives = [top, *(p for pat in _LIBS for p in sorted(d.glob(pat)))]
    names: set[str] = set()
    files: list[str] = []
    for a in archives:
        with member_files(a) as objs:
            for o in objs:
                names.update(read_symbols(o).names)
            files.append(f"{a.relative_to(d)} ({len(objs)} objects)")
    return names, files


def gather_evidence(stages: Stages) -> tuple[set[str] | None, Evidence, bool]:
    """The names the link read, what they come from, and whether only local names may
    count as linker-made (the linker script is missing, so global names in no input are
    taken for its assignments)."""
    notes = []
    local_only = stages.linker_script is None
    if local_only:
        notes.append("no arch/*/kernel/vmlinux.lds: global names in no input are taken for"
                     " linker-script symbols (no linker makes global ones)")
    kallsyms_objs = [o for o in stages.inputs() if o != stages.vmlinux_o]
    extra = _extra_objects(stages.build_dir)
    if stages.vmlinux_o is not None:
        paths = [stages.vmlinux_o, *extra, *kallsyms_objs]
        return (_input_names(paths), Evidence(EvidenceSource.INPUTS,
                                              tuple(map(str, paths)), tuple(notes)),
                local_only)
    found = _object_names(stages.build_dir)
    if found is not None:
        names, files = found
        names |= _input_names([*extra, *kallsyms_objs])
        notes.append("vmlinux.o is gone: compared with the archives it is made of; names"
                     " in no object count only if local")
        return names, Evidence(EvidenceSource.OBJECTS, tuple(files), tuple(notes)), True
    return None, Evidence(EvidenceSource.SHAPES, (), tuple(notes)), local_only


def load_corpus(paths: list[Path] | None = None) -> Corpus | None:
    """The names of real kernels to check patterns against: ``paths`` (ELF images or nm
    listings), else the distribution kernels already in the cache (``lldbisect`` never
    downloads one unasked: `kernel/sources.distro_vmlinux`). None when there are none."""
    if paths is None:
        from lldbisect.cache import cache_dir

        paths = sorted((cache_dir() / "vmlinux").glob("vmlinux-*"))
    names: set[str] = set()
    for p in paths:
        names.update(read_symbol_file(p).names)
    return Corpus(tuple(p.name for p in paths), frozenset(names)) if paths else None


def _stage(label: str, path: Path, rules: RuleSet, inputs: set[str] | None,
           script: set[str], local_only: bool = False) -> StageSymbols:
    table: SymbolTable = read_symbol_file(path)
    # What the linker defines of itself, in a fixed number (its default script's, its
    # reserved symbols), is no thunk: known even where the build kept no script.
    script = script | default_script_symbols(table.machine)
    made = linker_made(table, inputs, script, local_only=local_only)
    return StageSymbols(label, str(path), table, rules.apply(table), made)


def _same_target(stages: list[StageSymbols]) -> None:
    """Every ELF stage of one link is of one machine and class: anything else is a
    file from another build, and comparing it would give a verdict about nothing."""
    elves = [s for s in stages if s.table.machine != "nm listing"]
    for s in elves[1:]:
        first = elves[0]
        if (s.table.machine, s.table.elf_class) != (first.table.machine,
                                                      first.table.elf_class):
            raise InputError(s.path, f"a {s.table.elf_class}-bit {s.table.machine} file,"
                                     f" but {first.path} is {first.table.elf_class}-bit"
                                     f" {first.table.machine}: not stages of one link")


def load_judged_rules(tree: Path | str, run_scripts: bool) -> RuleSet:
    """The tree's rules for a command that can run the tree's own scripts: with
    ``run_scripts`` a file the model cannot read is left to them (``RuleSet.unread``);
    without, the error says that running them would answer."""
    try:
        return load_rules(tree, partial=run_scripts)
    except RulesError as e:
        if run_scripts:
            raise
        try:
            load_rules(tree, partial=True)
        except RulesError:
            raise e from None
        hint = " (--run-scripts takes the answer from running the tree's own scripts)"
        raise RulesError(e.path or str(tree), e.line, e.detail + hint) from None


def _no_answer(rules: RuleSet, e: ToolError) -> RulesError:
    return RulesError(rules.tree, None, f"the model could not read {'; '.join(rules.unread)},"
                                        f" and the tree's own scripts could not run"
                                        f" ({e.message}): no answer")


def judge(rules: RuleSet) -> Callable[[SymbolTable], Visibility]:
    """What the tree hides of a table: the model's answer where it read every file,
    else the tree's own scripts' (run, as ``verify_stages`` runs them)."""
    if not rules.unread:
        return rules.apply
    source = find_source_tree(Path(rules.tree))
    tools = RealTools(source, rules.kallsyms_reads_sysmap, tuple(kallsyms_labels(source)))

    def real(table: SymbolTable) -> Visibility:
        try:
            return cross_check("names", rules.apply(table), tools)[1]
        except ToolError as e:
            raise _no_answer(rules, e) from None
    return real


def verify_stages(stages: list[StageSymbols], rules: RuleSet, tree: Path
                  ) -> tuple[list[StageSymbols], list[CrossCheck], str]:
    """Each stage's visibility checked against the tree's own scripts; where they
    disagree, the real tools' visibility replaces the model's. A tool that cannot run
    leaves the model's answer, and the note says why."""
    source = find_source_tree(tree)
    tools = RealTools(source, rules.kallsyms_reads_sysmap, tuple(kallsyms_labels(source)))
    checks = []
    out = []
    try:
        for s in stages:
            check, vis = cross_check(s.label, s.visibility, tools)
            checks.append(check)
            out.append(s if vis is s.visibility else replace(s, visibility=vis))
    except ToolError as e:
        if rules.unread:  # no model answer to fall back on
            raise _no_answer(rules, e) from None
        return stages, [], f"the tree's own scripts could not run ({e.message}): the" \
                           " model's answer is used, unchecked"
    return out, checks, ""


def check_build(build_dir: Path | str, *, log: str | None = None,
                kernel: Path | str | None = None,
                corpus: list[Path] | None = None,
                run_scripts: bool | None = None) -> CheckResult:
    """Judge a kernel build directory. Raises InputError/RulesError for what it cannot
    read (no stages, no kernel tree for the rules).

    ``run_scripts``: check the model against the tree's own mksysmap and kallsyms (None:
    only where the tree is the build's own source, which the user builds anyway)."""
    stages = find_stages(build_dir)
    tree = kernel or stages.source_tree
    if tree is None:
        raise InputError(stages.build_dir, "no `source` link and no scripts/: give the"
                                           " kernel tree with --kernel")
    run = bool(run_scripts or (run_scripts is None and kernel is None))
    rules = load_judged_rules(tree, run)
    inputs, evidence, local_only = gather_evidence(stages)
    script = script_symbols(stages.linker_script)
    read: list[StageSymbols] = []
    for p in stages.passes:
        src = p.image or p.syms
        if src is not None:
            read.append(_stage(f"pass {p.number}", src, rules, inputs, script, local_only))
    final = stages.vmlinux or stages.system_map
    if final is not None:
        read.append(_stage("vmlinux" if final == stages.vmlinux else "System.map", final,
                           rules, inputs, script, local_only))
    _same_target(read)
    checks: list[CrossCheck] = []
    note = "not run: the rules' tree is not this build's own (--run-scripts runs them)"
    if run:
        read, checks, note = verify_stages(read, rules, Path(tree))
    elif run_scripts is False:
        note = "not run (--no-run-scripts)"
    if len(read) < 2:
        only = read[0].label if read else "nothing"
        raise UndecidedError(f"{stages.build_dir}: only one link stage ({only}): nothing to"
                             " compare, so no verdict (was the build cut short, or the"
                             " stages deleted? see bisect-scripts/ld-keep-stages)")
    last_syms = stages.passes[-1].syms if stages.passes else None
    matches = None
    if stages.system_map is not None and last_syms is not None:
        matches = stages.system_map.read_bytes() == last_syms.read_bytes()
    message = failure_message(log) if log is not None else None
    comparison = compare(read, rules, kernel_failed=None if log is None else bool(message),
                         final_differs=None if matches is None else not matches,
                         final=final is not None, evidence=evidence,
                         corpus=load_corpus(corpus))
    return CheckResult(stages, rules, comparison, message, matches, list(evidence.files),
                       checks, note)


def diff_files(a: Path, b: Path, kernel: Path | str, inputs: list[Path] | None = None,
               corpus: list[Path] | None = None, run_scripts: bool = False
               ) -> tuple[Comparison, list[CrossCheck], str]:
    """The same comparison for any two ELF files or nm listings, with a tree's rules;
    with ``run_scripts``, checked against the tree's own scripts."""
    rules = load_judged_rules(kernel, run_scripts)
    names = _input_names(inputs) if inputs else None
    evidence = (Evidence(EvidenceSource.INPUTS, tuple(map(str, inputs))) if inputs
                else SHAPES_ONLY)
    stages = [_stage(str(a), a, rules, names, set()), _stage(str(b), b, rules, names, set())]
    _same_target(stages)
    checks: list[CrossCheck] = []
    note = "not run (--run-scripts runs the tree's own scripts)"
    if run_scripts:
        stages, checks, note = verify_stages(stages, rules, Path(kernel))
    return (compare(stages, rules, kernel_failed=None, final_differs=None, final=False,
                    evidence=evidence, corpus=load_corpus(corpus)), checks, note)
