"""Text from outside (a server's answer or error, a header, a log event) is inert on the terminal:
control characters, escape sequences and bidi overrides are shown escaped, never acted on, whichever
console prints them (rich at a terminal, plain lines off one) and whatever markup they carry."""

from __future__ import annotations

import io

import pytest

from hybridops.cli import console
from hybridops.cli.render import TextRenderer, print_table
from hybridops.events import (
    Call,
    PollTick,
    Prompt,
    Request,
    Response,
    StepFinished,
    StepStarted,
    StepStatus,
)
from hybridops.kinds.base import Line, Table
from hybridops.scrub import inert

CLEAR = "\x1b[2J\x1b[H"  # clear the screen, cursor home
HOSTILE = f"{CLEAR}all good\r\x1b]0;owned\x07 \u202edesrever\u202c \x9b31m \x08\x7f \ud800 [/] [bold]x[/bold]\nline 2"
UNSAFE = ["\x1b", "\r", "\x07", "\u202e", "\u202c", "\x9b", "\x08", "\x7f", "\ud800"]


@pytest.mark.parametrize(("raw", "multi", "single"), [
    ("\x1b[2J", "\\x1b[2J", "\\x1b[2J"),
    ("a\nb\tc", "a\nb\tc", "a\\nb\\tc"),
    ("a\r\nb", "a\\r\nb", "a\\r\\nb"),
    ("\x00\x1f\x7f\x85\x9b", "\\x00\\x1f\\u007f\\u0085\\u009b", "\\x00\\x1f\\u007f\\u0085\\u009b"),
    ("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", "\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067"
     "\\u2068\\u2069", "\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069"),
    ("\u200e\u200f\u061c\u2028", "\\u200e\\u200f\\u061c\u2028", "\\u200e\\u200f\\u061c\\u2028"),
    ("\ud83d", "\\ud83d", "\\ud83d"),  # a lone surrogate cannot even be written as UTF-8
    ("plain text, ünïcödé, 日本語, emoji 🙂", "plain text, ünïcödé, 日本語, emoji 🙂",
     "plain text, ünïcödé, 日本語, emoji 🙂"),
])
def test_inert_escapes_what_a_terminal_would_act_on(raw: str, multi: str, single: str) -> None:
    assert inert(raw) == multi
    assert inert(raw, single_line=True) == single


def _hostile_run(r: TextRenderer) -> None:
    call = Call(target="http", method="GET", url=f"http://admin/health?q={HOSTILE}", body={"x": HOSTILE})
    for event in (
        StepStarted(step_id="s", title=f"title {HOSTILE}", kind="http", budget_s=60.0, phase="p"),
        Request(step_id="s", call=call),
        Response(step_id="s", ok=False, status=500, error=f"GET /health: HTTP 500: {HOSTILE}", duration_s=0.1),
        Response(step_id="s", ok=True, status=200, summary={"page": HOSTILE}, duration_s=0.1),
        Response(step_id="s", ok=True, status=200, summary=HOSTILE, duration_s=0.1),
        Prompt(step_id="s", question=f"q {HOSTILE}", answer=HOSTILE, source="--answer"),
        StepFinished(step_id="s", status=StepStatus.FAILED, duration_s=1.0, budget_s=60.0,
                     error=f"HTTP 500: {HOSTILE}", captures={"page": HOSTILE}),
        StepStarted(step_id="w", title="watch", kind="poll", budget_s=60.0, phase="p"),
        PollTick(step_id="w", attempt=1, holds=False, latest=HOSTILE, remaining_s=30.0),
    ):
        r(event, "run-1")
    r._display(Line(f"log line: {HOSTILE}"))
    r._display(Table(title=f"errors {HOSTILE}", headers=("message", "count"), rows=((HOSTILE, 3),)))


