"""Argument types and the parser class shared by every ``photostyle`` subcommand (core and SPADE).

Each type raises ``argparse.ArgumentTypeError`` with one bound per option, so ``--size -5`` and
``--size 0`` are refused with the same sentence.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["UsageError", "Parser", "nonneg_int", "positive_int", "steps", "finite_float"]


class UsageError(Exception):
    """Bad usage or input, reported in one line with exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse's own usage errors keep exit code 2 and one line, as ours do."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def nonneg_int(text: str) -> int:
    """A whole number >= 0."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def finite_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def steps(text: str):
    """``N`` (every level) or ``N1,N2[,...]`` (one count per level): L-BFGS iterations."""
    parts = text.split(",")
    values = tuple(nonneg_int(p.strip()) for p in parts)
    return values[0] if len(values) == 1 else values
