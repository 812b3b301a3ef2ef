"""The command line: click commands only (parse, call one function, render, exit)."""

from lldbisect.cli.app import cli, main

__all__ = ["cli", "main"]
