"""Compiler launchers, for real: ccache and sccache count their own hits, a second
bisect's worktree and build directory hit what the first filled, distcc sends the
compiles to a distccd on 127.0.0.1, and a launcher that cannot run is a one-line error.

The builds are the LLVM builder's own CMake + Ninja path over a CMake project of ours
shaped like LLVM's (``llvm/CMakeLists.txt``, an ``lld`` target, headers under the
source tree and generated in the build tree): a real LLVM build is issue 22's marker.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lldbisect.bisect.builders.cache import LinkerCache
from lldbisect.bisect.builders.launcher import Launcher, LauncherStats, resolve_launcher
from lldbisect.bisect.builders.llvm import LlvmBuilder, LlvmRecipe
from lldbisect.bisect.gitrepo import Worktree, open_repo
from lldbisect.bisect.policy import launcher_counts
from lldbisect.errors import ToolError
from tests.conftest import require
from tests.llvmrepo import commit_history

SOURCES = 12

CMAKE = """\
cmake_minimum_required(VERSION 3.20)
project(FixtureLLVM CXX)
# What LLVM's build takes and this project ignores: LLVM_ENABLE_PROJECTS and friends.
set(LLVM_ENABLE_PROJECTS "" CACHE STRING "")
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/include/Config.h.in
               ${CMAKE_CURRENT_BINARY_DIR}/include/Config.h)
