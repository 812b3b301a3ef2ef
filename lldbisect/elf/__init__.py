"""Reading symbol tables: ELF files in bulk (the only importer of pyelftools), GNU nm's
type letters and order, ``nm -n`` listings (System.map, ``.syms``) both ways."""
