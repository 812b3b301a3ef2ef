"""The padding object: our own relocatable ELF file with one section of N bytes and no
symbols, placed by the build's own linker script where its growth moves callers and
callees apart.

The object takes its ELF class, byte order, machine and flags from the build's
``vmlinux.o`` (or the image), so the linker takes it for one of the build's own (ARM
EABI versions, MIPS ABIs and ppc64 ELF ABI versions are checked from ``e_flags``).
Its bytes are a marker, so the relinked image shows where the padding went.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from lldbisect.errors import InputError

__all__ = ["MARKER", "PadSection", "choose_section", "landed", "script_sections",
           "write_padding"]

MARKER = b"lldbisect-pad\x00\x00\x00"  # 16 bytes, repeated


@dataclass(frozen=True)
class PadSection:
    """Where the padding goes: the output section, and the input section name the
    linker script sends there."""

    output: str
    input: str
    start: int  # its address in the image at hand
    end: int


def script_sections(script: str) -> dict[str, list[str]]:
    """The output sections of a (preprocessed) linker script's SECTIONS, in order, each
    with the literal input section names its body lists (no wildcards)."""
    text = re.sub(r"/\*.*?\*/", " ", script, flags=re.S)
    m = re.search(r"\bSECTIONS\s*\{", text)
    if m is None:
        return {}
    out: dict[str, list[str]] = {}
    depth, head_start, i = 1, m.end(), m.end()
    while i < len(text) and depth:
        c = text[i]
        if c == "{":
            if depth == 1:
                header = text[head_start:i]
                name = header.split(":", 1)[0].split()
                close = _matching(text, i)
                if ":" in header and name:
                    body = text[i + 1:close]
                    out.setdefault(name[0], []).extend(
                        n for n in re.findall(r"(?<![\w.$*?\]])(\.[A-Za-z_][\w.]*)(?![\w.*?\[])",
                                              body))
                i, head_start = close + 1, close + 1
                continue
            depth += 1
        elif c == "}":
            depth -= 1
            head_start = i + 1
        elif c == ";" and depth == 1:
            head_start = i + 1
        i += 1
    return out


def _matching(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def choose_section(image: Path, script: Path | None, branches: Sequence[tuple[int, int]],
                   wanted: str | None = None) -> PadSection:
    """The output section to pad: ``wanted``, or of the allocated data sections between
    two code sections of ``image`` that the build's linker script fills from an input
    section of a literal name, the one that the most ``branches`` (site, target) cross
    (on the kernel's usual layout, ``.rodata`` between ``.text`` and ``.init.text``).
    Raises InputError when there is none."""
    try:
        with open(image, "rb") as f:
            elf = ELFFile(f)
            alloc = sorted(((s.name, s["sh_addr"], s["sh_size"], s["sh_flags"], s["sh_type"])
                            for s in elf.iter_sections()
                            if s["sh_flags"] & 0x2 and s["sh_size"]), key=lambda t: t[1])
    except (OSError, ELFError) as e:
        raise InputError(image, f"cannot read its sections: {e}") from None
    try:
        inputs = script_sections(script.read_text(errors="replace")) if script else {}
    except OSError as e:
        raise InputError(script, f"cannot read the linker script: {e.strerror}") from None
    code = [i for i, s in enumerate(alloc) if s[3] & 0x4]
    candidates = [s for i, s in enumerate(alloc)
                  if not s[3] & 0x4 and s[4] == "SHT_PROGBITS" and code
                  and code[0] < i < code[-1]]
    if wanted is not None:
        candidates = [s for s in candidates if s[0] == wanted]
        if not candidates:
            raise InputError(image, f"no allocated data section {wanted} between two code"
                                    " sections")
    def crossing(start: int) -> int:
        return sum((a < start) != (b < start) for a, b in branches)

    candidates.sort(key=lambda s: (-crossing(s[1]), s[0] != ".rodata", s[1]))
    for name, start, size, _flags, _type in candidates:
        literal = inputs.get(name, [])
        if script is None or not literal:
            continue
        chosen = name if name in literal else literal[0]
        return PadSection(name, chosen, start, start + size)
    where = f" in {script}" if script else " (no linker script: vmlinux.lds is gone)"
    raise InputError(image, "no output section between two code sections is filled from"
                            f" an input section of a literal name{where}: give --section")


def write_padding(path: Path, size: int, template: Path, section: str) -> None:
    """Write the padding object: ``size`` bytes in section ``section``, for the machine
    of ``template``. Raises InputError when the template is no ELF file."""
    try:
        with open(template, "rb") as f:
            header = ELFFile(f).header
            f.seek(0)
            head = f.read(20)
    except (OSError, ELFError) as err:
        raise InputError(template, f"cannot read its ELF header: {err}") from None
    ident, wide, little = head[:16], head[4] == 2, head[5] == 1
    e = "<" if little else ">"
    (machine,) = struct.unpack(e + "H", head[18:20])  # the number, not pyelftools' name
    # .note.GNU-stack, empty: GNU ld would otherwise warn our object wants an
    # executable stack, and a build with --fatal-warnings would fail on our account.
    names = b"\x00" + section.encode() + b"\x00.shstrtab\x00.note.GNU-stack\x00"
    stack_name = 2 + len(section) + len(".shstrtab") + 1
    ehsize, shentsize = (64, 64) if wide else (52, 40)
    data_at = ehsize + len(names)
    shoff = (data_at + size + 7) & ~7
    if wide:
        ehdr = struct.pack(e + "16sHHIQQQIHHHHHH", ident, 1, machine, 1, 0, 0,
                           shoff, header["e_flags"], ehsize, 0, 0, shentsize, 4, 2)
        sh = e + "IIQQQQIIQQ"
    else:
        ehdr = struct.pack(e + "16sHHIIIIIHHHHHH", ident, 1, machine, 1, 0, 0,
                           shoff, header["e_flags"], ehsize, 0, 0, shentsize, 4, 2)
        sh = e + "IIIIIIIIII"
    sections = (struct.pack(sh, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
                + struct.pack(sh, 1, 1, 0x2, 0, data_at, size, 0, 0, 1, 0)  # PROGBITS, A
                + struct.pack(sh, 2 + len(section), 3, 0, 0, ehsize, len(names), 0, 0, 1, 0)
                + struct.pack(sh, stack_name, 1, 0, 0, data_at, 0, 0, 0, 1, 0))
    with open(path, "wb") as out:
        out.write(ehdr + names)
        whole, rest = divmod(size, len(MARKER))
        chunk = MARKER * 65536
        for _ in range(whole // 65536):
            out.write(chunk)
        out.write(MARKER * (whole % 65536) + MARKER[:rest])
        out.write(b"\x00" * (shoff - data_at - size))
        out.write(sections)


def landed(image: Path, pad: PadSection, size: int) -> bool | None:
    """Whether the padding is in ``pad.output`` of the relinked ``image`` (its marker
    is); None when it is too small to hold one, or the image cannot be read."""
    if size < len(MARKER):
        return None
    try:
        with open(image, "rb") as f:
            section = ELFFile(f).get_section_by_name(pad.output)
            if section is None:
                return False
            return MARKER in section.data()
    except (OSError, ELFError):
        return None
