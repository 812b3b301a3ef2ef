"""A size-limited cache of built linkers, keyed by content, not by commit.

The key is what the build depends on (the git tree hashes of the paths that matter, the
build flags, the compiler's version), so commits that leave those alone share one binary.
Least recently used entries go first when the cache outgrows its limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from lldbisect.errors import ToolError

__all__ = ["LinkerCache"]


class LinkerCache:
    def __init__(self, root: Path, max_bytes: int = 20 << 30) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _entry(self, key: str) -> Path:
        return self.root / hashlib.sha256(key.encode()).hexdigest()[:32]

    def failed(self, key: str) -> str | None:
        """The log of a build of ``key`` that failed before, or None: a broken commit
        is a skip every time, so it is not rebuilt on a rerun."""
        marker = self._entry(key).with_suffix(".failed")
        try:
            text = marker.read_text()
        except OSError:
            return None
        stored_key, _, log = text.partition("\n")
        return log if stored_key == key else None

    def mark_failed(self, key: str, log: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._entry(key).with_suffix(".failed").write_text(key + "\n" + log)

    def get(self, key: str) -> Path | None:
        """The cached linker for ``key``, or None. Raises ToolError on a broken entry."""
        entry = self._entry(key)
        linker = entry / "ld.lld"
        if not entry.exists():
            return None
        try:
            if (entry / "key").read_text() != key or not os.access(linker, os.X_OK):
                raise ToolError(f"broken linker cache entry {entry}: remove it")
            os.utime(entry)  # recently used
        except OSError as e:
            raise ToolError(f"broken linker cache entry {entry}: {e.strerror}") from None
        return linker

    def put(self, key: str, built: Path, meta: dict[str, object]) -> Path:
        """Copy ``built`` in (atomically) and return the cached path."""
        entry = self._entry(key)
        tmp = entry.with_name(entry.name + f".tmp{os.getpid()}")
        try:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            shutil.copy2(built, tmp / "ld.lld", follow_symlinks=True)
            (tmp / "key").write_text(key)
            (tmp / "meta.json").write_text(json.dumps({**meta, "stored": time.time()}))
            if entry.exists():
                shutil.rmtree(entry)
            tmp.rename(entry)
        except OSError as e:
            raise ToolError(f"cannot store a linker in {self.root}: {e.strerror}") from None
        self._evict(keep=entry)
        return entry / "ld.lld"

    def _evict(self, keep: Path) -> None:
        entries = [p for p in self.root.iterdir() if p.is_dir() and ".tmp" not in p.name
                   and p.suffix != ".failed"]
        sizes = {p: sum(f.stat().st_size for f in p.iterdir()) for p in entries}
        total = sum(sizes.values())
        for p in sorted(entries, key=lambda p: p.stat().st_mtime):
            if total <= self.max_bytes:
                break
            if p != keep:
                shutil.rmtree(p, ignore_errors=True)
                total -= sizes[p]
