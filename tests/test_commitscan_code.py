"""scan-commit reads C++ and C as code: only names that reach a symbol-creating call,
through conditionals, constants, variables and streams; comments, disabled blocks and
ordinary strings name nothing; renames are paired by the thunk they name."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from lldbisect.analysis.commitscan import PatternChange, patterns_in, scan
from lldbisect.bisect.gitrepo import FileChange
from lldbisect.kernel.model import RuleKind
from tests import lldsource
from tests.llvmrepo import commit_history
from tests.test_commitscan import run, scan_json

P, S, X, E = RuleKind.PREFIX, RuleKind.SUBSTRING, RuleKind.SUFFIX, RuleKind.EXACT


def _kinds(path: str, text: str) -> set[tuple[RuleKind, str]]:
    return {(f.pattern.kind, f.pattern.text) for f in patterns_in(path, text)}


def _changes(old: str, new: str, path: str = "lld/ELF/Thunks.cpp"
             ) -> set[tuple[str, str, str | None]]:
    return {(i.change.value, i.pattern.text, i.was.text if i.was else None)
            for i in scan([FileChange(path, path, old, new)])}


R12_OLD = """\
void PPC64R12SetupStub::addSymbols(ThunkSection &isec) {
  addSymbol(saver().save("__gep_setup_" + destination.getName()), STT_FUNC, 0,
            isec);
}
"""
R12_NEW = """\
void PPC64R12SetupStub::addSymbols(ThunkSection &isec) {
  addSymbol(ctx.saver.save((gotPlt ? "__plt_pcrel_" : "__gep_setup_") +
                           destination.getName()),
            STT_FUNC, 0, isec);
}
"""


def test_each_branch_of_a_conditional_is_a_name() -> None:
    assert _kinds("Thunks.cpp", R12_NEW) == {(P, "__plt_pcrel_"), (P, "__gep_setup_")}
    assert _changes(R12_OLD, R12_NEW) == {("added", "__plt_pcrel_", None)}


def test_names_through_constants_variables_and_streams() -> None:
    text = """\
#define HEX_PREFIX "__hexagon_thunk_"
static constexpr char la25[] = "__LA25Thunk_";
static const char *const microPrefix = "__microLA25Thunk_";

void MipsThunk::addSymbols(ThunkSection &isec) {
  addSymbol(saver().save(Twine(la25) + destination.getName()), STT_FUNC, 0, isec);
}
void MicroMipsThunk::addSymbols(ThunkSection &isec) {
  StringRef name = saver().save(Twine(microPrefix) + destination.getName());
  addSymbol(name, STT_FUNC, 0, isec);
}
void HexagonThunk::addSymbols(ThunkSection &isec) {
  StringRef src = isec.name;
  addSymbol(saver().save(HEX_PREFIX + destination.getName() + "_from_" + src),
            STT_FUNC, 0, isec);
}
void PPC32PltCallStub::addSymbols(ThunkSection &isec) {
  std::string buf;
  raw_string_ostream os(buf);
  os << format_hex_no_prefix(addend, 8);
  if (!ctx.arg.isPic)
    os << ".plt_call32.";
  else if (addend >= 0x8000)
    os << ".got2.plt_pic32.";
  else
    os << ".plt_pic32.";
  os << destination.getName();
  addSymbol(ctx.saver.save(buf), STT_FUNC, 0, isec);
}
void Thunk::addSymbol(StringRef name, uint8_t type, uint64_t value, InputSectionBase &section) {
  Defined *d = addSyntheticLocal(ctx, name, type, value, /*size=*/0, section);
  syms.push_back(d);
}
"""
    assert _kinds("Thunks.cpp", text) == {
        (P, "__LA25Thunk_"), (P, "__microLA25Thunk_"), (P, "__hexagon_thunk_"),
        (S, "_from_"), (S, ".plt_call32."), (S, ".got2.plt_pic32."), (S, ".plt_pic32.")}


def test_a_prefix_moved_into_a_constant_is_no_change() -> None:
    old = """\
