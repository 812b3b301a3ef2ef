"""Probe a linker with the far-call corpus: what it makes, per case, and who sees it."""
