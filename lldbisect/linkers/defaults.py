"""The symbols a linker defines by itself when no linker script names them: GNU ld's
from its default script (``ld --verbose``), lld's reserved ones. They are the linker's,
but fixed in number: no layout adds or drops one, so they are never thunk-like
linker-made names (``__bss_start__``, ``_fbss``, ``_gp``, ...)."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache

from lldbisect.arch import by_machine

__all__ = ["default_script_symbols"]

# lld defines these whether or not a script does (Writer's reserved symbols), where the
# output needs them; listing them all costs nothing, since no layout changes their number.
_LLD_RESERVED = frozenset({
    "__ehdr_start", "__executable_start", "__dso_handle", "_GLOBAL_OFFSET_TABLE_",
    "_DYNAMIC", "_TLS_MODULE_BASE_", "end", "_end", "etext", "_etext", "edata", "_edata",
    "__bss_start", "__rel_iplt_start", "__rel_iplt_end", "__rela_iplt_start",
    "__rela_iplt_end", "__preinit_array_start", "__preinit_array_end",
    "__init_array_start", "__init_array_end", "__fini_array_start", "__fini_array_end",
    "_gp", "_gp_disp", "__gnu_local_gp", "__global_pointer$", ".TOC.", "_SDA_BASE_",
    "_SDA2_BASE_"})
_ASSIGNMENT = re.compile(r"(?:PROVIDE(?:_HIDDEN)?\s*\(\s*)?\b([A-Za-z_$][\w.$]*)\s*=(?!=)")


@cache
def _gnu_default(ld: str) -> frozenset[str]:
    try:
        out = subprocess.run([ld, "--verbose"], capture_output=True, text=True,
                             errors="replace", timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    # The script sits between two lines of '=' in the --verbose output.
    parts = re.split(r"^={20,}\s*$", out, flags=re.M)
    script = parts[1] if len(parts) >= 3 else ""
    # ENTRY(__start): MIPS ld defines its entry symbol when the objects do not.
    return frozenset(_ASSIGNMENT.findall(script)) | frozenset(
        re.findall(r"\bENTRY\s*\(\s*([\w.$]+)\s*\)", script))


def default_script_symbols(machine: str) -> frozenset[str]:
    """What a link for ELF ``machine`` defines with no script of its own: lld's reserved
    symbols, and the default script of each GNU ld installed for that machine."""
    names = set(_LLD_RESERVED)
    row = by_machine(machine)
    for prefix in row.cross_prefixes if row else ():
        ld = shutil.which(prefix + "ld")
        if ld is not None:
            names |= _gnu_default(ld)
    return frozenset(names)
