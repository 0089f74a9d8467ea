"""Asking the operator, through rich prompts on the terminal (read so that Ctrl-C always lands)."""

from __future__ import annotations

from typing import TextIO, cast

from hybridops.cli.terminal import LINES

_STDIN = cast(TextIO, LINES)  # rich only calls its readline()


class RichPrompter:
    def __init__(self, console, renderer=None) -> None:
        self.c = console
        self._renderer = renderer

    def _pause(self) -> None:
        if self._renderer is not None:
            self._renderer.pause()

    def confirm(self, question: str, *, default: bool | None) -> bool:
        self._pause()
        from rich.prompt import Confirm

        return Confirm.ask(question, console=self.c, stream=_STDIN,
                           default=False if default is None else default)

    def choose(self, question: str, options: list[tuple[str, str]], *, default: str | None) -> str:
        self._pause()
        from rich.prompt import Prompt

        for value, label in options:
            self.c.print(f"  [bold]{value}[/]: {label}")
        return Prompt.ask(question, console=self.c, stream=_STDIN, choices=[v for v, _ in options],
                          default=default)

    def checklist(self, instructions: str, items: list[str]) -> dict[str, bool]:
        self._pause()
        from rich.prompt import Confirm

        if instructions:
            self.c.print(f"  {instructions}")
        if not items:
            Confirm.ask("Done?", console=self.c, stream=_STDIN, default=True)
            return {}
        return {item: Confirm.ask(f"  [ ] {item} — done?", console=self.c, stream=_STDIN, default=True)
                for item in items}

    def over_budget(self, title: str, budget_s: float, elapsed_s: float) -> str:
        self._pause()
        from rich.prompt import Prompt

        return Prompt.ask(f"{title} is over its budget: extend, skip or abort?", console=self.c, stream=_STDIN,
                          choices=["extend", "skip", "abort"], default="extend")
