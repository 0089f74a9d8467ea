"""The operator's prompts (hybridops.cli.prompts.RichPrompter), answered through a scripted stdin."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from hybridops.cli import prompts
from hybridops.cli.prompts import RichPrompter

OPTIONS = [("rollback", "roll the deployment back"), ("wait", "keep watching")]


def _prompter(monkeypatch: pytest.MonkeyPatch, typed: str) -> tuple[RichPrompter, io.StringIO]:
    monkeypatch.setattr(prompts, "_STDIN", io.StringIO(typed))
    shown = io.StringIO()
    return RichPrompter(Console(file=shown, force_terminal=False, no_color=True)), shown


def test_a_choice_without_default_asks_again_on_enter_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    prompter, shown = _prompter(monkeypatch, "\nwait\n")
    assert prompter.choose("What now?", OPTIONS, default=None) == "wait"
    assert "Please select one of the available options" in shown.getvalue()

