"""Mutated real ELF files: the reader answers or raises ElfError, nothing else."""

from __future__ import annotations

import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lldbisect.elf.reader import read_symbols
from lldbisect.errors import ElfError
from tests import elfcorpus

_SEEDS = ("x86_64/object", "arm/exe-gnu", "mips/exe-llvm-16", "ppc64le/so-lld",
          "aarch64/object-gas", "ppc32/exe-llvm-16-pic")


def _seeds(corpus: list[elfcorpus.Built]) -> list[bytes]:
    found = {f"{b.target.name}/{b.kind}": b.path for b in corpus}
    return [found[s].read_bytes() for s in _SEEDS if s in found]


mutation = st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255))


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0), flips=st.lists(mutation, min_size=1, max_size=12),
       cut=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
       dynamic=st.booleans(), header_bias=st.booleans())
def test_mutated_elf_gives_answer_or_clean_error(
        corpus: list[elfcorpus.Built], seed: int, flips: list[tuple[int, int]],
        cut: float | None, dynamic: bool, header_bias: bool) -> None:
    seeds = _seeds(corpus)
    data = bytearray(seeds[seed % len(seeds)])
    for pos, byte in flips:
        # Half the runs aim at the ELF header, where one byte changes the most.
        span = 64 if header_bias else len(data)
        data[pos % span] = byte
    if cut is not None:
        data = data[: int(len(data) * cut)]
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        try:
            read_symbols(f.name, dynamic=dynamic).nm_listing()
        except ElfError as e:
            assert f.name in e.message and "\n" not in e.message
