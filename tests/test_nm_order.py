"""``nm -n`` order: undefined symbols first, then by address, then by name, then as read.

The order is computed two ways (a float-packed sort for the usual tables, a keyed sort
when the packing does not fit); both must give exactly this order.
"""

from __future__ import annotations

from array import array

from hypothesis import example, given, settings
from hypothesis import strategies as st

from lldbisect.elf.table import UNDEFINED_LETTERS, SymbolTable, _packed_order

# Few high words (a kernel: 0 and 0xffffffff) take the packed path; many take the other.
_HIGHS = st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF])
_LOWS = st.sampled_from([0, 1, 0x1000, 0x80000000, 0xFFFFFFFF]) | st.integers(0, 2**32 - 1)
_PACKABLE = st.builds(lambda h, lo: h << 32 | lo, _HIGHS, _LOWS)
_ANY = st.integers(0, 2**64 - 1)
_SYMBOL = st.tuples(st.sampled_from(["a", "b", "ab", "", "\xe9", "__Thunk_a"]),
                    st.sampled_from("TtDdUwvAa"))


def _table(addresses: list[int], symbols: list[tuple[str, str]], elf_class: int = 64
           ) -> SymbolTable:
    n = min(len(addresses), len(symbols))
    return SymbolTable(
        path="<test>", elf_class=elf_class, machine="test",
        addresses=array("Q", addresses[:n]),
        sizes=array("Q", bytes(8 * n)), letters="".join(c for _, c in symbols[:n]),
        infos=bytes(n), shndx=array("I", bytes(4 * n)), section_names=(),
        names=[name for name, _ in symbols[:n]])


def _expected(table: SymbolTable) -> list[int]:
    def key(i: int) -> tuple[int, bytes, int]:
        undefined = table.letters[i] in UNDEFINED_LETTERS
        return (-1 if undefined else table.addresses[i], table.name(i).encode("latin-1"), i)

    return sorted(range(len(table)), key=key)


@given(st.lists(_PACKABLE | _ANY, max_size=60), st.lists(_SYMBOL, max_size=60))
def test_order_is_undefined_then_address_name_index(addresses: list[int],
                                                    symbols: list[tuple[str, str]]) -> None:
    table = _table(addresses, symbols)
    assert list(table.nm_order()) == _expected(table)


@given(st.lists(_PACKABLE, min_size=1, max_size=60), st.lists(_SYMBOL, max_size=60))
@example([0, 0xFFFFFFFF << 32, 0], [("a", "T"), ("b", "T"), ("b", "U")])  # 0 vs undefined
@settings(max_examples=400)
def test_packed_sort_is_taken_for_few_high_words(addresses: list[int],
                                                 symbols: list[tuple[str, str]]) -> None:
    table = _table(addresses, symbols)
    assert _packed_order(table.addresses, table.letters) is not None
    assert list(table.nm_order()) == _expected(table)


def test_many_high_words_fall_back_to_the_keyed_sort() -> None:
    addresses = [h << 32 for h in range(200, 0, -1)]
    table = _table(addresses, [("x", "T")] * len(addresses))
    assert _packed_order(table.addresses, "") is None
    assert list(table.nm_order()) == list(range(199, -1, -1))


@given(st.lists(_PACKABLE | _ANY, max_size=60), st.lists(_SYMBOL, max_size=60),
       st.sampled_from([32, 64]))
@settings(max_examples=300)
def test_listing_is_nm_lines_in_that_order(addresses: list[int],
                                           symbols: list[tuple[str, str]],
                                           elf_class: int) -> None:
    width = elf_class // 4
    table = _table([a & (2**elf_class - 1) for a in addresses], symbols, elf_class)

    def line(i: int) -> str:
        letter, name = table.letters[i], table.name(i)
        if letter in UNDEFINED_LETTERS:
            return f"{'':{width}} {letter} {name}\n"
        return f"{table.addresses[i]:0{width}x} {letter} {name}\n"

    expected = "".join(map(line, _expected(table))).encode("latin-1")
    assert table.nm_listing() == expected
