"""Builders: linkers from LLVM revisions, kernel relinks, and the cache of built linkers."""