void MipsThunk::addSymbols(ThunkSection &isec) {
  addSymbol(saver().save("__LA25Thunk_" + destination.getName()), STT_FUNC, 0, isec);
}
"""
    new = "static constexpr char la25Prefix[] = \"__LA25Thunk_\";\n" + old.replace(
        '"__LA25Thunk_" + destination', "Twine(la25Prefix) + destination")
    assert _changes(old, new) == set()


def test_comments_disabled_code_and_ordinary_strings_name_nothing() -> None:
    text = r"""
// addSymbol(saver().save("__OldThunk_" + destination.getName()), STT_FUNC, 0, isec);
/* addSymbol(saver().save("__BlockThunk_" + s.getName()), STT_FUNC, 0, isec); */
#if 0
  addSymbol(saver().save("__DeadThunk_" + s.getName()), STT_FUNC, 0, isec);
#endif
void f(Symbol &s, StringRef name) {
  error("relocation " + toString(type) + " out of range: " + name);
  InputSection *rela = make<InputSection>(saver().save(".rela" + name));
  lld::outs() << "members\textracted\tarchive\n";
  Symbol *tls = symtab.find("__tls_get_addr");
  message("foo" + name);
  addSymbol("$d", STT_NOTYPE, 0, isec);
}
"""
    assert _kinds("Writer.cpp", text) == set()


def test_escapes_are_decoded_before_anything_is_called_a_name() -> None:
    text = 'void T::addSymbols(ThunkSection &isec) {\n' \
           '  addSymbol(saver().save("__x\\x41Thunk_" + s.getName()), STT_FUNC, 0, isec);\n' \
           '  addSymbol(saver().save("tab\\there_" + s.getName()), STT_FUNC, 0, isec);\n}\n'
    assert _kinds("Thunks.cpp", text) == {(P, "__xAThunk_")}


def test_bfd_names_with_a_counter_and_no_target() -> None:
    text = """\
#define VFP11_ERRATUM_VENEER_ENTRY_NAME   "__vfp11_veneer_%x"
#define STM32L4XX_ERRATUM_VENEER_ENTRY_NAME "__stm32l4xx_veneer_%x"
/* #define OLD_NAME "__old_veneer_%x" */
static const char *msg = "%pB: error %d";
"""
    assert _kinds("bfd/elf32-arm.c", text) == {(P, "__vfp11_veneer_"),
                                               (P, "__stm32l4xx_veneer_")}


def test_bfd_section_names_are_no_symbols_and_concat_prefixes_are() -> None:
    # Our own bfd-style C: the same printf spelling names sections and symbols; a
    # buffer that reaches a section-making call (itself or copied) is a section name.
    text = """\
#define STUB_SECTION_NAME ".stub.%d"
#define STUB_ENTRY_NAME "__stub_%x"
static bool
make_stubs (struct bfd_link_info *info, int n)
{
  char *sname = bfd_malloc (16);
  char secbuf[20];
  char *copy;
  sprintf (sname, ".plt.%u", n);
  s = bfd_make_section_anyway_with_flags (dynobj, sname, flags);
  sprintf (secbuf, ".sec%d", n);
  copy = bfd_alloc (abfd, 20);
  strcpy (copy, secbuf);
  s = bfd_make_section (abfd, copy);
  sprintf (sname, STUB_SECTION_NAME, n);
  s = htab->add_stub_section (sname, input_section);
  sprintf (sname, STUB_ENTRY_NAME, n);
  h = elf_link_hash_lookup (&htab->elf, sname, true, false, false);
  snprintf (sname, 40, "e999999@%04x_%08x_%" PRIx64, a, b, c);
  return true;
}

static bool
create_stub_symbol (struct bfd_link_info *info, const char *prefix, asection *s)
{
  char *name = concat (prefix, h->root.root.string, NULL);
  char *other = concat (".direct.", h->root.root.string, NULL);
  return _bfd_generic_link_add_one_symbol (info, s->owner, name, BSF_LOCAL, s, 0, NULL,
                                           true, false, &bh);
}

