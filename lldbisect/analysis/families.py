"""Group linker-made symbol names into families and infer each family's pattern (pure).

A linker names what it makes after its target: ``<prefix><target>`` (lld thunks),
``<prefix><target><suffix>`` (GNU veneers), ``<hex>.<kind>.<target>[+addend]``
(PowerPC stubs). We find the target inside each name — another symbol of the same
image — and let the names vote on the affix they share, so a family nobody has seen
before is found as surely as a known one. Names with no target (an address, a counter,
nothing) are grouped by their shape with digits normalised.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from lldbisect.analysis.labels import label_for
from lldbisect.kernel.model import RuleKind
from lldbisect.kernel.model import name_matches as matches

__all__ = ["Family", "affix_candidates", "infer_families", "matches", "normalised"]

_HEX_STUB = re.compile(r"(?P<addr>[0-9a-fA-F]{8})\.(?P<kind>[A-Za-z_][A-Za-z0-9_]*)\."
                       r"(?P<target>.+?)(?P<addend>\+[0-9a-fA-F]+)?")
_MAX_PREFIX, _MAX_SUFFIX = 48, 24


@dataclass(frozen=True)
class Family:
    """Linker-made names that share one shape, and the rule kind that would cover them."""

    kind: RuleKind  # PREFIX, SUFFIX, SUBSTRING or EXACT
    pattern: str
    shape: str  # how the names are built, e.g. "__ARMv4PILongBXThunk_<target>"
    members: tuple[str, ...]  # distinct names, sorted
    count: int  # symbols, duplicates included
    label: str | None

    def covers(self, name: str) -> bool:
        return matches(self.kind, self.pattern, name)


def affix_candidates(name: str, targets: Collection[str], *,
                     boundaries_only: bool = False) -> list[tuple[str, str]]:
    """Every (prefix, suffix) with ``name == prefix + target + suffix`` for a target in
    ``targets``, the affixes not both empty. ``boundaries_only``: only where a prefix
    ends, or a suffix starts, with ``_`` or ``.`` (cheap enough for a whole image)."""
    out = []
    m = _HEX_STUB.fullmatch(name)
    if m and m.group("target") in targets:
        out.append((f".{m.group('kind')}.", "<hex-stub>"))
    n = len(name)
    if boundaries_only:
        cuts = [k for k, c in enumerate(name) if c in "_."]
        starts = [0] + [k + 1 for k in cuts if k + 1 <= _MAX_PREFIX]
        ends = [n] + [k for k in cuts if n - k <= _MAX_SUFFIX]
        for i in starts:
            for j in ends:
                if i < j and (i or j < n) and name[i:j] in targets:
                    out.append((name[:i], name[j:]))
        return out
    for i in range(0, min(n, _MAX_PREFIX + 1)):
        for j in range(n, max(i, n - _MAX_SUFFIX - 1), -1):
            if (i or j < n) and name[i:j] in targets:
                out.append((name[:i], name[j:]))
    return out


def normalised(name: str) -> str:
    """The name with addresses and counters replaced, to group target-less names."""
    return re.sub(r"[0-9]+|0x[0-9a-fA-F]+|(?<![A-Za-z])[0-9a-fA-F]{6,}", "#", name)


def infer_families(made: Sequence[str], image_names: Iterable[str]) -> list[Family]:
    """Families of the linker-made names ``made`` (duplicates allowed), found against
    all names of the image. Largest families first."""
    counts = Counter(made)
    made_set = set(counts)
    targets = set(image_names) - {""}
    candidates = {name: affix_candidates(name, targets) for name in made_set}
    votes: Counter[tuple[str, str]] = Counter()
    for cands in candidates.values():
        votes.update(set(cands))
    groups: dict[tuple[RuleKind, str, str], list[str]] = defaultdict(list)
    for name in sorted(made_set):
        cands = candidates[name]
        if not cands:
            norm = normalised(name)
            groups[(RuleKind.EXACT, norm, norm)].append(name)
            continue
        # The affix most names share wins; then the longer one (more specific).
        prefix, suffix = max(cands, key=lambda c: (votes[c], len(c[0]) + len(c[1])))
        if suffix == "<hex-stub>":
            groups[(RuleKind.SUBSTRING, prefix, f"<hex>{prefix}<target>[+addend]")].append(
                name)
        elif not suffix:
            groups[(RuleKind.PREFIX, prefix, f"{prefix}<target>")].append(name)
        else:
            groups[(RuleKind.SUFFIX, suffix, f"{prefix}<target>{suffix}")].append(name)
    families = []
    for (kind, pattern, shape), names in groups.items():
        if kind is RuleKind.EXACT:
            families += _targetless(names, shape, counts)
            continue
        total = sum(counts[n] for n in names)
        families.append(Family(kind, pattern, shape, tuple(names), total,
                               label_for(kind.value, pattern)))
    families.sort(key=lambda f: (-f.count, f.pattern))
    return families


def _targetless(names: list[str], shape: str, counts: Counter[str]) -> list[Family]:
    """Names without a target, grouped by their shape with digits normalised: a numbered
    series shares a prefix; anything else stays one exact name each."""
    lcp = _common_prefix(names)
    if len(names) > 1 and len(lcp) >= 3:
        return [Family(RuleKind.PREFIX, lcp, shape, tuple(names),
                       sum(counts[n] for n in names), label_for("prefix", lcp))]
    return [Family(RuleKind.EXACT, n, n, (n,), counts[n],
                   label_for("exact", n) or label_for("shape", normalised(n)))
            for n in names]


def _common_prefix(names: list[str]) -> str:
    first, last = min(names), max(names)
    k = 0
    while k < min(len(first), len(last)) and first[k] == last[k]:
        k += 1
    return first[:k]
