"""A kernel tree and a kernel build: the kallsyms rules of every era, the link stages,
relinking a build without reconfiguring or damaging it, Debian's kernel sources, the
tiny ARMv5 reproduction build."""
