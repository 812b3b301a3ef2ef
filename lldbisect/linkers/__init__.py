"""Linkers: asking one who it is, the far-call probe corpus, and validating a new release
against a baseline across architectures and kernels."""
