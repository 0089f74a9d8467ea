"""Asking the operator, through rich prompts on the terminal."""

from __future__ import annotations


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

        return Confirm.ask(question, console=self.c, default=False if default is None else default)

    def choose(self, question: str, options: list[tuple[str, str]], *, default: str | None) -> str:
        self._pause()
        from rich.prompt import Prompt

        for value, label in options:
            self.c.print(f"  [bold]{value}[/]: {label}")
        return Prompt.ask(question, console=self.c, choices=[v for v, _ in options], default=default)

    def checklist(self, instructions: str, items: list[str]) -> dict[str, bool]:
        self._pause()
        from rich.prompt import Confirm

        if instructions:
            self.c.print(f"  {instructions}")
        if not items:
            Confirm.ask("Done?", console=self.c, default=True)
            return {}
        return {item: Confirm.ask(f"  [ ] {item} — done?", console=self.c, default=True) for item in items}

    def over_budget(self, title: str, budget_s: float, elapsed_s: float) -> str:
        self._pause()
        from rich.prompt import Prompt

        return Prompt.ask(f"{title} is over its budget: extend, skip or abort?", console=self.c,
                          choices=["extend", "skip", "abort"], default="extend")
