"""Reading the operator's lines from the terminal so that Ctrl-C always stops the run at once.

`input()` blocks in a read that a SIGINT arriving just before it cannot interrupt: CPython runs the
handler only once the read returns, so on a loaded machine a first Ctrl-C at a prompt could go
unnoticed. Waiting in `select()` with a short timeout instead gives the handler a chance to run
every 50 ms, whenever the signal came. Prompts and the terminal clock (Enter ends a wait) share one
line buffer, so a line typed ahead is never lost between them.
"""

from __future__ import annotations

import os
import select
import sys

_POLL_S = 0.05


class TerminalLines:
    """Whole lines from stdin, read with `os.read` after `select` (no hidden buffering)."""

    def __init__(self) -> None:
        self._pending = b""
        self._eof = False

    def _fd(self) -> int:
        return sys.stdin.fileno()

    def ready(self, timeout: float) -> bool:
        """True when a line can be read without blocking, waiting up to `timeout` seconds for one."""
        if b"\n" in self._pending or self._eof:
            return True
        fd = self._fd()
        remaining = timeout
        while remaining > 0:
            ready, _, _ = select.select([fd], [], [], min(_POLL_S, remaining))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:  # end of input: what is left is the last line
                    self._eof = True
                    return True
                self._pending += chunk
                if b"\n" in self._pending:
                    return True
            remaining -= _POLL_S
        return False

    def readline(self) -> str:
        """The next line (with its newline); EOFError at the end of input."""
        while not self.ready(3600.0):
            pass
        line, sep, self._pending = self._pending.partition(b"\n")
        if not sep and not line:
            raise EOFError
        return line.decode("utf-8", "replace") + "\n"


LINES = TerminalLines()
