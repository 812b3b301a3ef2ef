"""Every exit status lldbisect uses, in one place (the README's table lists them).

Ordinary commands: 0 success, 1 a finding, 2 bad input or usage, 3 the machine failed
us, 4 the evidence does not allow a verdict, 70 a bug of ours (sysexits' EX_SOFTWARE),
130 interrupted. Inside ``git bisect run`` (``run-step``), git's own: 0 good, 1
bad, 125 skip, 128 or more to abort; never 2, 126 or 127, which git takes for bad.
"""

from __future__ import annotations

from enum import IntEnum

from lldbisect.bisect.verdicts import StepVerdict

__all__ = ["EXIT_ABORT", "EXIT_BAD", "EXIT_FINDING", "EXIT_GOOD", "EXIT_INPUT",
           "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SKIP", "EXIT_TOOL",
           "EXIT_UNDECIDED", "Exit", "step_status"]


class Exit(IntEnum):
    OK = 0
    FINDING = 1
    INPUT = 2
    TOOL = 3
    UNDECIDED = 4  # the inputs are real but cannot support a verdict (one pass, ...)
    INTERNAL = 70  # an exception nobody raised on purpose: our bug, never a finding
    # git bisect run's
    SKIP = 125
    ABORT = 128
    INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


EXIT_OK, EXIT_FINDING, EXIT_INPUT, EXIT_TOOL = Exit.OK, Exit.FINDING, Exit.INPUT, Exit.TOOL
EXIT_GOOD, EXIT_BAD, EXIT_SKIP = Exit.OK, Exit.FINDING, Exit.SKIP
EXIT_ABORT, EXIT_INTERRUPTED = Exit.ABORT, Exit.INTERRUPTED
EXIT_UNDECIDED, EXIT_INTERNAL = Exit.UNDECIDED, Exit.INTERNAL


def step_status(verdict: StepVerdict) -> Exit:
    """A bisect step's verdict as ``git bisect run`` reads it."""
    return {StepVerdict.GOOD: EXIT_GOOD, StepVerdict.BAD: EXIT_BAD,
            StepVerdict.SKIP: EXIT_SKIP}[verdict]