static void
callers (void)
{
  create_stub_symbol (info, ".handed.", s);
}
"""
    assert _kinds("bfd/elfxx-fixture.c", text) == {
        (P, "__stub_"), (P, "e999999@"), (P, ".direct."), (P, ".handed.")}


THUNK_CLASSES = """\
void {a}::addSymbols(ThunkSection &isec) {{
  addSymbol(saver().save("__{a}_" + destination.getName()), STT_FUNC, 0, isec);
}}
void {b}::addSymbols(ThunkSection &isec) {{
  addSymbol(saver().save("__{b}_" + destination.getName()), STT_FUNC, 0, isec);
}}
static Thunk *addThunkArm(RelType reloc, Symbol &s, int64_t a) {{
  switch (reloc) {{
  case R_ARM_CALL:
    if (config->picThunk)
      return make<{a}>(s, a);
    return make<{b}>(s, a);
  case R_ARM_THM_CALL:
    return make<{c}>(s, a);
  }}
}}
"""


def test_renames_are_paired_by_the_thunk_not_by_a_shared_method_name() -> None:
    old = THUNK_CLASSES.format(a="ARMV5PILongThunk", b="ARMV5ABSLongThunk", c="X")
    # One class renamed where it is created; another dropped and a new one added at
    # another place: every class has addSymbols, but only the first is a rename.
    new = THUNK_CLASSES.format(a="ARMv4PILongBXThunk", b="ARMV5ABSLongThunk", c="X")
    assert _changes(old, new) == {("renamed", "__ARMv4PILongBXThunk_",
                                   "__ARMV5PILongThunk_")}
    other = THUNK_CLASSES.format(a="ARMV5PILongThunk", b="ThumbV4Thunk", c="X").replace(
        "return make<ThumbV4Thunk>(s, a);\n  case", "return make<ARMV5ABSLongThunk>(s, a);"
        "\n  case").replace("return make<X>(s, a);", "return make<ThumbV4Thunk>(s, a);")
    assert _changes(old, other) == {("added", "__ThumbV4Thunk_", None),
                                    ("removed", "__ARMV5ABSLongThunk_", None)}
    assert {c for c, _, _ in _changes(old, new)} == {PatternChange.RENAMED.value}


# --- release ranges and two trees -----------------------------------------------------

def _history(tmp: Path) -> tuple[Path, list[str]]:
    path = tmp / "llvm"
    return path, commit_history(path, [
        ("Initial", {"lld/ELF/Thunks.cpp": lldsource.THUNKS_2019, "llvm/README": "x\n"}),
        ("[lld] Saver is now a function", {"lld/ELF/Thunks.cpp": lldsource.THUNKS_2022}),
        ("[lld][PPC] r12 setup stub", {"lld/ELF/Thunks2.cpp": R12_OLD}),
        ("[llvm] A big unrelated commit", {f"llvm/lib/F{k}.txt": f"{k}\n" for k in range(300)}),
        ("[lld][ARM] v4/v5 thunks use BX", {"lld/ELF/Thunks.cpp": lldsource.THUNKS_2023}),
        ("[lld][PPC] plt pcrel stub", {"lld/ELF/Thunks2.cpp": R12_NEW}),
    ])


def _items(doc: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(i["change"], i["pattern"], i["was"] and i["was"]["pattern"])
            for i in doc["items"]}


def test_a_release_range_is_the_union_of_its_commits(tmp_path: Path) -> None:
    path, revs = _history(tmp_path)
    whole = scan_json(str(path), f"{revs[0]}..{revs[-1]}")
    singles = [scan_json(str(path), r) for r in revs[1:]]
    assert _items(whole) == set().union(*(_items(d) for d in singles))
    assert _items(whole) == {
        ("added", "__gep_setup_", None), ("added", "__plt_pcrel_", None),
        ("renamed", "__ARMv4PILongBXThunk_", "__ARMV5PILongThunk_"),
        ("renamed", "__ARMv5LongLdrPcThunk_", "__ARMv5ABSLongThunk_")}
    assert [c["hexsha"] for c in whole["commits"]] == revs[1:]
    by_commit = {i["pattern"]: i["commit"] for i in whole["items"]}
    assert by_commit["__plt_pcrel_"] == revs[-1] and by_commit["__gep_setup_"] == revs[2]


def test_two_source_trees(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for root, thunks, ppc in ((old, lldsource.THUNKS_2019, R12_OLD),
                              (new, lldsource.THUNKS_2023, R12_NEW)):
        (root / "ELF" / "Arch").mkdir(parents=True)
        (root / "ELF" / "Thunks.cpp").write_text(thunks)
        (root / "ELF" / "Arch" / "PPC64.cpp").write_text(ppc)
        (root / "ELF" / "README.md").write_text(f"{root}\n")
    doc = scan_json("--trees", str(old), str(new))
    assert _items(doc) == {("added", "__plt_pcrel_", None),
                           ("renamed", "__ARMv4PILongBXThunk_", "__ARMV5PILongThunk_"),
                           ("renamed", "__ARMv5LongLdrPcThunk_", "__ARMv5ABSLongThunk_")}
    done = run("scan-commit", "--trees", str(old), str(tmp_path / "none"))
    assert done.returncode == 2 and "none: not a directory" in done.stderr


def test_a_range_cut_by_a_shallow_clone_is_one_line(tmp_path: Path) -> None:
    path, revs = _history(tmp_path)
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{path}", str(shallow)],
                   check=True)
    done = run("scan-commit", str(shallow), f"{revs[0]}..HEAD")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "shallow" in done.stderr or "unknown revision" in done.stderr
    done = run("scan-commit", str(shallow), "HEAD~1")
    assert done.returncode == 2 and "shallow" in done.stderr and "Traceback" not in done.stderr


def test_a_class_renamed_alone_is_a_rename_but_two_are_not_guessed() -> None:
    one = THUNK_CLASSES.split("static Thunk")[0]
    old = one.format(a="ARMV5PILongThunk", b="ARMV5ABSLongThunk")
    new = one.format(a="ARMv4PILongBXThunk", b="ARMV5ABSLongThunk")
    assert _changes(old, new) == {("renamed", "__ARMv4PILongBXThunk_",
                                   "__ARMV5PILongThunk_")}
    # Both classes renamed, every one with addSymbols, nothing saying which is which.
    both = one.format(a="ARMv4PILongBXThunk", b="ARMv5LongLdrPcThunk")
    assert {c for c, _, _ in _changes(old, both)} == {"added", "removed"}


def test_debian_patches_are_cut_to_the_files_kept(tmp_path: Path) -> None:
    """A quilt patch (package.orig/ paths) and a git one, each touching lld/ELF and
    something else: only the lld/ELF parts are applied to the partial tree."""
    from lldbisect.kernel.sources import _cut_patch

    quilt = """Description: ours
