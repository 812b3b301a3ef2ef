"""Run a kernel tree's own ``scripts/mksysmap`` and ``scripts/kallsyms`` on a symbol list.

The model (rules.py) reads those files; this runs them, so that every answer the model
gives can be checked against the real thing. Running them runs code from the tree: in a
scratch directory, with an environment that holds only what the scripts need (no
network or credential variables), under a time limit.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from lldbisect.cache import cache_dir
from lldbisect.errors import ToolError
from lldbisect.kernel.mksysmap import sed_flags

__all__ = ["RealTools", "decode_kallsyms_names"]

_FAKE_NM = """#!/bin/sh
# lldbisect: the tree's scripts call $NM (or nm); every file given here is a listing.
undefined=
for a; do last=$a; case $a in -u|--undefined-only) undefined=1;; esac; done
if [ -n "$undefined" ]; then exec grep '^ *[Uwv] ' "$last"; fi
exec cat "$last"
"""


@dataclass(frozen=True)
class RealTools:
    """The tree's own pipeline: mksysmap (sh or sed, as link-vmlinux.sh runs it), and
    kallsyms.c compiled with the host ``cc`` into the cache."""

    tree: Path
    kallsyms_reads_sysmap: bool
    labels: tuple[str, ...] = ()  # what the kallsyms object defines, for mksysmap's $3
    timeout: float = 60.0

    def _env(self, scratch: Path) -> dict[str, str]:
        # The scratch directory first: a script that calls `nm` itself gets ours too.
        path = f"{scratch / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        return {"PATH": path, "LC_ALL": "C",
                "HOME": str(scratch), "TMPDIR": str(scratch), "NM": str(scratch / "nm"),
                "srctree": str(self.tree), "CONFIG_SHELL": "sh"}

    def _run(self, argv: list[str], scratch: Path, stdin: str | None = None
             ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                                  errors="surrogateescape", cwd=scratch,
                                  env=self._env(scratch), timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise ToolError(f"{argv[0]} not found: needed to run {self.tree}'s scripts"
                            ) from None
        except subprocess.TimeoutExpired:
            raise ToolError(f"{' '.join(argv[:2])} ran past {self.timeout:.0f} s") from None

    @cached_property
    def mksysmap_runner(self) -> str:
        """``sed`` or ``sh``: what link-vmlinux.sh (or the file's own first line) runs."""
        script = self.tree / "scripts" / "mksysmap"
        first = script.read_text(errors="replace").split("\n", 1)[0]
        link = self.tree / "scripts" / "link-vmlinux.sh"
        called = link.read_text(errors="replace") if link.exists() else ""
        if sed_flags(first) is not None or re.search(r"sed\s+(?:-\S+\s+)*-f\s*\S*mksysmap",
                                                      called):
            return "sed"
        return "sh"

    def system_map(self, listing: str) -> str:
        """What the tree's mksysmap writes for this ``nm -n`` listing."""
        script = self.tree / "scripts" / "mksysmap"
        with tempfile.TemporaryDirectory(prefix="lldbisect-real-") as tmp:
            scratch = Path(tmp)
            runner = self.mksysmap_runner
            if runner == "sed":
                first = script.read_text(errors="replace").split("\n", 1)[0]
                # Run by link-vmlinux.sh's `sed -f` when the file's own line says less.
                flags = sed_flags(first) or ["-f"]
                done = self._run(["sed", *flags, str(script)], scratch, listing)
                out = done.stdout
            else:
                nm = scratch / "nm"
                nm.write_text(_FAKE_NM)
                nm.chmod(0o755)
                (scratch / "bin").mkdir()
                (scratch / "bin" / "nm").symlink_to(nm)
                (scratch / "vmlinux").write_text(listing)
                (scratch / "kallsyms.o").write_text(
                    "".join(f"00000000 R {n}\n" for n in self.labels))
                argv = ["sh", str(script), "vmlinux", "System.map"]
                if self.labels:
                    argv.append("kallsyms.o")
                done = self._run(argv, scratch)
                target = scratch / "System.map"
                out = target.read_text(errors="surrogateescape") if target.exists() else ""
            # grep -v exits 1 when it keeps no line at all: an empty System.map it wrote.
            wrote = runner == "sed" or (scratch / "System.map").exists()
            if done.returncode == 1 and not done.stderr.strip() and not out and wrote:
                return out
            if done.returncode:
                raise ToolError(f"{script}: exited {done.returncode} on our symbol list:"
                                f" {(done.stderr.strip().splitlines() or ['no message'])[-1]}")
            return out

    def kallsyms_binary(self) -> Path:
        """scripts/kallsyms.c compiled with the host cc, cached by its content."""
        source = self.tree / "scripts" / "kallsyms.c"
        text = source.read_bytes()
        key = hashlib.sha256(text).hexdigest()[:16]
        out = cache_dir() / "kallsyms" / f"kallsyms-{key}"
        if out.exists():
            return out
        failed = _FAILED.get((str(source.resolve()), key))
        if failed is not None:  # tried in this run, in vain: the same answer, without cc
            raise ToolError(failed)
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if cc is None:
            raise ToolError("no host C compiler (cc): cannot compile scripts/kallsyms.c")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + f".{os.getpid()}")
        includes = [f"-I{self.tree / d}" for d in ("tools/include", "scripts/include")
                    if (self.tree / d).is_dir()]
        done = subprocess.run([cc, "-O1", "-w", *includes, "-o", str(tmp), str(source)],
                              capture_output=True, text=True, check=False,
                              timeout=self.timeout)
        if done.returncode:
            lines = done.stderr.strip().splitlines() or ["no message"]
            first = next((ln for ln in lines if "error" in ln), lines[0])
            why = f"{source}: does not compile with {cc}: {first.strip()[:200]}"
            # Not cached on disk: the tree's headers (generated ones) may come later.
            _FAILED[(str(source.resolve()), key)] = why
            raise ToolError(why)
        tmp.replace(out)
        return out

    def kallsyms_table(self, symbol_list: str) -> Counter[str]:
        """The names the tree's kallsyms puts in its table (``--all-symbols``), from the
        list it reads (mksysmap's output from 6.1, the raw nm listing before)."""
        binary = self.kallsyms_binary()
        source = (self.tree / "scripts" / "kallsyms.c").read_text(errors="replace")
        # The names do not depend on the layout options, but a run fails without the
        # ones its symbols need (x86-64's per-CPU symbols want --absolute-percpu).
        known = [o for o in ("--absolute-percpu", "--base-relative") if f'"{o[2:]}"' in source]
        tries = [["--all-symbols"], *(["--all-symbols", o] for o in known)]
        if '"all-symbols"' not in source:  # 2.6: no options, every symbol tabled
            tries = [[]]
        if len(known) == 2:
            tries.append(["--all-symbols", *known])
        with tempfile.TemporaryDirectory(prefix="lldbisect-real-") as tmp:
            scratch = Path(tmp)
            syms = scratch / "vmlinux.syms"
            syms.write_text(symbol_list, errors="surrogateescape")
            first: subprocess.CompletedProcess[str] | None = None
            for opts in tries:
                done = self._run([str(binary), *opts, str(syms)], scratch)
                if done.returncode and "sage" in done.stderr:  # before 5.x: stdin only
                    done = self._run([str(binary), *opts], scratch, symbol_list)
                if not done.returncode:
                    return decode_kallsyms_names(done.stdout)
                first = first or done
            assert first is not None
            raise ToolError(f"{binary.name} (the tree's kallsyms) exited {first.returncode}:"
                            f" {first.stderr.strip()[:200]}")


