"""The JSON rendering of a symbol table (``lldbisect symbols --json``)."""

from __future__ import annotations

from typing import Any

from lldbisect.elf.table import SymbolTable

__all__ = ["SYMBOLS_SCHEMA", "symbols_json"]

SYMBOLS_SCHEMA = "lldbisect.symbols/1"


def symbols_json(table: SymbolTable, file: str) -> dict[str, Any]:
    return {"schema": SYMBOLS_SCHEMA, "file": file, "elf_class": table.elf_class,
            "machine": table.machine,
            "symbols": [s._asdict() for s in table.sorted_symbols()]}