Index: llvm-toolchain-16_16.0.6/lld/ELF/Thunks.cpp
===================================================================
--- llvm-toolchain-16_16.0.6.orig/lld/ELF/Thunks.cpp
+++ llvm-toolchain-16_16.0.6/lld/ELF/Thunks.cpp
@@ -1 +1 @@
-old
+new
Index: llvm-toolchain-16_16.0.6/clang/x.c
===================================================================
--- llvm-toolchain-16_16.0.6.orig/clang/x.c
+++ llvm-toolchain-16_16.0.6/clang/x.c
@@ -1 +1 @@
-a
+b
"""
    git_style = """diff --git a/llvm/y.c b/llvm/y.c
--- a/llvm/y.c
+++ b/llvm/y.c
@@ -1 +1 @@
-a
+b
diff --git a/lld/ELF/Writer.cpp b/lld/ELF/Writer.cpp
--- a/lld/ELF/Writer.cpp
+++ b/lld/ELF/Writer.cpp
@@ -1 +1 @@
-w
+W
"""
    (tmp_path / "lld" / "ELF").mkdir(parents=True)
    (tmp_path / "lld" / "ELF" / "Thunks.cpp").write_text("old\n")
    (tmp_path / "lld" / "ELF" / "Writer.cpp").write_text("w\n")
    for patch in (quilt, git_style):
        cut = _cut_patch(patch, ("lld/ELF",))
        assert "clang" not in cut and "llvm/y.c" not in cut
        subprocess.run(["patch", "-p1", "-s", "-N", "-d", str(tmp_path)], input=cut,
                       text=True, check=True)
    assert (tmp_path / "lld" / "ELF" / "Thunks.cpp").read_text() == "new\n"
    assert (tmp_path / "lld" / "ELF" / "Writer.cpp").read_text() == "W\n"


def test_a_file_renamed_in_a_range_changes_no_name(tmp_path: Path) -> None:
    path, revs = _history(tmp_path)
    git = ["git", "-C", str(path), "-c", "user.name=T", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "mv", "lld/ELF/Thunks.cpp", "lld/ELF/ThunksARM.cpp"], check=True)
    subprocess.run([*git, "commit", "-qm", "[lld] split Thunks.cpp"], check=True)
    assert _items(scan_json(str(path), "HEAD")) == set()
    assert _items(scan_json(str(path), f"{revs[-1]}..HEAD")) == set()
    whole = _items(scan_json(str(path), f"{revs[0]}..HEAD"))
    assert whole == _items(scan_json(str(path), f"{revs[0]}..{revs[-1]}"))


def test_a_change_on_a_line_without_a_literal_is_still_read() -> None:
    """The quick path skips only what cannot build a name: a line of a creating
    function without a literal can (a prefix becomes exact, another constant is used)."""
    old = ('static constexpr char kA[] = "__A_";\nstatic constexpr char kB[] = "__B_";\n'
           "void T::addSymbols(ThunkSection &isec) {\n  StringRef p = kA;\n"
           '  addSymbol(saver().save(Twine("__X_")\n                         ),\n'
           "            STT_FUNC, 0, isec);\n"
           "  addSymbol(saver().save(Twine(p) + destination.getName()), STT_FUNC, 0, isec);\n}\n")
    new = old.replace("StringRef p = kA;", "StringRef p = kB;").replace(
        "                         ),", "                         + destination.getName()),")
    # The exact name __X_ became the prefix __X_ (two kinds: removed and added); the
    # constant's change is a rename in the same function.
    assert _changes(old, new) == {("renamed", "__B_", "__A_"), ("added", "__X_", None),
                                  ("removed", "__X_", None)}
    kinds = {(f.pattern.kind, f.pattern.text) for f in patterns_in("Thunks.cpp", new)}
    assert (P, "__X_") in kinds and (P, "__B_") in kinds


def test_alternatives_joined_to_a_literal_constants_by_scope_and_preprocessor() -> None:
    text = """\
