"""Our own linker-style source text, in each spelling LLVM and binutils have used to
build the names of generated symbols. Not copied from either project: just enough of
their shape (a thunk class, its addSymbols, a printf-format stub name) for the scanner.
"""

from __future__ import annotations

# lld, ~2019: a global Saver, one line per name.
THUNKS_2019 = """\
// Thunks: our fixture, 2019 spelling.
class ARMV5PILongThunk final : public ARMThunk {
public:
  void addSymbols(ThunkSection &isec) override;
};

void ARMV5PILongThunk::addSymbols(ThunkSection &isec) {
  addSymbol(Saver.save("__ARMV5PILongThunk_" + destination.getName()),
            STT_FUNC, 0, isec);
  addSymbol("$a", STT_NOTYPE, 0, isec);
}

void ARMV5ABSLongThunk::addSymbols(ThunkSection &isec) {
  addSymbol(Saver.save("__ARMv5ABSLongThunk_" + destination.getName()),
            STT_FUNC, 0, isec);
}

void ThumbV7PILongThunk::addSymbols(ThunkSection &isec) {
  addSymbol(Saver.save("__ThumbV7PILongThunk_" + destination.getName()),
            STT_FUNC, 1, isec);
}

// Which thunk a v5 call needs.
static Thunk *addThunkArmv5(RelType reloc, Symbol &s, int64_t a) {
  switch (reloc) {
  case R_ARM_CALL:
    if (config->picThunk)
      return make<ARMV5PILongThunk>(s, a);
    return make<ARMV5ABSLongThunk>(s, a);
  }
  fatal("relocation not supported for Armv5");
}
"""

# lld, ~2022: saver() became a function; the names did not change.
THUNKS_2022 = THUNKS_2019.replace("Saver.save(", "saver().save(").replace(
    "2019 spelling", "2022 spelling")

# lld, ~2023: the v5 PIC thunk renamed with its class, new v4/v5 thunks, ctx.saver, a
# name split over lines, and a Twine.
THUNKS_2023 = """\
// Thunks: our fixture, 2023 spelling.
class ARMv4PILongBXThunk final : public ARMThunk {
public:
  void addSymbols(ThunkSection &isec) override;
};

void ARMv4PILongBXThunk::addSymbols(ThunkSection &isec) {
  addSymbol(ctx.saver.save(
                "__ARMv4PILongBXThunk_" +
                destination.getName()),
            STT_FUNC, 0, isec);
  addSymbol("$a", STT_NOTYPE, 0, isec);
}

void ARMv5LongLdrPcThunk::addSymbols(ThunkSection &isec) {
  addSymbol(ctx.saver.save(Twine("__ARMv5LongLdrPcThunk_") + destination.getName()),
            STT_FUNC, 0, isec);
}

void ThumbV7PILongThunk::addSymbols(ThunkSection &isec) {
  addSymbol(ctx.saver.save("__ThumbV7PILongThunk_" + destination.getName()),
            STT_FUNC, 1, isec);
}

// Which thunk a v5 call needs: the same places, the classes renamed.
static std::unique_ptr<Thunk> addThunkArmv5(Ctx &ctx, RelType reloc, Symbol &s,
                                            int64_t a) {
  switch (reloc) {
  case R_ARM_CALL:
    if (ctx.arg.picThunk)
      return std::make_unique<ARMv4PILongBXThunk>(ctx, s, a);
    return std::make_unique<ARMv5LongLdrPcThunk>(ctx, s, a);
  }
  Fatal(ctx) << "relocation " << reloc << " not supported for Armv5";
}
"""

# A PowerPC32 stub named through a stream: <hex>.plt_pic32.<target>.
PPC_STUBS = """\
void PPC32PltCallStub::addSymbols(ThunkSection &isec) {
  std::string buf;
  raw_string_ostream os(buf);
  os << format_hex_no_prefix(addend, 8);
  if (!ctx.arg.isPic)
    os << ".plt_call32.";
  else
    os << ".plt_pic32.";
  os << destination.getName();
  addSymbol(saver().save(os.str()), STT_FUNC, 0, isec);
}
"""

# binutils bfd, ARM: the stub names are printf formats in macros.
ELF32_ARM_OLD = """\
/* Our fixture, bfd style. */
#define ARM2THUMB_GLUE_ENTRY_NAME "__%s_from_arm"
#define THUMB2ARM_GLUE_ENTRY_NAME "__%s_from_thumb"
#define STUB_ENTRY_NAME "__%s_stub"

static const char *complain = "%pB: warning: %s";
"""
ELF32_ARM_NEW = ELF32_ARM_OLD.replace('"__%s_stub"', '"__%s_veneer"')

ELF64_PPC = """\
/* Our fixture, bfd style. */
static void
ppc_stub_name (char *buf, unsigned long off, const char *sym)
{
  sprintf (buf, "%08lx.long_branch.%s", off, sym);
  sprintf (buf, "%08lx.plt_branch.%s", off, sym);
}
"""
