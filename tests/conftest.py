"""Session fixtures: real toolchains build the files the tests read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import elfcorpus


def require(*tools: str) -> None:
    """Fail (never skip): a missing tool means the set-up command was not run."""
    missing = [t for t in tools if shutil.which(t) is None and not Path(t).exists()]
    if missing:
        pytest.fail(f"missing tools {missing}: run the README's set-up command first")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[elfcorpus.Built]:
    """Every target's symbol-kinds file, assembled and linked by every Debian linker."""
    require("clang", *(t.nm for t in elfcorpus.TARGETS))
    lld = elfcorpus.available_lld()
    if len(lld) < 6:
        pytest.fail(f"expected Debian's lld-13/14/15/16/19/22, found {lld}")
    out = tmp_path_factory.mktemp("elfcorpus")
    built: list[elfcorpus.Built] = []
    for target in elfcorpus.TARGETS:
        built += elfcorpus.build_target(target, out, lld)
    return built


@pytest.fixture(scope="session")
def real_trees() -> dict[str, Path]:
    """Debian's 6.1 (bookworm) and 6.12 (trixie) trees, rule files only, from the cache."""
    from lldbisect.kernel import sources

    return {"6.1": sources.kernel_source("linux-source-6.1"),
            "6.12": sources.kernel_source("linux-source-6.12", "trixie")}


@pytest.fixture(scope="session")
def versions(real_trees: dict[str, Path]) -> dict[str, str]:
    """Each real tree's own version, as its Makefile says (``6.1`` -> ``6.1.<stable>``):
    Debian moves the stable number under us, so no test writes it down."""
    from lldbisect.kernel.rules import load_rules

    return {k: load_rules(tree).version for k, tree in real_trees.items()}


@pytest.fixture(scope="session")
def tiny_arm() -> object:
    """The tiny ARMv5 6.1 kernel of `lldbisect repro`, built once per session
    (about 100 s; later sessions on this machine relink the cached build)."""
    from lldbisect.kernel.repro import TinyArmBuild

    require("make", "/usr/lib/llvm-14/bin/clang", "/usr/lib/llvm-15/bin/ld.lld")
    build = TinyArmBuild()
    result = build.build("/usr/lib/llvm-15/bin/ld.lld")
    if result.returncode:
        pytest.fail(f"the tiny ARMv5 kernel does not build:\n{result.log[-3000:]}")
    return build


@pytest.fixture(scope="session")
def tiny_ppc() -> Path:
    """The tiny ppc64le 6.1 build of tests/tinyppc.py (clang + GNU as + ld.lld-16),
    built once (a few minutes; later sessions here reuse it)."""
    import subprocess

    from tests import tinyppc

    require("make", "/usr/lib/llvm-14/bin/clang", "powerpc64le-linux-gnu-as",
            "/usr/lib/llvm-16/bin/ld.lld")
    try:
        return tinyppc.build()
    except subprocess.CalledProcessError as e:
        pytest.fail(f"the tiny ppc64le kernel does not build:\n{(e.stdout or '')[-2000:]}"
                    f"{(e.stderr or '')[-2000:]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers say what a test really does: ``realbuild`` exactly on the tests that build
    or relink the real kernel (the ``tiny_arm`` fixture; README examples mark themselves
    by their commands), ``kernel`` on every test that reads Debian's kernel sources."""
    wrong = []
    for item in items:
        if item.nodeid.startswith("tests/test_readme.py"):
            continue
        used = set(getattr(item, "fixturenames", ()))
        builds = bool(used & {"tiny_arm", "tiny_ppc"})
        reads = builds or bool(used & {"real_trees", "versions", "kernel_args"})
        if builds != (item.get_closest_marker("realbuild") is not None):
            wrong.append(f"{item.nodeid}: realbuild marker {'missing' if builds else 'wrong'}")
        if reads and item.get_closest_marker("kernel") is None:
            wrong.append(f"{item.nodeid}: kernel marker missing")
    if wrong:
        raise pytest.UsageError("markers that do not match the tests:\n" + "\n".join(wrong))