@pytest.mark.parametrize("verbosity", [-1, 0, 1])
def test_a_run_off_a_terminal_prints_server_text_inert(verbosity: int) -> None:
    out = io.StringIO()
    _hostile_run(TextRenderer(console.PlainConsole(out), verbosity=verbosity))
    text = out.getvalue()
    for c in UNSAFE:
        assert c not in text, repr(c)
    assert "\\x1b[2J\\x1b[H" in text
    if verbosity >= 0:
        assert "\\u202edesrever" in text and "[/] [bold]x[/bold]" in text  # markup shown, not applied
        assert "all good\\r" in text and "\\nline 2" in text  # one line per value
        assert not any(line.startswith("line 2") for line in text.splitlines())


def _terminal(width: int = 200) -> tuple[io.StringIO, object]:
    stream = io.StringIO()
    c = console._safe_console_class()(file=stream, force_terminal=True, color_system="standard", width=width,
                                      highlight=False, emoji=False)
    return stream, c


def test_a_run_at_a_terminal_prints_server_text_inert_between_its_own_styles() -> None:
    stream, c = _terminal()
    r = TextRenderer(c, verbosity=1)
    r.tty = False  # no live status line in the test
    _hostile_run(r)
    text = stream.getvalue()
    assert "\x1b[" in text  # rich's own styling is there
    assert CLEAR not in text and "\x1b]0;" not in text and "\x1b[H" not in text
    assert "\\x1b[2J\\x1b[H" in text
    for c_ in UNSAFE[1:]:
        assert c_ not in text, repr(c_)
    # every ESC left is rich's styling (SGR: ESC [ digits m)
    import re

    assert not re.sub(r"\x1b\[[0-9;]*m", "", text).count("\x1b")


def test_any_print_through_the_consoles_is_inert() -> None:
    """Not only the run's renderer: a prompt, `config show`, `audit show` print through the same consoles."""
    stream, c = _terminal()
    c.print(f"[red]error:[/] {HOSTILE.replace('[/]', '')}".replace("[bold]x[/bold]", ""))
    print_table(c, "t", ["a"], [[HOSTILE]])
    text = stream.getvalue()
    assert CLEAR not in text and "\u202e" not in text and "\ud800" not in text
    plain = io.StringIO()
    console.PlainConsole(plain).print(HOSTILE, markup=False)
    assert "\x1b" not in plain.getvalue() and "\\x1b[2J" in plain.getvalue()


def test_json_printed_through_a_console_stays_valid_json_and_exact() -> None:
    """`audit timeline --format json`, `show --json`: JSON with raw C1 or bidi characters (json.dumps with
    ensure_ascii=False keeps them) is escaped the way JSON itself escapes, so it still parses, to the
    server's exact text."""
    import json

    data = {"detail": HOSTILE.replace("\ud800", "")}
    for make in (lambda s: console._safe_console_class()(file=s, force_terminal=False, width=80),
                 lambda s: console._safe_console_class()(file=s, force_terminal=True, no_color=True, width=80)):
        stream = io.StringIO()
        make(stream).print(json.dumps(data, indent=2, ensure_ascii=False), markup=False, highlight=False,
                           soft_wrap=True)
        text = stream.getvalue()
        assert "\u202e" not in text and "\x9b" not in text
        assert json.loads(text) == data


def test_a_secret_wrapped_at_the_terminals_width_is_still_masked() -> None:
    from hybridops import scrub

    secret = "wrapped-secret-" + "x" * 40
    scrub.register([secret])
    try:
        stream, c = _terminal(width=30)
        c.print(f"error: the server said {secret} twice {secret}")
        text = stream.getvalue().replace("\n", "")
        assert "wrapped-secret" not in text and "xxxxxxxxxx" not in text and "***" in text
    finally:
        scrub.forget_process_secrets()


def test_markup_from_outside_never_breaks_a_print() -> None:
    """A prompt's instructions may quote a capture holding "[/]": the line prints, literally."""
    stream, c = _terminal()
    c.print("  check [/] and [/bold] as the server wrote them")
    assert "check [/] and [/bold] as the server wrote them" in stream.getvalue()
    plain = io.StringIO()
    console.PlainConsole(plain).print("  check [/] too")
    assert plain.getvalue() == "  check [/] too\n"
