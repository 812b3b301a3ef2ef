"""The object files inside ``ar`` archives: kbuild's thin ``built-in.a``/``vmlinux.a``
(members are paths to the objects) and ordinary archives (members inline).

Used when ``vmlinux.o`` is gone: the archives the build linked it from still name every
object the link read.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lldbisect.errors import InputError

__all__ = ["archive_members", "is_archive", "member_files"]

_THIN, _ARCH = b"!<thin>\n", b"!<arch>\n"
_HEADER = 60


def is_archive(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) in (_THIN, _ARCH)
    except OSError:
        return False


def archive_members(path: Path) -> list[tuple[str, bytes | None]]:
    """``(name, data)`` per member, in order; ``data`` is None in a thin archive, where
    ``name`` is the member's path relative to the archive's directory. The symbol
    index (``/``, ``/SYM64/``) and the long-name table (``//``) are not members.
    Raises InputError for what is not a well-formed archive."""
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror}") from None
    thin = blob.startswith(_THIN)
    if not thin and not blob.startswith(_ARCH):
        raise InputError(path, "not an ar archive (bad magic)")
    pos, longnames, out = 8, b"", []
    while pos < len(blob):
        if pos % 2:
            pos += 1  # members are 2-byte aligned
            continue
        head = blob[pos:pos + _HEADER]
        if len(head) < _HEADER or head[58:60] != b"`\n":
            raise InputError(path, f"truncated or corrupt ar header at byte {pos}")
        name, size_field = head[:16].rstrip(b" "), head[48:58].strip()
        if not size_field.isdigit():
            raise InputError(path, f"bad member size at byte {pos}")
        size = int(size_field)
        start = pos + _HEADER
        special = name in (b"/", b"/SYM64/", b"//")
        if name == b"//":
            longnames = blob[start:start + size]
        # A thin archive stores the data of its index and long-name table, and no
        # member's: the header's size is then the size of the file it names.
        stored = size if (special or not thin) else 0
        if start + stored > len(blob):
            raise InputError(path, f"truncated: a member at byte {pos} runs past the end")
        if not special:
            member = _member_name(path, name, longnames)
            out.append((member, None if thin else blob[start:start + stored]))
        pos = start + stored
    return out


def _member_name(path: Path, raw: bytes, longnames: bytes) -> str:
    if raw.startswith(b"/") and raw[1:].isdigit():
        off = int(raw[1:])
        end = longnames.find(b"\n", off)
        if off >= len(longnames) or end < 0:
            raise InputError(path, f"member name offset {off} outside the long-name table")
        raw = longnames[off:end]
    return raw.rstrip(b"/").decode("utf-8", "surrogateescape")


@contextmanager
def member_files(path: Path, _seen: frozenset[Path] = frozenset()) -> Iterator[list[Path]]:
    """Every object file the archive holds, as paths: a thin archive's own (nested thin
    archives followed), an ordinary archive's written to a scratch directory for the
    time of the ``with``. Raises InputError for a member that is missing."""
    real = path.resolve()
    if real in _seen:
        raise InputError(path, "archive includes itself")
    members = archive_members(path)
    with tempfile.TemporaryDirectory(prefix="lldbisect-ar-") as scratch:
        files: list[Path] = []
        nested = []
        for k, (name, data) in enumerate(members):
            if data is None:
                member = path.parent / name
                if not member.is_file():
                    raise InputError(path, f"member {name} is missing (a thin archive"
                                           " holds only paths: the object was deleted)")
                if is_archive(member):
                    nested.append(member)
                else:
                    files.append(member)
            else:
                out = Path(scratch) / f"{k}-{os.path.basename(name) or 'member'}"
                out.write_bytes(data)
                files.append(out)
        if not nested:
            yield files
            return
        # Nested archives: each opened in turn, all held open until the caller is done.
        with _all(nested, _seen | {real}) as inner:
            yield files + inner


@contextmanager
def _all(archives: list[Path], seen: frozenset[Path]) -> Iterator[list[Path]]:
    if not archives:
        yield []
        return
    with member_files(archives[0], seen) as first, _all(archives[1:], seen) as rest:
        yield first + rest
