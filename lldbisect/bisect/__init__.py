"""Bisects: the policy over a predicate, one step's verdict, the git adapter, the drivers
over LLVM commits, kernel commits and releases, the builders, and hunt (the whole job)."""