file(GLOB srcs ${CMAKE_CURRENT_SOURCE_DIR}/lib/*.cpp)
add_executable(ld.lld ${srcs})
target_include_directories(ld.lld PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/include
                           ${CMAKE_CURRENT_BINARY_DIR}/include)
set_target_properties(ld.lld PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
add_custom_target(lld DEPENDS ld.lld)
"""


def _tree() -> dict[str, str]:
    files = {"llvm/CMakeLists.txt": CMAKE,
             "llvm/include/Config.h.in": "#define FIXTURE_NAME \"${PROJECT_NAME}\"\n",
             "llvm/include/Thunks.h": "#include <string>\nstd::string thunk(int);\n"}
    for i in range(SOURCES):
        files[f"llvm/lib/Part{i}.cpp"] = (
            '#include "Thunks.h"\n#include "Config.h"\n#include <map>\n'
            f"std::string part{i}() {{ std::map<int, std::string> m{{{{ {i}, FIXTURE_NAME }}}};"
            f" return m[{i}]; }}\n")
    files["llvm/lib/Main.cpp"] = (
        '#include "Thunks.h"\n#include <cstdio>\nstd::string thunk(int i)'
        ' { return "__ARMV5LongLdrPcThunk_" + std::to_string(i); }\n'
        'int main() { std::puts(thunk(1).c_str()); return 0; }\n')
    return files


@pytest.fixture
def checkouts(tmp_path: Path) -> list[Path]:
    """Two clones of one history, as two users' (or two bisects') LLVM checkouts."""
    first = tmp_path / "alice" / "llvm-project"
    commit_history(first, [("fixture LLVM", _tree())])
    second = tmp_path / "bob" / "llvm-project"
    subprocess.run(["git", "clone", "-q", str(first), str(second)], check=True)
    return [first, second]


@pytest.fixture
def ccache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "ccache"
    monkeypatch.setenv("CCACHE_DIR", str(d))
    return d


def _builder(checkout: Path, root: Path, launcher_for: str | None,
             launcher: Launcher | None = None) -> LlvmBuilder:
    """A builder laid out as ``llvm_bisect`` lays it out: source and build side by
    side under the cache root, one pair per checkout."""
    repo = open_repo(checkout)
    top = root / "llvm" / checkout.parent.name
    chosen = launcher or resolve_launcher(launcher_for, top)
    # One linker cache per checkout: the second must build, not take the first's lld.
    return LlvmBuilder(Worktree(repo, top / "src"), top / "build",
                       LinkerCache(top / "linkers"), LlvmRecipe(targets="ARM"), chosen)


def _build(builder: LlvmBuilder) -> LauncherStats | None:
    before = builder.launcher.stats()
    built = builder.linker_for("HEAD")
    assert not built.failed and built.linker is not None, built.log[-2000:]
    out = subprocess.run([str(built.linker)], capture_output=True, text=True).stdout
    assert out.strip() == "__ARMV5LongLdrPcThunk_1"
    after = builder.launcher.stats()
    return None if before is None or after is None else after.minus(before)


def test_ccache_hits_across_bisects_of_two_checkouts(checkouts: list[Path], tmp_path: Path,
                                                     ccache_dir: Path) -> None:
    """The second checkout's worktree and build directory hit every compile the first
    filled, by ccache's own counters; with ccache's defaults (absolute paths in the
    hash) the same second build misses every one."""
    require("ccache", "cmake", "ninja")
    root = tmp_path / "cache"
    first = _build(_builder(checkouts[0], root, "ccache"))
    assert first == LauncherStats(0, SOURCES + 1)
    second = _build(_builder(checkouts[1], root, "ccache"))
    assert second == LauncherStats(SOURCES + 1, 0)
    # ccache's defaults: no base_dir, so the absolute include and source paths differ.
    plain = Launcher("ccache", first_path("ccache"), "ccache (defaults)")
    third = _build(_builder(checkouts[1], tmp_path / "elsewhere", None, plain))
    assert third == LauncherStats(0, SOURCES + 1)


def first_path(tool: str) -> str:
    found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                           text=True).stdout.strip()
    assert found, tool
    return found


def test_sccache_counts_its_hits(checkouts: list[Path], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """sccache's counters, from its server: a rebuild of the same build directory hits."""
    require("sccache", "cmake", "ninja")
    monkeypatch.setenv("SCCACHE_DIR", str(tmp_path / "sccache"))
    monkeypatch.setenv("SCCACHE_SERVER_PORT", str(_free_port()))
    try:
        builder = _builder(checkouts[0], tmp_path / "cache", "sccache")
        assert "within one build directory" in builder.launcher.why
        first = _build(builder)
        assert first is not None and first.misses == SOURCES + 1 and first.hits == 0
        subprocess.run(["ninja", "-C", str(builder.build_dir), "-t", "clean"], check=True,
                       capture_output=True)
        builder.cache = LinkerCache(tmp_path / "other-linkers")  # build again, really
        second = _build(builder)
        assert second == LauncherStats(SOURCES + 1, 0)
    finally:
        subprocess.run(["sccache", "--stop-server"], capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def distccd(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A distccd on 127.0.0.1 only, allowing 127.0.0.1 only, with its own log."""
    require("distccd", "distcc")
    port = _free_port()
    # Started as root, distccd drops to the distcc user: its log goes where that user
    # can write (pytest's tmp_path is the owner's only).
    logs = Path(tempfile.mkdtemp(prefix="lldbisect-distccd-"))
    logs.chmod(0o777)
    log = logs / "distccd.log"
    proc = subprocess.Popen(["distccd", "--no-detach", "--daemon", "--listen", "127.0.0.1",
                             "--allow", "127.0.0.1", "--port", str(port), "--jobs", "3",
                             "--log-file", str(log), "--log-level", "info"])
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("distccd did not listen")
        yield f"127.0.0.1:{port}/3", log
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(logs, ignore_errors=True)


def test_distcc_sends_the_compiles_to_the_daemon(checkouts: list[Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 distccd: tuple[str, Path]) -> None:
    """Every compile of the build ran on the daemon over loopback, as its own log says;
    the build runs as many jobs as the host has slots."""
    require("cmake", "ninja")
    hosts, log = distccd
    monkeypatch.setenv("DISTCC_HOSTS", hosts)
    monkeypatch.setenv("DISTCC_FALLBACK", "0")  # a failed send fails, never compiles here
    (tmp_path / "distcc-state").mkdir()
    monkeypatch.setenv("DISTCC_DIR", str(tmp_path / "distcc-state"))
    builder = _builder(checkouts[0], tmp_path / "cache", "distcc")
    assert builder.launcher.jobs == 3 and "3 jobs over 127.0.0.1" in builder.launcher.why
    assert _build(builder) is None  # distcc keeps no hit counters
    compiled = [ln for ln in log.read_text().splitlines() if "COMPILE_OK" in ln]
    assert len(compiled) == SOURCES + 1, log.read_text()[-2000:]


def test_distcc_without_hosts_is_a_tool_error(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Hosts as distcc looks them up: DISTCC_HOSTS, then $DISTCC_DIR/hosts, then the
    system's file (Debian's package writes one naming 127.0.0.1); none at all is an
    error, since distcc would compile everything here."""
    from lldbisect.bisect.builders import launcher

    require("distcc")
    monkeypatch.delenv("DISTCC_HOSTS", raising=False)
    monkeypatch.setenv("DISTCC_DIR", str(tmp_path))
    (tmp_path / "hosts").write_text("# ours\n10.0.0.7/4 10.0.0.8/4  # two\n")
    assert "over 10.0.0.7/4 10.0.0.8/4 (" + str(tmp_path / "hosts") + ")" in (
        resolve_launcher("distcc", tmp_path).why)
    (tmp_path / "hosts").unlink()
    monkeypatch.setattr(launcher, "SYSTEM_HOSTS", tmp_path / "no-such-file")
    with pytest.raises(ToolError, match="no hosts"):
        resolve_launcher("distcc", tmp_path)


def test_a_launcher_not_installed_is_a_one_line_tool_error(tmp_path: Path) -> None:
    """--launcher sccache on a PATH without it: exit 3, one line, before any build."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "git").symlink_to(first_path("git"))
    repo = tmp_path / "linux"
    commit_history(repo, [("one", {"Makefile": "all:\n"}), ("two", {"README": "x\n"})])
    env = {**os.environ, "PATH": str(bindir), "LLDBISECT_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "lldbisect", "bisect", "kernel",
                           "--kernel-src", str(repo), "--good", "HEAD~1", "--bad", "HEAD",
                           "--ld", "/usr/lib/llvm-16/bin/ld.lld", "--launcher", "sccache"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        "lldbisect: --launcher sccache: sccache is not installed"], done.stderr
    bogus = subprocess.run([sys.executable, "-m", "lldbisect", "bisect", "kernel",
                            "--kernel-src", str(repo), "--good", "HEAD~1", "--bad", "HEAD",
                            "--ld", "/usr/lib/llvm-16/bin/ld.lld", "--launcher", "icecc"],
                           capture_output=True, text=True, env=env)
    assert bogus.returncode == 2 and "Traceback" not in bogus.stderr


def test_launcher_counts_in_the_progress_line() -> None:
    assert launcher_counts(None) == ""
    assert launcher_counts({"name": "ccache", "hits": 13, "misses": 0}) == (
        ", ccache 13 hits 0 misses (100 %)")
    assert launcher_counts({"name": "distcc", "hits": None, "misses": None}) == ", distcc"