static const char *prefix = "__global_";
void A::addSymbols(ThunkSection &isec) {
  addSymbol(saver().save((thumb ? "__Thumb" : "__ARM") + std::string("v7Long_") +
                         destination.getName()), STT_FUNC, 0, isec);
  char c = x ? '?' : ':';
}
void B::addSymbols(ThunkSection &isec) {
  const char *prefix = "__local_";
  addSymbol(saver().save(Twine(prefix) + destination.getName()), STT_FUNC, 0, isec);
}
void C::addSymbols(ThunkSection &isec) {
  addSymbol(saver().save(Twine(prefix) + destination.getName()), STT_FUNC, 0, isec);
#if 1
  addSymbol(saver().save("__on_" + destination.getName()), STT_FUNC, 0, isec);
#else
  addSymbol(saver().save("__off_" + destination.getName()), STT_FUNC, 0, isec);
#endif
}
"""
    assert _kinds("Thunks.cpp", text) == {
        (P, "__Thumbv7Long_"), (P, "__ARMv7Long_"),  # each branch joined to what follows
        (P, "__local_"),  # B's own variable
        (P, "__global_"),  # C sees the file's constant
        (P, "__on_")}  # the #else of #if 1 is dropped


def test_names_built_with_plus_equals_and_assigned_on_each_branch() -> None:
    text = """\
