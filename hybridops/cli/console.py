"""Consoles for the CLI: rich on a terminal, plain text otherwise, NO_COLOR honoured; whatever they
print has the command's secrets masked and control characters escaped."""

from __future__ import annotations

import contextlib
import os
import sys
from functools import cache
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rich.console import Console
    from rich.segment import Segment


def _make(stream: TextIO) -> Console:
    tty = stream.isatty()
    return _safe_console_class()(
        file=stream,
        force_terminal=None if tty else False,
        no_color=bool(os.environ.get("NO_COLOR")) or not tty,
        highlight=False,
        soft_wrap=not tty,
        emoji=False,
    )


@cache
def _safe_console_class() -> type[Console]:
    """rich's Console, with everything it prints made safe at the last step before the stream: the
    text of every segment (what was printed, not rich's own styling and cursor codes) has the
    secrets this command knows masked and every control character escaped (`\\x1b`), so no server
    text, runbook text or error message can clear the screen, move the cursor or reorder a line,
    whichever command prints it. Newlines stay: they are rich's layout. Where one value must stay on
    one line the caller says so (`hybridops.scrub.inert(..., single_line=True)`)."""
    from rich.console import Console
    from rich.errors import MarkupError
    from rich.segment import Segment

    from hybridops.scrub import inert, process_scrubber

    class SafeConsole(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            # Masked before rich lays the text out: a long line wrapped at the terminal's width would
            # otherwise carry a secret in two pieces, which no later look at the output could find.
            mask = process_scrubber().text
            masked = [mask(o) if isinstance(o, str) else o for o in objects]
            try:
                super().print(*masked, **kwargs)
            except MarkupError:  # a server's "[/]" inside a line of markup: print the line as it is
                super().print(*masked, **{**kwargs, "markup": False})

        def _render_buffer(self, buffer: Iterable[Segment]) -> str:
            mask = process_scrubber().text
            segments = list(buffer)
            safe = [seg if seg.control else Segment(inert(mask(seg.text)), seg.style, seg.control)
                    for seg in segments]
            plain = "".join(seg.text for seg in segments if not seg.control)
            masked = mask(plain)
            if masked != plain and inert(masked) != "".join(seg.text for seg in safe if not seg.control):
                # A secret split across styled segments (a highlighted number, a wrapped line): this
                # output goes out as plain text rather than with the secret in pieces.
                safe = [Segment(inert(masked))]
            return super()._render_buffer(safe)

    return SafeConsole


@cache
def _cached(which: str, stream_id: int) -> Console:
    return _make(sys.stdout if which == "out" else sys.stderr)


def out() -> Console:
    """The console for results (stdout)."""
    return _cached("out", id(sys.stdout))


class PlainConsole:
    """What a run prints when stdout is not a terminal (a pipe, a CI log, a file): the same lines with
    the markup taken out, written straight to the stream and flushed. rich's layout engine (segments, wrapping,
    measuring) costs about half a millisecond a line, which on a long run is most of the engine's own
    cost per step, for output that nobody sees styled."""

    is_terminal = False

    def __init__(self, stream: TextIO) -> None:
        self.file = stream

    def print(self, text: object = "", *, markup: bool = True, **_: object) -> None:
        line = str(text)
        if markup and "[" in line:
            from rich.errors import MarkupError
            from rich.markup import render

            # a server's "[/]" inside a line of markup: the line prints as it is
            with contextlib.suppress(MarkupError):
                line = render(line, emoji=False).plain
        from hybridops.scrub import inert, process_scrubber

        # What SafeConsole does to rich's output: secrets masked, control characters escaped.
        self.file.write(inert(process_scrubber().text(line)) + "\n")
        self.file.flush()  # as rich does: `incident ... | tee` shows each line when it happens

    def rule(self, title: str = "") -> None:
        self.print(title)


def run_out() -> Console | PlainConsole:
    """The console a run's display writes to: rich at a terminal, plain lines otherwise."""
    return out() if sys.stdout.isatty() else PlainConsole(sys.stdout)


def err() -> Console:
    """The console for errors, progress and prompts (stderr)."""
    return _cached("err", id(sys.stderr))


# -q / -v of the run commands: -1 steps and verdict only, 0 the default, 1 every request and response.
_verbosity = 0


def set_verbosity(quiet: bool, verbose: bool) -> None:
    from hybridops.errors import UsageError

    if quiet and verbose:
        raise UsageError("-q/--quiet and -v/--verbose cannot be used together")
    global _verbosity
    _verbosity = -1 if quiet else (1 if verbose else 0)


def verbosity() -> int:
    return _verbosity
