"""Where lldbisect keeps what it downloads and builds: never inside a repository."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$LLDBISECT_CACHE``, else ``$XDG_CACHE_HOME/lldbisect``, else ``~/.cache/lldbisect``."""
    if env := os.environ.get("LLDBISECT_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lldbisect"
