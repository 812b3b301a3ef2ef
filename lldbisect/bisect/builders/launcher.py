"""The compiler launcher of a build step: chosen explicitly, checked to run, and asked
for its own hit and miss counts around each step.

ccache is the default when installed. It is set up to share hits between bisects:
with ``base_dir`` at the root both bisects' worktrees and build directories sit under
(the cache root) and ``hash_dir`` off, the absolute paths CMake and kbuild pass become
relative ones, so a second worktree and build directory hit what the first filled.
sccache (0.4, Debian 12's) has no such setting: its hits stay within one directory.
distcc sends compiles to ``DISTCC_HOSTS``, and the step runs as many jobs as the hosts
have slots (``distcc -j``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lldbisect.errors import InputError, ToolError

__all__ = ["LAUNCHERS", "Launcher", "LauncherStats", "resolve_launcher"]

LAUNCHERS = ("ccache", "sccache", "distcc", "none")


@dataclass(frozen=True)
class LauncherStats:
    """Compiles the launcher answered from its cache (hits) and those it compiled
    (misses), by its own counters; for distcc, no cache: neither is known."""

    hits: int
    misses: int

    def minus(self, before: LauncherStats) -> LauncherStats:
        return LauncherStats(self.hits - before.hits, self.misses - before.misses)

    @property
    def rate(self) -> float | None:
        total = self.hits + self.misses
        return None if total == 0 else self.hits / total

    def to_json(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}


@dataclass(frozen=True)
class Launcher:
    name: str  # one of LAUNCHERS
    path: str | None  # the launcher program; None for "none"
    why: str  # how it was chosen, for the progress line
    env: dict[str, str] = field(default_factory=dict)  # what the build's commands need
    jobs: int | None = None  # parallel jobs the hosts take (distcc); None: the machine's

    @property
    def prefix(self) -> list[str]:
        """What goes in front of the compiler (CMAKE_<LANG>_COMPILER_LAUNCHER, CC=)."""
        return [] if self.path is None else [self.name]

    def stats(self) -> LauncherStats | None:
        """The launcher's counters now, from the launcher itself; None when it keeps
        none (distcc, none). Raises ToolError when it does not answer."""
        if self.name == "ccache":
            return _ccache_stats(self._ask(["--print-stats"]))
        if self.name == "sccache":
            return _sccache_stats(self._ask(["--show-stats", "--stats-format", "json"]))
        return None

    def _ask(self, args: list[str]) -> str:
        assert self.path is not None
        try:
            done = subprocess.run([self.path, *args], capture_output=True, text=True,
                                  env={**os.environ, **self.env}, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ToolError(f"{self.name} {' '.join(args)}: {e}") from None
        if done.returncode:
            tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise ToolError(f"{self.name} {' '.join(args)} failed: {tail}")
        return done.stdout


def resolve_launcher(choice: str | None, base_dir: Path) -> Launcher:
    """The launcher ``choice`` names (None: ccache when installed, else none). Raises
    InputError for an unknown name and ToolError when the one asked for is not
    installed or, for distcc, has no hosts to send compiles to."""
    if choice is None:
        path = shutil.which("ccache")
        if path is None:
            return Launcher("none", None, "none (default: ccache is not installed)")
        return Launcher("ccache", path, "ccache (default: installed)", _ccache_env(base_dir))
    if choice not in LAUNCHERS:
        raise InputError(None, f"--launcher {choice}: not one of {', '.join(LAUNCHERS)}")
    if choice == "none":
        return Launcher("none", None, "none (--launcher none)")
    path = shutil.which(choice)
    if path is None:
        raise ToolError(f"--launcher {choice}: {choice} is not installed")
    why = f"{choice} (--launcher {choice})"
    if choice == "ccache":
        return Launcher(choice, path, why, _ccache_env(base_dir))
    if choice == "sccache":
        return Launcher(choice, path, why + ": hits only within one build directory")
    hosts, where = _distcc_hosts()
    if not hosts:
        raise ToolError("--launcher distcc: no hosts (set DISTCC_HOSTS, or write"
                        " ~/.distcc/hosts): distcc would compile everything here")
    jobs = _distcc_jobs(path)
    return Launcher(choice, path, why + f": {jobs} jobs over {hosts} ({where})", jobs=jobs)


def _ccache_env(base_dir: Path) -> dict[str, str]:
    # Environment settings win over ccache.conf, only for our builds' commands.
    return {"CCACHE_BASEDIR": str(base_dir), "CCACHE_NOHASHDIR": "1"}


SYSTEM_HOSTS = Path("/etc/distcc/hosts")


def _distcc_hosts() -> tuple[str, str]:
    """The hosts distcc will use and where they come from, looked up as distcc does:
    DISTCC_HOSTS, then $DISTCC_DIR/hosts (~/.distcc/hosts), then the system's file."""
    if env := os.environ.get("DISTCC_HOSTS", "").strip():
        return env, "DISTCC_HOSTS"
    home = Path(os.environ.get("DISTCC_DIR") or os.path.expanduser("~/.distcc"))
    for f in (home / "hosts", SYSTEM_HOSTS):
        try:
            lines = f.read_text().splitlines()
        except OSError:
            continue
        hosts = " ".join(ln.split("#", 1)[0].strip() for ln in lines).split()
        return " ".join(hosts), str(f)
    return "", ""


def _distcc_jobs(path: str) -> int:
    """How many jobs the hosts take, as distcc counts their slots."""
    try:
        out = subprocess.run([path, "-j"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolError(f"distcc -j: {e}") from None
    try:
        return max(1, int(out.stdout.strip()))
    except ValueError:
        raise ToolError(f"distcc -j printed no number: {out.stdout.strip()!r}") from None


def _ccache_stats(text: str) -> LauncherStats:
    """``ccache --print-stats``: one ``key<TAB>value`` line per counter (ccache ≥ 4)."""
    counters: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition("\t")
        if value.strip().isdigit():
            counters[key.strip()] = int(value)
    if "cache_miss" not in counters:
        raise ToolError("ccache --print-stats: no cache_miss counter (ccache < 4?)")
    return LauncherStats(counters.get("direct_cache_hit", 0)
                         + counters.get("preprocessed_cache_hit", 0),
                         counters["cache_miss"])


def _sccache_stats(text: str) -> LauncherStats:
    """``sccache --show-stats --stats-format json``: counts per language."""
    try:
        stats = json.loads(text)["stats"]
        hits = sum(stats["cache_hits"]["counts"].values())
        misses = sum(stats["cache_misses"]["counts"].values())
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ToolError("sccache --show-stats: not the JSON shape sccache 0.4 prints"
                        ) from None
    return LauncherStats(int(hits), int(misses))
