"""Option types shared by several commands (imported at registration: keep this module light)."""

from __future__ import annotations

from enum import StrEnum


class Output(StrEnum):
    """How a run is shown: text (rich at a terminal, plain lines otherwise) or one JSON object per event."""

    text = "text"
    json = "json"
