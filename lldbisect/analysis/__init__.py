"""The analysis core, pure (no subprocess, no git): stage comparison and verdicts,
linker-made names and their families, the patterns a linker commit adds."""
