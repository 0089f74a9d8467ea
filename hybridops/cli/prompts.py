"""Asking the operator, through rich prompts on the terminal (read so that Ctrl-C always lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO, cast

from hybridops.cli.terminal import LINES, TerminalLines

if TYPE_CHECKING:
    from rich.console import Console

    from hybridops.cli.render import TextRenderer


class Answers:
    """The operator's lines as rich's prompts read them: without their newline.

    rich takes a prompt's default only for an answer equal to `""`, before it strips anything, so a
    line that kept its newline made Enter alone re-ask instead of taking the default shown.
    """

    def __init__(self, lines: TerminalLines) -> None:
        self._lines = lines

    def readline(self) -> str:  # rich only calls readline()
        return self._lines.readline().rstrip("\r\n")


_STDIN = cast(TextIO, Answers(LINES))


class RichPrompter:
    def __init__(self, console: Console, renderer: TextRenderer | None = None) -> None:
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
        choices = [v for v, _ in options]
        if default is None:
            # rich takes default=None as a default of None: Enter alone would answer None, not a choice.
            return Prompt.ask(question, console=self.c, stream=_STDIN, choices=choices)
        return Prompt.ask(question, console=self.c, stream=_STDIN, choices=choices, default=default)

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

    def over_budget(self, title: str, budget_s: float, elapsed_s: float, *, extend_s: float) -> str:
        self._pause()
        from rich.markup import escape
        from rich.prompt import Prompt

        from hybridops.durations import format_duration as d

        # Say what each choice does: "extend" alone leaves the operator guessing by how much.
        self.c.print(f"  {escape(title)} is over its budget ({d(elapsed_s)} of {d(budget_s)}): "
                     f"extend = {d(extend_s)} more, skip = leave this step and go on, abort = stop the run",
                     highlight=False)
        return Prompt.ask(f"extend by {d(extend_s)}, skip or abort?", console=self.c, stream=_STDIN,
                          choices=["extend", "skip", "abort"], default="extend")

    def timed_out(self, title: str, detail: str, *, wait_s: float) -> tuple[str, float]:
        self._pause()
        from rich.markup import escape
        from rich.prompt import Prompt

        from hybridops.durations import format_duration, parse_duration

        self.c.print(f"  {escape(title)} timed out: {escape(detail)}", highlight=False)
        self.c.print("  wait = keep polling, skip = leave this step and go on, fail = take the step's failure "
                     "path, abort = stop the run", highlight=False)
        # the default is what a run nobody watches does: the step fails
        choice = Prompt.ask("wait longer, skip, fail or abort?", console=self.c, stream=_STDIN,
                            choices=["wait", "skip", "fail", "abort"], default="fail")
        if choice != "wait":
            return choice, 0.0
        while True:
            text = Prompt.ask("wait how long more? (e.g. 5m)", console=self.c, stream=_STDIN,
                              default=format_duration(wait_s))
            try:
                seconds = parse_duration(text)
            except ValueError as exc:
                self.c.print(f"  [red]{escape(str(exc))}[/]")
                continue
            if seconds > 0:
                return "wait", seconds
            self.c.print("  [red]a wait longer than 0s, please[/]")
