"""`hybridops lock status|release` (being written: registers nothing yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    del app
