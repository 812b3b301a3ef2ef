"""A kernel tree's kallsyms ignore rules as one rule set, and what they hide.

``load_rules(tree)`` reads ``scripts/mksysmap`` and ``scripts/kallsyms.c`` of a source
tree or an ``O=`` build directory (through its ``source`` link); ``RuleSet.apply`` says
for every symbol whether kallsyms sees it and, if not, which rule hid it — the first
that matches in the order the real pipeline runs them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, count, repeat
from pathlib import Path

from lldbisect.elf.table import UNDEFINED_LETTERS, SymbolTable
from lldbisect.errors import RulesError
from lldbisect.kernel.kallsyms_c import check_conflict_markers, parse_kallsyms_c
from lldbisect.kernel.mksysmap import parse_mksysmap, sed_flags
from lldbisect.kernel.model import Filter, Rule, RuleKind

__all__ = ["RuleSet", "Visibility", "find_source_tree", "kallsyms_labels", "kernel_version",
           "load_labelled", "load_rules", "nm_lines"]


@dataclass(frozen=True)
class Visibility:
    """Per symbol (table order): whether each stage hides it, and, on demand, which
    rule did (naming the rule is kept off the hot path: most symbols are kept).

    ``in_system_map``: mksysmap keeps it (it is in System.map and the ``.syms`` lists).
    ``in_kallsyms``: it ends up in the kallsyms table under the tree's pipeline.
    """

    sysmap_hidden: bytes  # 1 where a mksysmap rule drops the symbol
    kallsyms_hidden: bytes  # 1 where a kallsyms.c check drops it
    kallsyms_reads_sysmap: bool
    ruleset: RuleSet
    table: SymbolTable

    def in_system_map(self, i: int) -> bool:
        return not self.sysmap_hidden[i]

    def in_kallsyms(self, i: int) -> bool:
        if self.kallsyms_hidden[i]:
            return False
        return not self.kallsyms_reads_sysmap or not self.sysmap_hidden[i]

    def kallsyms_mask(self) -> bytes:
        """1 per symbol in the kallsyms table, 0 elsewhere."""
        hidden = _or(self.kallsyms_hidden, self.sysmap_hidden) if (
            self.kallsyms_reads_sysmap) else self.kallsyms_hidden
        return hidden.translate(_NOT)

    def system_map_mask(self) -> bytes:
        """1 per symbol in System.map, 0 elsewhere."""
        return self.sysmap_hidden.translate(_NOT)

    def sysmap_rule(self, i: int) -> Rule | None:
        return self._first(Filter.MKSYSMAP, i) if self.sysmap_hidden[i] else None

    def kallsyms_rule(self, i: int) -> Rule | None:
        return self._first(Filter.KALLSYMS, i) if self.kallsyms_hidden[i] else None

    def hidden_by(self, i: int) -> Rule | None:
        """The rule that keeps symbol ``i`` out of the kallsyms table, if any."""
        if self.kallsyms_reads_sysmap and self.sysmap_hidden[i]:
            return self.sysmap_rule(i)
        return self.kallsyms_rule(i)

    def visible(self) -> list[int]:
        return list(compress(count(), self.kallsyms_mask()))

    def family_hider(self, members: Iterable[int]) -> Rule | None:
        """The rule that keeps a family (its members' indices) out of the kallsyms
        table: None as soon as one member is in it; else the rule hiding the first.
        The one answer to "which rule hides this family" wherever there are real
        symbols, their own type letters and addresses included."""
        first = None
        for i in members:
            if self.in_kallsyms(i):
                return None
            first = i if first is None else first
        return None if first is None else self.hidden_by(first)

    def _first(self, stage: Filter, i: int) -> Rule | None:
        t = self.table
        name, letter = t.name(i), t.letters[i]
        line = _nm_line(t.addresses[i], letter, name, 8 if t.elf_class == 32 else 16)
        return next((r for r in self.ruleset.stage(stage) if r.hides(name, letter, line)),
                    None)


_NOT = bytes([1, 0]) + bytes(254)


def _or(a: bytes, b: bytes) -> bytes:
    n = len(a)
    return (int.from_bytes(a, "big") | int.from_bytes(b, "big")).to_bytes(n, "big")


@dataclass(frozen=True)
class RuleSet:
    """Every rule of one kernel tree, in pipeline order."""

    tree: str
    version: str
    era: str
    kallsyms_reads_sysmap: bool
    rules: tuple[Rule, ...]
    # Files the model could not read ("scripts/mksysmap:12: why"): their rules are
    # missing here, and only the tree's own scripts, run, can give the answer.
    unread: tuple[str, ...] = ()

    @property
    def warnings(self) -> list[str]:
        return [f"{r.file}:{r.line}: {r.warning}" for r in self.rules if r.warning]

    def stage(self, stage: Filter) -> list[Rule]:
        return [r for r in self.rules if r.stage is stage]

    def apply(self, table: SymbolTable) -> Visibility:
        """Which stages hide each symbol of ``table``; ``Visibility`` names the rules."""
        names, letters = table.names, table.letters
        text = _TableText(table)
        sysmap = _hidden_mask(self.stage(Filter.MKSYSMAP), names, letters, text)
        kallsyms = _hidden_mask(self.stage(Filter.KALLSYMS), names, letters, text)
        return Visibility(sysmap, kallsyms, self.kallsyms_reads_sysmap, self, table)

    def hiding_rule(self, name: str, letter: str = "t", address: int = 0,
                    width: int = 8) -> Rule | None:
        """The rule that keeps one symbol out of the kallsyms table, if any."""
        line = _nm_line(address, letter, name, width)
        for stage in ((Filter.MKSYSMAP, Filter.KALLSYMS) if self.kallsyms_reads_sysmap
                      else (Filter.KALLSYMS,)):
            for rule in self.stage(stage):
                if rule.hides(name, letter, line):
                    return rule
        return None


def nm_lines(table: SymbolTable) -> list[str]:
    """Each symbol's line as ``nm -n`` prints it, which is what sed and grep see."""
    width = 8 if table.elf_class == 32 else 16
    return [_nm_line(a, c, n, width)
            for a, c, n in zip(table.addresses, table.letters, table.names)]


def _nm_line(address: int, letter: str, name: str, width: int) -> str:
    if letter in UNDEFINED_LETTERS:
        return f"{'':{width}} {letter} {name}"
    return f"{address:0{width}x} {letter} {name}"


_PRESENCE_CHECKS = 4


class _TableText:
    """A table as text, made only when asked for: its ``nm -n`` lines, for a rule that
    reads the whole line; all its names in one string, to skip the per-name pass of a
    pattern no name contains."""

    def __init__(self, table: SymbolTable) -> None:
        self.table = table
        self._lines: list[str] | None = None
        self._joined: str | None = None

    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = nm_lines(self.table)
        return self._lines

    def present(self, patterns: Iterable[str], before: str = "", after: str = ""
                ) -> list[str]:
        """The patterns that occur in some name (``before``/``after`` = "\\n": at its
        start / end); a false hit (a name holding a newline) only costs a pass. One
        search costs an eighth of a pass over the names: worth it for a few patterns."""
        patterns = list(patterns)
        if len(patterns) > _PRESENCE_CHECKS:
            return patterns
        if self._joined is None:
            self._joined = "\n" + "\n".join(self.table.names) + "\n"
        joined = self._joined
        return [p for p in patterns if before + p + after in joined]


def _hidden_mask(rules: Sequence[Rule], names: list[str], letters: str,
                 text: _TableText) -> bytes:
    """1 per symbol some rule hides: one C-level pass per rule kind, OR-ed as integers."""
    n = len(names)
    masks: list[bytes] = []
    plain = [r for r in rules if r.regex is None or _name_equivalent(r)]
    exact = {r.pattern for r in plain if r.kind is RuleKind.EXACT}
    prefixes = tuple(text.present((r.pattern for r in plain if r.kind is RuleKind.PREFIX),
                                  before="\n"))
    suffixes = tuple(text.present((r.pattern for r in plain if r.kind is RuleKind.SUFFIX),
                                  after="\n"))
    subs = text.present(r.pattern for r in plain if r.kind is RuleKind.SUBSTRING)
    if exact:
        masks.append(bytes(map(exact.__contains__, names)))
    if prefixes:
        masks.append(bytes(map(str.startswith, names, repeat(prefixes))))
    if suffixes:
        masks.append(bytes(map(str.endswith, names, repeat(suffixes))))
    if subs:
        rx = re.compile("|".join(map(re.escape, subs)))
        masks.append(bytes(map(bool, map(rx.search, names))))
    for t in (r for r in plain if r.kind is RuleKind.TYPE):
        # Letters in one translate; an allow-list then gives a few names back.
        table = {ord(c): "\1" if c in t.pattern else "\0" for c in set(letters)}
        mask = letters.translate(table).encode()
        if t.keep:
            kept = bytearray(mask)
            for k in compress(count(), mask):
                if names[k] in t.keep:
                    kept[k] = 0
            mask = bytes(kept)
        masks.append(mask)
    # Name-equivalent rules were matched above, as the plain kinds they are.
    name_regexes = [r.name_regex or r.regex for r in rules if r.regex is not None and (
        r.stage is Filter.KALLSYMS or r.name_regex is not None) and not _name_equivalent(r)]
    line_regexes = [r.regex for r in rules if r.regex is not None and r.stage is
                    Filter.MKSYSMAP and r.name_regex is None and not _name_equivalent(r)]
    for subjects, regexes in ((names, name_regexes), (None, line_regexes)):
        if not regexes:
            continue
        targets = subjects if subjects is not None else text.lines()
        if any(re.search(r"\\[1-9]", rx) for rx in regexes):  # backrefs: one at a time
            sources = list(regexes)
        else:
            sources = ["|".join(f"(?:{rx})" for rx in regexes)]
        for source in sources:
            compiled = re.compile(source, re.ASCII | re.DOTALL)
            masks.append(bytes(map(bool, map(compiled.search, targets))))
    out = bytes(n)
    for m in masks:
        out = _or(out, m)
    return out


def _name_equivalent(rule: Rule) -> bool:
    """Whether a mksysmap rule's line regex hides exactly what its name kind says.

    Names hold no spaces, so `` foo$`` can only match a whole name and ``foo$`` a name's
    tail, `` [aNU] `` only the type, and `` fo`` only a name's start — but a one-character
    `` t`` would match the type letter too, and a substring may match the address.
    """
    if rule.regex is None or rule.regex.startswith("(?i)") or rule.stage is Filter.KALLSYMS:
        return False
    if rule.kind in (RuleKind.EXACT, RuleKind.SUFFIX, RuleKind.TYPE):
        return True
    # ` $` cannot match the type field: nm's type letters are letters and '?'.
    return rule.kind is RuleKind.PREFIX and (
        len(rule.pattern) >= 2 or not (rule.pattern.isalpha() or rule.pattern in "? "))


# --- the tree: where the files are, which version, which era ------------------------

def find_source_tree(path: Path) -> Path:
    """The source tree of ``path``: itself, or where an ``O=`` build's ``source`` points.

    Raises RulesError when ``path`` is neither.
    """
    if not path.exists():
        raise RulesError(path, None, "no such directory")
    if not path.is_dir():
        raise RulesError(path, None, "not a directory: expected a kernel source tree or"
                                     " an O= build directory")
    for candidate in (path, path / "source"):
        if (candidate / "scripts").is_dir() and (candidate / "Makefile").is_file():
            return candidate.resolve()
    raise RulesError(path, None, "not a kernel tree: no Makefile and scripts/ (nor a"
                                 " `source` link to them)")


def kernel_version(tree: Path) -> str:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` (with EXTRAVERSION) of the top-level Makefile."""
    try:
        head = (tree / "Makefile").read_text(errors="replace")[:4096]
    except OSError as e:
        raise RulesError(tree / "Makefile", None, f"cannot read: {e.strerror}") from None
    pairs = re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)",
                       head, re.M)
    check_conflict_markers(head, str(tree / "Makefile"))
    fields: dict[str, str] = dict(pairs)
    if "$(" in fields.get("EXTRAVERSION", ""):
        fields["EXTRAVERSION"] = ""  # made by make at build time: not part of the version
    if "VERSION" not in fields or "PATCHLEVEL" not in fields:
        raise RulesError(tree / "Makefile", None, "no VERSION and PATCHLEVEL lines: not a"
                                                  " kernel Makefile")
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
        value = fields.get(key, "0") or "0"
        if not value.isdigit():
            line = head[:head.index(f"{key}")].count("\n") + 1
            # A guessed era would decide which rules apply: refuse instead.
            raise RulesError(tree / "Makefile", line, f"{key} = {value}: not a number, so"
                                                      " the kernel's version is unknown")
    version = f"{fields['VERSION']}.{fields['PATCHLEVEL']}"
    if fields.get("SUBLEVEL"):
        version += f".{fields['SUBLEVEL']}"
    return version + fields.get("EXTRAVERSION", "")


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:2])


def load_rules(path: Path | str, *, partial: bool = False) -> RuleSet:
    """Read a kernel tree's rules. Raises RulesError naming the file and line at fault.

    ``partial``: a file whose constructs the model cannot read (a shell it does not
    model, a C condition it does not know) is left out and named in ``unread`` instead
    of refused; the caller then takes the answer from the tree's own scripts. A file
    the real tools would fail on too (a shell syntax error, conflict markers) is an
    error all the same."""
    tree = find_source_tree(Path(path))
    version = kernel_version(tree)
    mksysmap, kallsyms = tree / "scripts" / "mksysmap", tree / "scripts" / "kallsyms.c"
    if not mksysmap.exists() and not kallsyms.exists():
        raise RulesError(tree / "scripts", None, "neither mksysmap nor kallsyms.c: not a"
                                                 " kernel tree with kallsyms")
    rules: list[Rule] = []
    forms = []
    unread: list[str] = []
    labels = _kallsyms_labels(kallsyms)

    def parse_sysmap(text: str, path: str) -> list[Rule]:
        return parse_mksysmap(text, path, labels)

    for file in (mksysmap, kallsyms):  # both, before either is read: each needs the other
        if not file.exists():
            raise RulesError(file, None, "missing: a kernel tree has both mksysmap and"
                                         " kallsyms.c")
    for file, parse in ((mksysmap, parse_sysmap), (kallsyms, parse_kallsyms_c)):
        try:
            text = file.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as e:
            raise RulesError(file, None, f"cannot read: {e.strerror}") from None
        check_conflict_markers(text, str(file))  # before sh -n, which says less
        if file is mksysmap:
            _shell_syntax(file, text)
        rel = str(file.relative_to(tree))
        try:
            found = parse(text, rel)
        except RulesError as e:  # rules name files relative to the tree; errors in full
            if not partial:
                raise RulesError(file, e.line, e.detail) from None
            unread.append(f"{rel}{'' if e.line is None else f':{e.line}'}: {e.detail}")
            forms.append(f"{file.name} not read by the model")
            continue
        rules += found
        forms.append(_form(file.name, text, found))
    reads_sysmap = _kallsyms_reads_sysmap(tree, version)
    if forms[1].startswith("F2") and reads_sysmap:
        forms[1] = "F3" + forms[1][2:]  # the same arrays, after mksysmap's filtering
    return RuleSet(str(tree), version, " + ".join(forms), reads_sysmap, tuple(rules),
                   tuple(unread))


def _shell_syntax(file: Path, text: str) -> None:
    """A shell mksysmap the shell cannot parse fails at link time (an empty System.map,
    exit 2 or 127): say so, with the line ``sh -n`` names. ``-n`` reads and runs nothing."""
    if sed_flags(text.split("\n", 1)[0]) is not None:
        return
    sh = shutil.which("sh")
    if sh is None:
        return
    done = subprocess.run([sh, "-n", str(file)], capture_output=True, text=True,
                          errors="replace", timeout=30, check=False)
    if done.returncode:
        message = (done.stderr.strip().splitlines() or ["syntax error"])[-1]
        m = re.match(r".*?:\s*(?:line\s+)?(\d+):\s*(.*)", message)
        line, what = (int(m.group(1)), m.group(2)) if m else (None, message)
        raise RulesError(file, line, f"shell syntax error (sh -n): {what}")


def kallsyms_labels(tree: Path) -> list[str]:
    """The symbols a tree's kallsyms writes into its object (what mksysmap's third
    argument lists in 6.4-6.9)."""
    return _kallsyms_labels(tree / "scripts" / "kallsyms.c")


def _kallsyms_labels(kallsyms: Path) -> list[str]:
    """The symbols scripts/kallsyms.c writes into a kallsyms object, in its order."""
    try:
        text = kallsyms.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    return list(dict.fromkeys(re.findall(r'\boutput_label\(\s*"(\w+)"\s*\)', text)))


def load_labelled(paths: Iterable[Path]) -> list[tuple[str, RuleSet]]:
    """Each tree's rules, labelled by its version (by its path too when versions repeat).
    Raises as ``load_rules``."""
    loaded = [(p, load_rules(p)) for p in paths]
    versions = [r.version for _, r in loaded]
    return [(r.version if versions.count(r.version) == 1 else f"{r.version} ({p})", r)
            for p, r in loaded]


def _form(name: str, text: str, rules: Iterable[Rule]) -> str:
    """The era's label for one file (kernel-formats.md's F0-F4, M2/M3, grep)."""
    if name == "mksysmap":
        if sed_flags(text.split("\n", 1)[0]) is not None:
            return "M3 (sed -f mksysmap)"
        grep, sed = re.search(r"\|\s*grep\b", text), re.search(r"\|\s*sed\b", text)
        if grep and sed:
            return "grep + sed mksysmap"
        return "M2 (sed in mksysmap)" if sed else "grep mksysmap"
    # Which name arrays there are (their entries' source is a string literal).
    arrays = {r.kind for r in rules if r.source.startswith('"')}
    if "is_ignored_symbol" in text:
        if not arrays:
            return "F4 (kallsyms.c type checks only)"
        return ("F2 (is_ignored_symbol arrays with ignored_matches)"
                if RuleKind.SUBSTRING in arrays else "F2 (is_ignored_symbol arrays)")
    if RuleKind.PREFIX in arrays or RuleKind.SUFFIX in arrays:
        return "F1 (symbol_valid special_symbols/prefixes/suffixes)"
    return "F0 (symbol_valid special_symbols)"


def _kallsyms_reads_sysmap(tree: Path, version: str) -> bool:
    """From 6.1 kallsyms reads mksysmap's output instead of running nm itself."""
    link = tree / "scripts" / "link-vmlinux.sh"
    try:
        text = link.read_text(errors="replace")
    except OSError:
        return _version_tuple(version) >= (6, 1)
    if re.search(r"NM\}?\s+-n\s+\S+\s*\|\s*scripts/kallsyms", text):
        return False
    if re.search(r"kallsyms\s+\S*\.syms", text) or re.search(r"mksysmap.*\n.*kallsyms",
                                                             text):
        return True
    return _version_tuple(version) >= (6, 1)
