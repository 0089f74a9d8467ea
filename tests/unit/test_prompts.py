"""The operator's prompts (hybridops.cli.prompts.RichPrompter), answered through a scripted stdin."""

from __future__ import annotations

import io
import os
import sys

import pytest
from rich.console import Console

from hybridops.cli import prompts
from hybridops.cli.prompts import RichPrompter
from hybridops.cli.terminal import TerminalLines

OPTIONS = [("rollback", "roll the deployment back"), ("wait", "keep watching")]


def _prompter(monkeypatch: pytest.MonkeyPatch, typed: str) -> tuple[RichPrompter, io.StringIO]:
    monkeypatch.setattr(prompts, "_STDIN", io.StringIO(typed))
    shown = io.StringIO()
    return RichPrompter(Console(file=shown, force_terminal=False, no_color=True)), shown


def test_a_choice_without_default_asks_again_on_enter_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    prompter, shown = _prompter(monkeypatch, "\nwait\n")
    assert prompter.choose("What now?", OPTIONS, default=None) == "wait"
    assert "Please select one of the available options" in shown.getvalue()



def _typed_at_the_terminal(monkeypatch: pytest.MonkeyPatch, typed: str) -> tuple[RichPrompter, io.StringIO]:
    """A prompter reading through the terminal reader the CLI uses, from a real pipe."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, typed.encode())
    os.close(write_fd)
    stdin = os.fdopen(read_fd)
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(prompts, "_STDIN", prompts.Answers(TerminalLines()))
    shown = io.StringIO()
    return RichPrompter(Console(file=shown, force_terminal=False, no_color=True)), shown


def test_enter_alone_takes_the_default_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    prompter, shown = _typed_at_the_terminal(monkeypatch, "\n\n\n")
    assert prompter.confirm("Restart?", default=False) is False
    assert prompter.choose("What now?", OPTIONS, default="wait") == "wait"
    assert prompter.over_budget("restart", 60.0, 75.0, extend_s=60.0) == "extend"
    assert "Please" not in shown.getvalue()  # no answer was refused


def test_a_typed_answer_is_read_without_its_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    prompter, _ = _typed_at_the_terminal(monkeypatch, "rollback\r\ny\n")
    assert prompter.choose("What now?", OPTIONS, default="wait") == "rollback"
    assert prompter.confirm("Restart?", default=False) is True
