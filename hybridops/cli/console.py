"""Consoles for the CLI: rich on a terminal, plain text otherwise, NO_COLOR honoured."""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def _make(stream) -> Console:
    from rich.console import Console

    tty = stream.isatty()
    return Console(
        file=stream,
        force_terminal=None if tty else False,
        no_color=bool(os.environ.get("NO_COLOR")) or not tty,
        highlight=False,
        soft_wrap=not tty,
        emoji=False,
    )


@cache
def _cached(which: str, stream_id: int) -> Console:
    return _make(sys.stdout if which == "out" else sys.stderr)


def out() -> Console:
    """The console for results (stdout)."""
    return _cached("out", id(sys.stdout))


def err() -> Console:
    """The console for errors, progress and prompts (stderr)."""
    return _cached("err", id(sys.stderr))
