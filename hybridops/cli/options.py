"""Option types shared by several commands (imported at registration: keep this module light)."""

from __future__ import annotations

from enum import StrEnum


class Output(StrEnum):
    """How a run is shown: text (rich at a terminal, plain lines otherwise) or one JSON object per event."""

    text = "text"
    json = "json"


QUIET_HELP = "Show only each step's result and the verdict."
VERBOSE_HELP = "Show every request and response (a poll's too) with the response's content."