_FAILED: dict[tuple[str, str], str] = {}
_TOKEN = re.compile(r'\s*\.asciz\s+"((?:[^"\\]|\\.)*)"')
_BYTES = re.compile(r"\s*\.byte\s+(.*)")


def decode_kallsyms_names(asm: str) -> Counter[str]:
    """The symbol names (without their type letter) of a kallsyms ``.S``: each entry of
    ``kallsyms_names`` is a length (one byte, or two with the top bit set) and that many
    indices into ``kallsyms_token_table``."""
    section = ""
    tokens: list[str] = []
    entries: list[list[int]] = []
    for line in asm.splitlines():
        s = line.strip()
        if s.endswith(":") and not s.startswith("."):
            section = s[:-1]
            continue
        if section == "kallsyms_token_table":
            m = _TOKEN.match(line)
            if m:
                tokens.append(m.group(1).encode().decode("unicode_escape"))
        elif section == "kallsyms_names":
            m = _BYTES.match(line)
            if m:
                # 6.x writes the decoded name in a comment after the bytes.
                data = m.group(1).split("/*", 1)[0]
                entries.append([int(b, 0) for b in data.split(",") if b.strip()])
    names: Counter[str] = Counter()
    for e in entries:
        k = 2 if e[0] & 0x80 else 1
        text = "".join(tokens[i] for i in e[k:])
        names[text[1:]] += 1  # the first character is the symbol's type
    return names
