"""Fetch Debian packages (kernel sources, debug kernels) into a cache outside any repository.

Packages of the machine's own release come through ``apt-get download``; packages of
another release (trixie's ``linux-source-6.12`` on a bookworm machine) through a private
apt configuration in the cache, so the system's sources are never touched.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from lldbisect.cache import cache_dir
from lldbisect.errors import ToolError

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def _run(argv: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    except FileNotFoundError:
        raise ToolError(f"{argv[0]} not found: needed to {what}") from None
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolError(f"could not {what}: {' '.join(argv[:2])} exited"
                        f" {done.returncode}: {tail[0]}")
    return done.stdout


def system_mirror() -> str:
    """The Debian mirror the machine's own apt sources use."""
    for path in [Path("/etc/apt/sources.list"),
                 *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = path.read_text()
        except OSError:
            continue
        m = re.search(r"^\s*URIs:\s*(\S+/debian)/?\s*$", text, re.M) or re.search(
            r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+\S+", text, re.M)
        if m:
            return m.group(1)
    return DEFAULT_MIRROR


def system_suite() -> str:
    """The machine's own Debian release (bookworm here)."""
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        text = ""
    m = re.search(r"^VERSION_CODENAME=\"?(\w+)", text, re.M)
    if m is None:
        raise ToolError("/etc/os-release names no VERSION_CODENAME: which Debian is this?")
    return m.group(1)


def _gpgv() -> list[str]:
    """apt's verifier named by its path: seen on this machine, apt-key (run by apt's
    gpgv method) stopped finding gpgv on its PATH mid-session, and every list was
    "not signed"; the path works whatever that PATH is."""
    gpgv = shutil.which("gpgv")
    return ["-o", f"Apt::Key::gpgvcommand={gpgv}"] if gpgv else []


def _apt_config(name: str, lines: str, index: str, what: str,
                extra: tuple[str, ...] = ()) -> list[str]:
    """apt options for a private configuration in the cache named ``name``, whose only
    sources are ``lines``; its lists are read once (``index``: the glob of a list that
    says they were)."""
    root = cache_dir() / "apt" / name
    lists = root / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    sources = root / "sources.list"
    sources.write_text(lines)
    opts = ["-o", f"Dir::Etc::sourcelist={sources}", "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={root / 'cache'}",
            "-o", "APT::Get::List-Cleanup=0", *_gpgv(), *extra]
    if not any(lists.glob(index)):
        (root / "cache").mkdir(exist_ok=True)
        _run(["apt-get", "-q", *opts, "update"], f"read the {what}")
    return opts


def _private_apt(suite: str, arch: str | None = None) -> list[str]:
    """apt options for a private configuration that knows only ``suite`` (and, with
    ``arch``, only that architecture's packages: no ``dpkg --add-architecture``)."""
    extra = ("-o", f"APT::Architecture={arch}", "-o", f"APT::Architectures={arch}") if (
        arch) else ()
    return _apt_config(f"{suite}-{arch}" if arch else suite,
                       f"deb [signed-by={KEYRING}] {system_mirror()} {suite} main\n",
                       "*Packages*", f"{suite} package lists", extra)


def download(package: str, suite: str | None = None, arch: str | None = None) -> Path:
    """The ``.deb`` of ``package`` in the cache, downloading it once.

    ``suite`` names another Debian release than the machine's (e.g. ``trixie``),
    ``arch`` another architecture (``arm64``). Raises ToolError when apt cannot get it.
    """
    dest = cache_dir() / "debs" / ((suite or "system") + (f"-{arch}" if arch else ""))
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    opts = _private_apt(suite or system_suite(), arch) if suite or arch else []
    partial = dest / "partial"
    partial.mkdir(exist_ok=True)
    _run(["apt-get", "-q", *opts, "download", package], f"download {package}", partial)
    debs = sorted(partial.glob(f"{package}_*.deb"))
    if not debs:
        raise ToolError(f"apt-get download {package} left no .deb in {partial}")
    final = dest / debs[-1].name
    debs[-1].replace(final)
    return final


def deb_member(deb: Path, member: str, out: Path) -> Path:
    """Extract one file of a ``.deb``'s data archive to ``out`` (once)."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                          stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for info in tar:
                if info.name.lstrip("./") == member.lstrip("./"):
                    src = tar.extractfile(info)
                    if src is None:
                        break
                    with open(tmp, "wb") as f:
                        shutil.copyfileobj(src, f, 1 << 20)
                    break
        proc.stdout.close()
    if not tmp.exists():
        raise ToolError(f"{deb.name} has no {member}")
    tmp.replace(out)
    return out


def current_dependency(metapackage: str, suite: str | None = None,
                       arch: str | None = None) -> str:
    """The versioned package a metapackage depends on today: Debian replaces
    ``linux-image-6.1.0-N-cloud-amd64-dbg`` at every ABI bump, the metapackage stays."""
    opts = _private_apt(suite or system_suite(), arch) if suite or arch else []
    out = _run(["apt-cache", *opts, "depends", metapackage], f"look up {metapackage}")
    m = re.search(r"Depends: (\S+)", out)
    if m is None:
        raise ToolError(f"apt-cache knows no dependency of {metapackage}")
    return m.group(1).split(":")[0]


def distro_vmlinux(arch: str = "amd64") -> Path:
    """The vmlinux (with its full symbol table) of Debian's current cloud kernel for
    ``arch``, from its ``-dbg`` package: a real distribution-size image."""
    own = arch == _run(["dpkg", "--print-architecture"], "read the architecture").strip()
    package = current_dependency(f"linux-image-cloud-{arch}-dbg", None,
                                 None if own else arch)
    flavour = package.removeprefix("linux-image-").removesuffix("-dbg")
    member = f"usr/lib/debug/boot/vmlinux-{flavour}"
    deb = download(package, None, None if own else arch)
    return deb_member(deb, member, cache_dir() / "vmlinux" / Path(member).name)


# What a kernel tree's rules and link stages need, for a partial unpack.
RULE_FILES = ("Makefile", "scripts/kallsyms.c", "scripts/mksysmap",
              "scripts/link-vmlinux.sh", "scripts/checkpatch.pl", "scripts/spelling.txt",
              "scripts/const_structs.checkpatch", "include/linux/kallsyms.h",
              "tools/include/linux/kallsyms.h", "scripts/include")


def kernel_source(package: str = "linux-source-6.1", suite: str | None = None, *,
                  full: bool = False) -> Path:
    """Debian's kernel source unpacked in the cache; the tree's path.

    By default only the files that hold the kallsyms rules and the link stages are
    unpacked (seconds); ``full`` unpacks the whole tree for a kernel build.
    Raises ToolError when a download or unpack fails.
    """
    deb = download(package, suite)
    version = deb.name.split("_")[1]
    root = cache_dir() / "src" / f"{package}_{version}{'' if full else '-rules'}"
    tree = root / package
    if (root / ".complete").exists():
        return tree
    tarball = deb_member(deb, f"usr/src/{package}.tar.xz",
                         cache_dir() / "tarballs" / f"{package}_{version}.tar.xz")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    argv = ["tar", "-xJf", str(tarball), "-C", str(root)]
    if not full:
        argv += ["--wildcards", "--no-anchored", *(f"{package}/{m}" for m in RULE_FILES)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    # Partial unpacks name files that some versions lack: tar then exits 2 after
    # extracting the rest, which is what we want.
    if done.returncode and (full or not (tree / "Makefile").exists()):
        raise ToolError(f"could not unpack {tarball.name}: {done.stderr.strip()[-200:]}")
    (root / ".complete").touch()
    return tree


def _private_apt_src(suite: str) -> list[str]:
    """apt options for a private configuration of ``deb-src`` lines only (the suite and
    its security updates, where Debian ships newer LLVM releases)."""
    mirror = system_mirror()
    security = mirror.removesuffix("/debian") + "/debian-security"
    return _apt_config(f"{suite}-src",
                       f"deb-src [signed-by={KEYRING}] {mirror} {suite} main\n"
                       f"deb-src [signed-by={KEYRING}] {security} {suite}-security main\n",
                       "*Sources*", f"{suite} source lists")


def source_subtree(package: str, subdirs: tuple[str, ...], suite: str | None = None
                   ) -> Path:
    """Some directories of Debian source package ``package`` (e.g. ``llvm-toolchain-16``
    and ``lld/ELF``), unpacked in the cache with Debian's own patches to them applied;
    the unpacked root. Only those directories are kept: the tarball is deleted after.
    Raises ToolError when apt, tar or patch fails."""
    opts = _private_apt_src(suite or system_suite())
    uris = _run(["apt-get", "-q", *opts, "source", "--print-uris", package],
                f"find the source of {package}")
    files = re.findall(r"^'(\S+)' (\S+) (\d+) SHA256:([0-9a-f]+)", uris, re.M)
    orig = next((f for f in files if ".orig.tar." in f[1]), None)
    debian = next((f for f in files if ".debian.tar." in f[1]), None)
    if orig is None:
        raise ToolError(f"apt-get source {package} names no .orig tarball")
    name = f"{package}_{(debian or orig)[1].split('_')[1].split('.debian')[0]}"
    root = cache_dir() / "src" / f"{name}-{'+'.join(d.replace('/', '_') for d in subdirs)}"
    if (root / ".complete").exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    work = root / ".download"
    work.mkdir()
    tarball = _fetch(orig, work, package)
    # The tarball's top directory is named by the release: match it with a wildcard.
    try:
        done = subprocess.run(["tar", "-xf", str(tarball), "-C", str(root),
                               "--strip-components=1", "--wildcards",
                               *(f"*/{d}" for d in subdirs)],
                              capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ToolError("tar not found: needed to unpack Debian's sources") from None
    if done.returncode:
        raise ToolError(f"could not unpack {', '.join(subdirs)} from {tarball.name}:"
                        f" {done.stderr.strip()[-200:]}")
    note = "Debian's patches applied"
    try:
        debian_tar = _fetch(debian, work, package) if debian is not None else None
    except ToolError as e:
        debian_tar, note = None, f"Debian's patches NOT applied ({e.message})"
    if debian_tar is not None:
        _apply_debian_patches(debian_tar, root, subdirs)
    shutil.rmtree(work)
    (root / ".complete").write_text(f"{package} {name.split('_', 1)[1]}: {note}\n")
    return root


def _fetch(entry: tuple[str, str, str, str], work: Path, package: str) -> Path:
    """One file apt names (uri, name, size, sha256), checked against its hash. A
    security upload's files are sometimes only in the main archive's pool (or the
    other way round): the same name is tried there too."""
    uri, name, _size, sha256 = entry
    initial = package[:4] if package.startswith("lib") else package[0]
    pool = f"{system_mirror()}/pool/main/{initial}/{package}/{urllib.parse.quote(name)}"
    out = work / name
    tried = []
    for url in dict.fromkeys([uri, pool]):
        try:
            digest = hashlib.sha256()
            with urllib.request.urlopen(url, timeout=60) as r, out.open("wb") as f:
                while chunk := r.read(1 << 20):
                    digest.update(chunk)
                    f.write(chunk)
        except (OSError, urllib.error.URLError) as e:
            tried.append(f"{url}: {getattr(e, 'code', None) or e}")
            continue
        if digest.hexdigest() == sha256:
            return out
        tried.append(f"{url}: SHA256 mismatch")
    raise ToolError(f"could not download {name}: " + "; ".join(tried))


def _apply_debian_patches(debian_tar: Path, root: Path, subdirs: tuple[str, ...]) -> None:
    """Debian's patches (debian/patches/series), each cut to the files under
    ``subdirs``, applied to ``root``: what Debian really builds."""
    with tarfile.open(debian_tar) as tar:
        def text(member: str) -> str:
            f = tar.extractfile(member)
            return f.read().decode("utf-8", "replace") if f else ""

        names = set(tar.getnames())
        if "debian/patches/series" not in names:
            return
        for line in text("debian/patches/series").splitlines():
            entry = line.split("#", 1)[0].split()
            if not entry or f"debian/patches/{entry[0]}" not in names:
                continue
            cut = _cut_patch(text(f"debian/patches/{entry[0]}"), subdirs)
            if not cut:
                continue
            try:
                done = subprocess.run(["patch", "-p1", "-s", "-N", "-d", str(root)],
                                      input=cut, capture_output=True, text=True, check=False)
            except FileNotFoundError:
                raise ToolError("patch not found: needed to apply Debian's patches to"
                                f" {'/'.join(subdirs)}") from None
            if done.returncode:
                raise ToolError(f"Debian's patch {entry[0]} does not apply to"
                                f" {'/'.join(subdirs)}: {done.stdout.strip()[-200:]}")


def _cut_patch(patch: str, subdirs: tuple[str, ...]) -> str:
    """The parts of a unified diff whose files lie under ``subdirs``."""
    out = []
    for chunk in re.split(r"(?m)^(?=--- )", patch):
        m = re.match(r"--- (\S+)\s*[^\n]*\n\+\+\+ (\S+)", chunk)
        if m is None:
            continue
        # -p1: the first component (a/, or quilt's package.orig/) goes.
        path = m.group(2) if m.group(1) == "/dev/null" else m.group(1)
        rel = path.split("/", 1)[1] if "/" in path else path
        if any(rel.startswith(d + "/") for d in subdirs):
            # Up to the next file's header lines (Index:, diff, ===), which patch skips.
            out.append(re.split(r"(?m)^(?:Index: |diff |={10,})", chunk, maxsplit=1)[0])
    return "".join(out)