void A::addSymbols(ThunkSection &isec) {
  std::string s = "__thunk_";
  s += destination.getName();
  addSymbol(saver().save(s), STT_FUNC, 0, isec);
}
void B::addSymbols(ThunkSection &isec) {
  StringRef p;
  if (thumb)
    p = "__Thumbv7_";
  else
    p = "__ARMv7_";
  addSymbol(saver().save(Twine(p) + destination.getName()), STT_FUNC, 0, isec);
}
"""
    assert _kinds("Thunks.cpp", text) == {(P, "__thunk_"), (P, "__Thumbv7_"), (P, "__ARMv7_")}


def test_the_quick_path_never_skips_a_change_that_builds_another_name() -> None:
    """Random line edits of lld- and bfd-style sources: whenever the quick path says a
    change cannot touch a name (read from the changed lines alone), reading both files
    in full finds the same patterns."""
    import random

    from lldbisect.analysis.commitscan import _same_names

    sources = [("Thunks.cpp", lldsource.THUNKS_2019), ("Thunks.cpp", lldsource.THUNKS_2023),
               ("elf32-arm.c", lldsource.ELF32_ARM_NEW), ("elf64-ppc.c", lldsource.ELF64_PPC),
               ("Thunks.cpp", _CONSTRUCTS)]
    pool = sorted({ln for _, text in sources for ln in text.split("\n")} | {
        "  int x = 1;", "  if (a) {", "  }", "{", "}", "void f(int a) {", "int g(int a)",
        "  // a comment { with a brace", "  return x;", "static void h() const override",
        "  addSymbol(saver().save(\"__new_\" + s), STT_FUNC, 0, isec);", "",
        "  const char *q = \"__q_\";", "#if 0", "#endif", "/* a block", "   end */",
        # what an independent review found the first quick path wrong on
        "// see below", "void helper() noexcept", "void reset() { kA = other; }",
        "static const char kName[] = \"__helper_\";", "  os << kA << name;",
        "  os << kB << name;", "void T::createThunkSyms(ThunkSection &isec) noexcept",
        "void T::createThunkSyms(ThunkSection &isec)", "#if 1", "#else", "-> Symbol *",
        "  addSymbol(saver().save(os.str()), STT_FUNC, 0, isec);"})
    plain = [ln for ln in pool if not any(c in ln for c in "\"'#/")]
    rng = random.Random(20261203)
    skipped = 0
    chain: tuple[str, str] | None = None
    for _ in range(6000):
        # Half the time the next edit of the last text, as a history goes: the quick
        # path carries what it knows of a text to the next one.
        path, text = chain if chain and rng.random() < 0.5 else rng.choice(sources)
        lines = text.split("\n")
        for _edit in range(1 if rng.random() < 0.7 else rng.randint(2, 3)):
            k = rng.randrange(len(lines) + 1)
            what = rng.random()
            line = rng.choice(plain if rng.random() < 0.6 else pool)
            if what < 0.4:
                lines.insert(k, line)
            elif what < 0.7 and k < len(lines):
                del lines[k]
            elif k < len(lines):
                lines[k] = line
        new = "\n".join(lines)
        chain = (path, new)
        if _same_names(text, new, path.endswith(".cpp")):
            skipped += 1
            assert {f.pattern for f in patterns_in(path, text)} == {
                f.pattern for f in patterns_in(path, new)}, (path, new)
    assert skipped > 300  # the quick path does skip: this test tests something


# Our own lld-style file with the constructs the reader follows: a constant, a stream,
# a conditional, a disabled block, a comment, functions that create nothing.
_CONSTRUCTS = """\
static constexpr char kPrefix[] = "__kconst_";
#define STUB_PREFIX "__macro_"
namespace {
int helper(int a) {
  if (a) {
    return a + 1;
  }
  return 0;
}
} // namespace

void A::addSymbols(ThunkSection &isec) {
  std::string buf;
  raw_string_ostream os(buf);
  os << "__stream_" << destination.getName();
  addSymbol(saver().save(os.str()), STT_FUNC, 0, isec);
}

void B::addSymbols(ThunkSection &isec) {
  addSymbol(saver().save((thumb ? "__ThumbB_" : "__ArmB_") + destination.getName()),
            STT_FUNC, 0, isec);
  /* addSymbol(saver().save("__commented_" + s), STT_FUNC, 0, isec); */
#if 0
  addSymbol(saver().save("__disabled_" + s), STT_FUNC, 0, isec);
#endif
}

