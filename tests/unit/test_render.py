"""What a run looks like at each verbosity (-q, the default, -v): the renderer fed the events of a
poll step and of a plain call, on a console that is not a terminal (as in CI or a pipe)."""

from __future__ import annotations

import sys

import pytest
from rich.console import Console

from hybridops.cli.render import TextRenderer
from hybridops.events import (
    Call,
    ConfirmRequest,
    Event,
    PollTick,
    Request,
    Response,
    StepFinished,
    StepStarted,
    StepStatus,
)

HEALTH = Call(target="http", method="GET", url="http://admin/health/component/mcp-router")
RESTART = Call(target="aws", service="ecs", operation="UpdateService", region="eu-central-1",
               params={"cluster": "c", "service": "s", "forceNewDeployment": True})
RUN = [
    StepStarted(step_id="watch", title="Watch the router", kind="poll", budget_s=900.0, phase="p"),
    *(e for n, state in enumerate(["critical", "degraded", "healthy"], 1) for e in (
        Request(step_id="watch", call=HEALTH),
        Response(step_id="watch", ok=True, status=200, summary={"status": state}, duration_s=0.1),
        PollTick(step_id="watch", attempt=n, holds=state == "healthy", latest=f"router {state}",
                 remaining_s=900.0 - 30 * n),
    )),
    StepFinished(step_id="watch", status=StepStatus.OK, duration_s=60.0, budget_s=900.0),
    StepStarted(step_id="restart", title="Restart", kind="aws", budget_s=300.0, phase="p", mutating=True),
    ConfirmRequest(step_id="restart", call=RESTART),
    Request(step_id="restart", call=RESTART, mutating=True),
    Response(step_id="restart", ok=True, status="ok", summary={"service": {"status": "ACTIVE"}}, duration_s=0.2),
    StepFinished(step_id="restart", status=StepStatus.FAILED, duration_s=0.2, budget_s=300.0,
                 error="deployment did not start"),
]
RESTART_LINE = ('aws ecs UpdateService (eu-central-1) {"cluster": "c", "service": "s", '
                '"forceNewDeployment": true}')


def shown(verbosity: int, events: list[Event] = RUN) -> list[str]:
    console = Console(record=True, width=300, force_terminal=False)
    render = TextRenderer(console, verbosity=verbosity)
    for event in events:
        render(event, "run-1")
    return [line for line in console.export_text().splitlines() if line]


def test_default_a_poll_shows_its_request_once_then_a_line_per_check() -> None:
    assert shown(0) == [
        "▶ watch Watch the router  (budget 15m00s, p)",
        "  polling GET http://admin/health/component/mcp-router",
        "  poll #1: router critical — condition not yet, 14m30s left",
        "  poll #2: router degraded — condition not yet, 14m00s left",
        "  poll #3: router healthy — condition holds, 13m30s left",
        "  ok in 1m00s / 15m00s",
        "▶ restart Restart [MUTATING]  (budget 5m00s, p)",
        f"  mutating request: {RESTART_LINE}",
        "  undo: none declared (this change cannot be undone automatically)",
        f"  → {RESTART_LINE}",
        "  ← ok in 0.2s",
        "  failed in 0.2s / 5m00s deployment did not start",
    ]


def test_quiet_shows_each_step_once_and_still_every_confirmation() -> None:
    assert shown(-1) == [
        "  watch ok in 1m00s / 15m00s",
        f"  mutating request: {RESTART_LINE}",  # what the operator is asked to approve is never hidden
        "  undo: none declared (this change cannot be undone automatically)",
        "  restart failed in 0.2s / 5m00s deployment did not start",
    ]


def test_verbose_shows_every_request_and_response_with_its_content() -> None:
    lines = shown(1)
    assert lines[1:4] == [
        "  → GET http://admin/health/component/mcp-router",
        '  ← 200 in 0.1s  {"status": "critical"}',
        "  poll #1: router critical — condition not yet, 14m30s left",
    ]
    assert lines.count("  → GET http://admin/health/component/mcp-router") == 3
    assert '  ← ok in 0.2s  {"service": {"status": "ACTIVE"}}' in lines


@pytest.mark.parametrize("verbosity", [-1, 0, 1])
def test_poll_lines_are_text_not_markup(verbosity: int) -> None:
    events: list[Event] = [StepStarted(step_id="w", kind="poll", budget_s=60.0),
                           PollTick(step_id="w", attempt=1, holds=False, latest="[bold]x[/bold] [1, 2]")]
    assert ("  poll #1: [bold]x[/bold] [1, 2] — condition not yet, 0.0s left" in shown(verbosity, events)) is (
        verbosity >= 0)


def test_off_a_terminal_the_run_is_plain_lines_and_a_padded_table(capsys: pytest.CaptureFixture[str]) -> None:
    from hybridops.cli.console import PlainConsole
    from hybridops.cli.render import print_table

    plain = PlainConsole(sys.stdout)
    render = TextRenderer(plain, verbosity=0)
    for event in RUN:
        render(event, "run-1")
    print_table(plain, "run r: failed", ["step", "status", ""], [["watch", "ok", ""], ["restart", "failed", "x"]])
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert lines[:2] == ["▶ watch Watch the router  (budget 15m00s, p)",
                         "  polling GET http://admin/health/component/mcp-router"]
    assert "▶ restart Restart [MUTATING]  (budget 5m00s, p)" in lines  # markup gone, escaped brackets kept
    assert f"  mutating request: {RESTART_LINE}" in lines
    assert lines[-5:] == ["run r: failed", "step     status", "-------  ------  -", "watch    ok", "restart  failed  x"]
    assert not any("[/" in line or "[bold" in line for line in lines)
