"""lldbisect: hunt down linker regressions that break the Linux kernel's kallsyms link."""

__version__ = "0.1.0"
