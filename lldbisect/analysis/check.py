"""``check``: read a kernel build directory's link stages and judge its convergence.

Files -> symbols -> rules -> comparison: this module only gathers the files and hands
them, read, to ``convergence.compare``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lldbisect.analysis.convergence import Comparison, StageSymbols, compare, linker_made
from lldbisect.elf.nmlist import read_symbol_file
from lldbisect.elf.reader import linker_identity, read_symbols
from lldbisect.elf.table import SymbolTable
from lldbisect.errors import InputError
from lldbisect.kernel.rules import RuleSet, load_rules
from lldbisect.kernel.stages import Stages, failure_message, find_stages

__all__ = ["CheckResult", "check_build", "diff_files", "script_symbols"]

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
    names: set[str] = set()
    for p in paths:
        names.update(read_symbols(p).names)
    return names


def _stage(label: str, path: Path, rules: RuleSet, inputs: set[str] | None,
           script: set[str]) -> StageSymbols:
    table: SymbolTable = read_symbol_file(path)
    made = linker_made(table, inputs, script)
    return StageSymbols(label, str(path), table, rules.apply(table), made)


def check_build(build_dir: Path | str, *, log: str | None = None,
                kernel: Path | str | None = None) -> CheckResult:
    """Judge a kernel build directory. Raises InputError/RulesError for what it cannot
    read (no stages, no kernel tree for the rules)."""
    stages = find_stages(build_dir)
    tree = kernel or stages.source_tree
    if tree is None:
        raise InputError(stages.build_dir, "no `source` link and no scripts/: give the"
                                           " kernel tree with --kernel")
    rules = load_rules(tree)
    input_paths = stages.inputs()
    inputs = _input_names(input_paths) if stages.vmlinux_o is not None else None
    script = script_symbols(stages.linker_script)
    read: list[StageSymbols] = []
    for p in stages.passes:
        src = p.image or p.syms
        if src is not None:
            read.append(_stage(f"pass {p.number}", src, rules, inputs, script))
    final = stages.vmlinux or stages.system_map
    if final is not None:
        read.append(_stage("vmlinux" if final == stages.vmlinux else "System.map", final,
                           rules, inputs, script))
    last_syms = stages.passes[-1].syms if stages.passes else None
    matches = None
    if stages.system_map is not None and last_syms is not None:
        matches = stages.system_map.read_bytes() == last_syms.read_bytes()
    message = failure_message(log) if log is not None else None
    comparison = compare(read, rules, kernel_failed=None if log is None else bool(message),
                         final_differs=None if matches is None else not matches,
                         final=final is not None)
    return CheckResult(stages, rules, comparison, message, matches,
                       [str(p) for p in input_paths] if inputs is not None else [])


def diff_files(a: Path, b: Path, kernel: Path | str, inputs: list[Path] | None = None
               ) -> Comparison:
    """The same comparison for any two ELF files or nm listings, with a tree's rules."""
    rules = load_rules(kernel)
    names = _input_names(inputs) if inputs else None
    stages = [_stage(str(a), a, rules, names, set()), _stage(str(b), b, rules, names, set())]
    return compare(stages, rules, kernel_failed=None, final_differs=None, final=False)
