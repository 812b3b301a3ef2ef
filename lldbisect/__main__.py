"""``python -m lldbisect``."""

from lldbisect.cli import main

main()
