"""Group linker-made symbol names into families and infer each family's pattern (pure).

A linker names what it makes after its target: ``<prefix><target>`` (lld thunks),
``<prefix><target><suffix>`` (GNU veneers), ``<hex>.<kind>.<target>[+addend]``
(PowerPC stubs). We find the target inside each name — another symbol of the same
image — and let the names vote on the affix they share, so a family nobody has seen
before is found as surely as a known one. Names with no target (an address, a counter,
nothing) are grouped by their shape with digits normalised.

Addresses, counters and hashes change with every layout: a rule that names one hides one
address and breaks at the next. So the volatile part of a name (``<hex>.`` in front,
``_<HEX>``, ``_<n>``, ``@<hex>_<n>_<n>``, ``+<addend>`` behind) is never part of a pattern:
the family is the stable rest, as a prefix or a substring.
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

_HEX_STUB = re.compile(r"(?P<addr>[0-9a-fA-F]{8})\.(?P<kind>[A-Za-z_][A-Za-z0-9_]*"
                       r"(?:\.[A-Za-z_][A-Za-z0-9_]*)*?)\.(?P<target>.+?)"
                       r"(?P<addend>\+[0-9a-fA-F]+)?")
# A volatile tail: after a separator, a hex run holding a digit, more such runs, an addend.
_VOLATILE_TAIL = re.compile(r"(?<=[_.@$])[0-9A-Fa-f]*[0-9][0-9A-Fa-f]*(?:[_.][0-9A-Fa-f]+)*"
                            r"(?:\+[0-9A-Fa-f]+)?$")
_VOLATILE_SEGMENT = re.compile(r"[0-9A-Fa-f]*[0-9][0-9A-Fa-f]*")
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
    stub = hex_stub_kind(name, targets)
    if stub is not None:
        # <hex>.<kind>.<target>[+addend]: the address and the addend vary, the kind not.
        return [(f".{stub}.", "<hex-stub>")]
    out: list[tuple[str, str]] = []
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


def hex_stub_kind(name: str, targets: Collection[str]) -> str | None:
    """The stub kind of a ``<hex>.<kind>.<target>[+addend]`` name (``long_branch``;
    ``plt_pic32`` for lld's ``got2.plt_pic32``), whether or not the target is a symbol
    of the image (GNU ld names local targets by section and symbol index)."""
    m = _HEX_STUB.fullmatch(name)
    if m is None:
        return None
    body = name[9:len(name) - len(m.group("addend") or "")]
    parts = body.split(".")
    # The longest run of kind words that leaves a target the image has, else the first.
    for k in range(len(parts) - 1, 0, -1):
        if ".".join(parts[k:]) in targets:
            return parts[k - 1]
    return m.group("kind").split(".")[-1]


def _volatile(affix: str) -> bool:
    """An affix with an address, counter or hash in it, which the next layout changes: a
    segment of digits, or of four or more hex digits with a digit among them (``a64`` in
    a name is a word, ``1ff000`` an address)."""
    return any(seg.isdigit() or (len(seg) >= 4 and _VOLATILE_SEGMENT.fullmatch(seg))
               for seg in re.split(r"[_.@+$]", affix) if seg)


def stable_part(name: str) -> tuple[str, str] | None:
    """``(stable, shape)`` of a name whose tail is volatile: ``__CortexA53843419_101000``
    gives ``("__CortexA53843419_", "__CortexA53843419_<hex>")``; None if nothing varies."""
    m = _VOLATILE_TAIL.search(name)
    if m is None or m.start() < 2:
        return None
    stable = name[:m.start()]
    tail = m.group(0)
    return stable, f"{stable}<{'n' if tail.isdigit() and len(tail) < 5 else 'hex'}>"


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
        cands = [c for c in candidates[name] if c[1] == "<hex-stub>"
                 or not (_volatile(c[0]) or _volatile(c[1]))]
        if not name:
            continue  # an empty name: no rule can name it
        stable = stable_part(name) if not cands else None
        if stable is not None:
            groups[(RuleKind.PREFIX, stable[0], stable[1])].append(name)
            continue
        if not cands:
            norm = normalised(name)
            groups[(RuleKind.EXACT, norm, norm)].append(name)
            continue
        # The affix most names share wins; then the longer one (more specific).
        prefix, suffix = max(cands, key=lambda c: (votes[c], len(c[0]) + len(c[1])))
        if suffix == "<hex-stub>":
            groups[(RuleKind.SUBSTRING, prefix, f"<hex>.[...]{prefix[1:]}<target>[+addend]")
                   ].append(name)
        elif not suffix:
            groups[(RuleKind.PREFIX, prefix, f"{prefix}<target>")].append(name)
        else:
            groups[(RuleKind.SUFFIX, suffix, f"{prefix}<target>{suffix}")].append(name)
    _fold_bare(groups)
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


def _fold_bare(groups: dict[tuple[RuleKind, str, str], list[str]]) -> None:
    """A name that is its family's bare affix (``__long_branch_`` beside
    ``__long_branch_foo``), or that another family's pattern covers, joins that family:
    one rule, one entry."""
    covering = [k for k in groups if k[0] is not RuleKind.EXACT]
    for key in [k for k in groups if k[0] is RuleKind.EXACT]:
        keep = []
        for name in groups[key]:
            home = next((k for k in covering if matches(k[0], k[1], name)), None)
            if home is None:
                keep.append(name)
            else:
                groups[home].append(name)
        if keep:
            groups[key] = keep
        else:
            del groups[key]
    for k in covering:
        groups[k].sort()


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
