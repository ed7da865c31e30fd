"""The console every edge command prints through."""

from __future__ import annotations

import sys

from rich.console import Console


def make_console(**options) -> Console:
    """A rich Console: the terminal's width on a terminal; wide when piped, so logs and CI never fold lines."""
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200, **options)