void C::addSymbols(ThunkSection &isec) {
  addSymbol(saver().save(Twine(kPrefix) + destination.getName()), STT_FUNC, 0, isec);
  addSymbol(saver().save(STUB_PREFIX + destination.getName()), STT_FUNC, 0, isec);
}

static int other(int x) { return x * 2; }
"""


def test_the_quick_path_reads_what_it_cannot_rule_out() -> None:
    from lldbisect.analysis.commitscan import _same_names

    body = "{\n  addSymbol(saver().save(Twine(p) + s), STT_FUNC, 0, isec);\n}\n"
    head = "int x;\nvoid A::addSymbols(ThunkSection &isec)\n"
    # A header's ")" on the changed line: the "{" after it may now open a function.
    assert not _same_names(head + body, head.replace("isec)", "isec, int k)") + body, True)
    assert not _same_names("int a;\n" + body, "int a = f(b);\n" + body, True)  # ")" then "{"
    # An ordinary line between functions, a comment with a brace, a balanced block:
    sink = "void T::make(ThunkSection &isec) " + body
    tail = "static int g(int a) {\n  return a;\n}\n"
    assert _same_names(sink + tail, sink + tail.replace("return a;", "return a + 1;"),
                       True)
    assert _same_names(sink + tail, sink + tail.replace("return a;", "// { odd\n  return a;"),
                       True)
    assert _same_names(sink + tail, sink + tail.replace("return a;", "if (a) { a++; }"),
                       True)
    # A creating call outside any function the reader knows: read (its scope is all
    # that comes before it).
    assert not _same_names(body + tail, body + tail.replace("return a;", "return a + 1;"),
                           True)
    # A comment between a header's ")" and its "{": the comment is no code.
    commented = "void helper()\n// see below\n{\n  return;\n}\n" + sink
    assert not _same_names(commented, commented.replace("helper()", "helper() noexcept"),
                           True)
    # Inside a creating function, a literal, a comment delimiter, a continuation: read.
    assert not _same_names(sink, sink.replace("Twine(p)", "Twine(q)"), True)
    assert not _same_names(tail, tail.replace("return a;", 'return "a";'), True)
    assert not _same_names(tail, tail.replace("return a;", "/* return a; */"), True)
    assert not _same_names(tail, tail.replace("return a;", "return a; \\"), True)


def test_a_conditional_with_one_literal_branch_still_names() -> None:
    text = """\
void A::addSymbols(ThunkSection &isec) {
  addSymbol(saver().save((gotPlt ? "__plt_pcrel_" : prefix) + destination.getName()),
            STT_FUNC, 0, isec);
  addSymbol(saver().save(Twine(x ? "__a_" : name)), STT_FUNC, 0, isec);
  addSymbol(saver().save("__pre_" + (y ? "mid_" : z) + s), STT_FUNC, 0, isec);
  addSymbol(saver().save((w ? "a_" : z) + "_b"), STT_FUNC, 0, isec);
}
"""
    # Each choice of each conditional: its literal joined as literals join, or not.
    assert _kinds("Thunks.cpp", text) == {
        (P, "__plt_pcrel_"), (RuleKind.EXACT, "__a_"), (P, "__pre_mid_"), (P, "__pre_"),
        (RuleKind.EXACT, "a__b"), (RuleKind.SUFFIX, "_b")}


def test_bfd_names_copied_from_a_table_into_a_symbol_name() -> None:
    text = """\
static bool
emit_stub_symbol (struct stub_entry *stub_entry)
{
  const char *const kinds[] = { "far_jump", "lib_call" };
  const char *const sections[] = { ".stubs_a", ".stubs_b" };
  char *name = bfd_malloc (64);
  memcpy (name, stub_entry->root.string, 9);
  memcpy (name + 9, kinds[stub_entry->type - 1], len1);
  h = elf_link_hash_lookup (&htab->elf, name, true, false, false);
  strcpy (secname, sections[stub_entry->type - 1]);
  s = bfd_make_section_anyway (abfd, secname);
  return h != NULL;
}
"""
    assert _kinds("bfd/elf64-fixture.c", text) == {(RuleKind.SUBSTRING, "far_jump"),
                                                  (RuleKind.SUBSTRING, "lib_call")}
