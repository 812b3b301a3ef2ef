"""Proving a patch never leaves a tree patched, nor a build relinked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lldbisect.kernel import overlay
from lldbisect.kernel.overlay import patched_tree
from lldbisect.kernel.snapshot import kept_build

ORIGINAL = "#!/bin/sh\n$NM -n \"$1\" | sed -e '/ __crc_/d' > \"$2\"\n"
PATCHED = ORIGINAL.replace("/ __crc_/d", "/ __crc_/d' -e '/ __ARMv4PILongBXThunk_/d")


def _tree_and_patch(tmp: Path) -> tuple[Path, str]:
    tree = tmp / "linux"
    (tree / "scripts").mkdir(parents=True)
    mksysmap = tree / "scripts" / "mksysmap"
    mksysmap.write_text(ORIGINAL)
    git = ["git", "-C", str(tree)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit",
                    "-qm", "base"], check=True)
    mksysmap.write_text(PATCHED)
    patch = subprocess.run([*git, "diff"], capture_output=True, text=True, check=True).stdout
    mksysmap.write_text(ORIGINAL)
    return tree, patch


def test_the_patched_view_is_seen_only_by_the_relink(tmp_path: Path) -> None:
    if not overlay.namespaces_work():
        pytest.fail("no private mount namespace here: unshare is part of util-linux")
    tree, patch = _tree_and_patch(tmp_path)
    target = tree / "scripts" / "mksysmap"
    with patched_tree(tree, patch) as view:
        assert not view.in_place and target.read_text() == ORIGINAL
        seen = subprocess.run(view.wrap(["cat", str(target)]), capture_output=True,
                              text=True, check=True).stdout
        assert seen == PATCHED
    assert target.read_text() == ORIGINAL


def test_in_place_fallback_reverts_on_error(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overlay, "namespaces_work", lambda: False)
    tree, patch = _tree_and_patch(tmp_path)
    target = tree / "scripts" / "mksysmap"
    with pytest.raises(RuntimeError), patched_tree(tree, patch) as view:
        assert view.in_place and target.read_text() == PATCHED
        assert view.wrap(["true"]) == ["true"]
        raise RuntimeError("the relink failed")
    assert target.read_text() == ORIGINAL


@pytest.mark.parametrize("namespaces", [True, False])
def test_a_patch_that_does_not_apply_changes_nothing(tmp_path: Path, namespaces: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overlay, "namespaces_work", lambda: namespaces)
    tree, patch = _tree_and_patch(tmp_path)
    target = tree / "scripts" / "mksysmap"
    target.write_text(ORIGINAL.replace("__crc_", "__kstrtab_"))
    with pytest.raises(ValueError, match="patch"), patched_tree(tree, patch):
        pass
    assert target.read_text() == ORIGINAL.replace("__crc_", "__kstrtab_")


CHILD = """
import signal, sys, time
from pathlib import Path
from lldbisect.cli import app
from lldbisect.kernel import overlay
overlay.namespaces_work = lambda: False
signal.signal(signal.SIGTERM, app._terminate)
tree, patch = Path(sys.argv[1]), Path(sys.argv[2]).read_text()
try:
    with overlay.patched_tree(tree, patch):
        print("patched", flush=True)
        time.sleep(60)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_sigterm_reverts_an_in_place_patch(tmp_path: Path) -> None:
    tree, patch = _tree_and_patch(tmp_path)
    mail = tmp_path / "0001.patch"
    mail.write_text(patch)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tree), str(mail)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "patched\n"
    assert (tree / "scripts" / "mksysmap").read_text() == PATCHED
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert (tree / "scripts" / "mksysmap").read_text() == ORIGINAL


def test_kept_build_puts_the_last_link_back(tmp_path: Path) -> None:
    build = tmp_path / "build"
    (build / "scripts").mkdir(parents=True)
    (build / "drivers").mkdir()
    files = {"vmlinux": b"\x7fELF last link", "System.map": b"c0008000 T _text\n",
             ".config": b"# Linux/arm 6.1.0 Kernel Configuration\n",
             "scripts/kallsyms": b"unpatched program"}
    for rel, data in files.items():
        (build / rel).write_bytes(data)
    old = time.time() - 3600
    for rel in files:
        os.utime(build / rel, (old, old))
    times = {rel: (build / rel).stat().st_mtime_ns for rel in files}
    with pytest.raises(KeyboardInterrupt), kept_build(build):
        (build / "vmlinux").write_bytes(b"\x7fELF relinked")
        (build / "System.map").unlink()
        (build / ".tmp_vmlinux.kallsyms3").write_bytes(b"a third pass")
        (build / "scripts" / "kallsyms").write_bytes(b"patched program")
        (build / "drivers" / "built-in.a").write_bytes(b"not the link's")
        raise KeyboardInterrupt
    for rel, data in files.items():
        assert (build / rel).read_bytes() == data
        assert (build / rel).stat().st_mtime_ns == times[rel]
    assert not (build / ".tmp_vmlinux.kallsyms3").exists()
    assert (build / "drivers" / "built-in.a").exists()  # below the top: not a link's file
    assert sorted(p.name for p in build.iterdir()) == sorted(
        [".config", "System.map", "drivers", "scripts", "vmlinux"])
