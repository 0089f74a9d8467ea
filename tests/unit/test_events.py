"""The event catalogue is the published format of a run's record: pinned field by field, its schema
pinned too, every event round-trips through to_record/from_record, logs of the previous release still
read, and the records the engine writes validate against the schema it publishes."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import jsonschema
import pytest

from hybridops import events as ev
from hybridops.cli.app import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"

# The contract: every event and its fields, with their types. A change here is a change of the format
# other tools read: make it on purpose, and bump events.FORMAT_VERSION when a field changes meaning.
PINNED = {
    "run_started": "runbook: RunbookInfo, tool_version: str | None, operator: str | None, aws_caller_arn: str | None, "
                   "host: str | None, argv: tuple[str, ...], variables: dict[str, Any], admin_url: str | None, "
                   "aws_region: str | None, dry_run: bool, read_only: bool, yes: bool, drill: bool, "
                   "scenario: str | None, time_scale: float, "
                   "clock: str, seed: int | None, answers: dict[str, str], undo_of: str | None, no_notify: bool, "
                   "start_at: str | None, skip: tuple[str, ...], step_by_step: bool",
    "run_resumed": "from_step: str | None, from_seq: int | None, argv: tuple[str, ...], runbook_sha256: str | None, "
                   "unknown_request: bool, operator: str | None, aws_caller_arn: str | None, "
                   "changes: tuple[str, ...], changes_confirmed: str | None",
    "step_started": "step_id: str, phase: str | None, title: str | None, kind: str | None, budget_s: float | None, "
                    "budget_world_s: float | None, mutating: bool, at_s: float | None",
    "request": "step_id: str, call: Call, attempt: int, mutating: bool, dry_run: bool",
    "response": "step_id: str, ok: bool, status: int | str | None, summary: Any, error: str | None, "
                "duration_s: float, unknown_outcome: bool | None",
    "prompt": "step_id: str | None, question: str, answer: str, source: str",
    "step_finished": "step_id: str, status: StepStatus, phase: str | None, title: str | None, at_s: float | None, "
                     "duration_s: float | None, budget_s: float | None, budget_world_s: float | None, "
                     "over_budget: bool, mitigation: bool, mutating: bool, captures: dict[str, Any], "
                     "result: Result | None, error: str | None, reason: str | None, next: str | None",
    "run_finished": "status: RunStatus, duration_s: float | None, time_to_mitigation_s: float | None, "
                    "error: str | None, steps_run: int | None",
    "log_repaired": "torn_bytes: int, reason: str",
    "ship_failed": "error: str",
    "lock_taken_over": "holder_run_id: str, holder_operator: str | None, holder_pid: int | None, "
                       "holder_host: str | None, holder_since: str | None, stale: bool, confirmed: str | None",
    "lock_lost": "reason: str, by_run_id: str | None, by_operator: str | None, by_pid: int | None, "
                 "by_host: str | None, by_since: str | None",
    "budget_warning": "step_id: str, elapsed_s: float, budget_s: float, over: bool",
    "poll_tick": "step_id: str, attempt: int, holds: bool, latest: Any, remaining_s: float",
    "wait_tick": "step_id: str, remaining_s: float",
    "confirm_request": "step_id: str, call: Call, undo: Call | None",
}
AUDITED = {"run_started", "run_resumed", "step_started", "request", "response", "prompt", "step_finished",
           "run_finished", "log_repaired", "ship_failed", "lock_taken_over", "lock_lost"}


def _signature(cls: type) -> str:
    hints = typing.get_type_hints(cls, vars(ev))
    return ", ".join(f"{f.name}: {_name(hints[f.name])}" for f in dataclasses.fields(cls))


def _name(tp: typing.Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("hybridops.events.", "")


def test_the_catalogue_is_pinned_field_by_field() -> None:
    assert {name: _signature(cls) for name, cls in ev.EVENTS.items()} == PINNED
    assert {name for name, cls in ev.EVENTS.items() if cls.AUDITED} == AUDITED


def test_schema_events_prints_the_pinned_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema", "--events"]) == 0
    printed = json.loads(capsys.readouterr().out)
    pinned = json.loads((FIXTURES / "schema.json").read_text(encoding="utf-8"))
    assert printed == pinned, ("the events schema changed: if on purpose, regenerate it with "
                               "`hybridops schema --events > tests/fixtures/events/schema.json`")
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed["title"] == f"hybridops run events, format {ev.FORMAT_VERSION}"


SAMPLES: list[ev.Event] = [
    ev.RunStarted(runbook=ev.RunbookInfo(id="outage", title="Outage", symptoms=("5xx",)), operator="alice",
                  argv=("hybridops", "incident", "outage"), variables={"cluster": "c"}, clock="simulated", seed=3,
                  answers={"ask": "yes"}),
    ev.RunResumed(from_step="restart", from_seq=12, unknown_request=True, operator="bob"),
    ev.StepStarted(step_id="restart", phase="p", kind="aws", budget_s=300.0, mutating=True, at_s=1.5),
    ev.Request(step_id="restart", call=ev.Call(target="aws", service="ecs", operation="UpdateService",
                                               region="eu-central-1", params={"forceNewDeployment": True}),
               attempt=2, mutating=True),
    ev.Request(step_id="page", call=ev.Call(target="pagerduty", url="https://x", body={"event_action": "trigger"},
                                            note="dry"), dry_run=True),
    ev.Response(step_id="restart", ok=False, status="ThrottlingException", error="throttled", duration_s=0.2,
                unknown_outcome=False),
    ev.Prompt(step_id="restart", question="Run?", answer="yes", source="--yes"),
    ev.StepFinished(step_id="logs", status=ev.StepStatus.OK, captures={"t": {"total": 3}},
                    result=ev.ErrorTable(total=3, top="T", top_share=1.0, by_type=(ev.ErrorCount(type="T", count=3),))),
    ev.StepFinished(step_id="skip", status=ev.StepStatus.SKIPPED,
                    result=ev.WouldSend(request=ev.Call(target="http", method="POST", url="u", path="/p", body={}))),
    ev.RunFinished(status=ev.RunStatus.INTERRUPTED, duration_s=9.5, error="SIGTERM", steps_run=2),
    ev.LogRepaired(torn_bytes=17, reason="no newline"),
    ev.ShipFailed(error="refused"),
    ev.LockTakenOver(holder_run_id="r1", holder_operator="alice@h", holder_pid=42, holder_host="h",
                     holder_since="2026-11-25T17:41:02.123Z", confirmed="--take-over"),
    ev.LockLost(reason="incident x was taken over by bob", by_run_id="r2", by_operator="arn:aws:sts::1:role/bob",
                by_pid=7, by_host="h2", by_since="2026-11-25T17:45:00.000Z"),
    ev.BudgetWarning(step_id="w", elapsed_s=8.0, budget_s=10.0),
    ev.PollTick(step_id="p", attempt=3, holds=False, latest={"status": "critical"}, remaining_s=60.0),
    ev.WaitTick(step_id="w", remaining_s=30.0),
    ev.ConfirmRequest(step_id="restart", call=ev.Call(target="http", method="POST", url="u", path="/p", body=None)),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_and_matches_the_schema(event: ev.Event) -> None:
    record = ev.to_record(event)
    assert record["event"] == event.NAME and record["v"] == ev.FORMAT_VERSION
    assert ev.from_record(json.loads(json.dumps(record))) == event
    schema = ev.json_schema()
    jsonschema.validate({**record}, schema)


def test_every_result_type_round_trips() -> None:
    results = [ev.Answered(answer="no"), ev.Checklist(done=("a",), not_done=("b",)), ev.Waited(waited_s=600.0),
               ev.WouldWait(wait_s=60.0), ev.Checked(condition="x > 1", value=True, message="m"),
               ev.JsonGroups(total=2, skipped=1, rows=({"route": "mcp", "count": 2, "share": 1.0},)),
               ev.Polled(attempts=4, latest="healthy"), ev.Answer(summary={"ok": True}), ev.Notified(status=202),
               ev.OtherResult(data=[1, 2])]
    assert {type(r) for r in results} | {ev.ErrorTable, ev.WouldSend} == set(ev.RESULTS.values())
    for result in results:
        event = ev.StepFinished(step_id="s", status=ev.StepStatus.OK, result=result)
        assert ev.from_record(json.loads(json.dumps(ev.to_record(event)))) == event


def test_reading_is_tolerant_of_foreign_and_older_records() -> None:
    unknown = ev.from_record({"seq": 3, "event": "lunch_break", "minutes": 30})
    assert unknown == ev.UnknownEvent(name="lunch_break", fields={"minutes": 30})
    assert ev.to_record(unknown) == {"event": "lunch_break", "minutes": 30}
    bare = ev.from_record({"event": "step_finished"})  # required fields missing: defaults, no error
    assert isinstance(bare, ev.StepFinished) and (bare.step_id, bare.status) == ("", "")
    odd = ev.from_record({"event": "step_finished", "step_id": "s", "status": "paused", "duration_s": "slow",
                          "captures": [1], "result": {"table": "errors_by_type", "total": 2, "by_type": []}})
    assert (odd.status, odd.duration_s, odd.captures) == ("paused", None, {})  # kept / defaulted
    assert odd.result == ev.ErrorTable(total=2)  # a result of a record written before results were typed
    for legacy, typed in (({"would_send": {"target": "aws", "service": "ecs"}},
                           ev.WouldSend(request=ev.Call(target="aws", service="ecs"))),
                          ({"answer": "yes"}, ev.Answered(answer="yes")),
                          ({"done": ["a"], "not_done": []}, ev.Checklist(done=("a",))),
                          ({"condition": "c", "value": False, "message": "m"},
                           ev.Checked(condition="c", value=False, message="m")),
                          ({"Services": []}, ev.OtherResult(data={"Services": []}))):
        read = ev.from_record({"event": "step_finished", "step_id": "s", "status": "ok", "result": legacy})
        assert read.result == typed, legacy


@pytest.mark.parametrize("log", sorted((FIXTURES / "logs").glob("*.jsonl")), ids=lambda p: p.stem)
def test_logs_of_the_previous_release_still_read(log: Path) -> None:
    """Logs written by the release before typed events (format 0): kept as fixtures, read for ever."""
    from hybridops.audit.log import read_log, verify_log
    from hybridops.audit.timeline import build_timeline, render_markdown

    read = read_log(log)
    assert verify_log(log).ok
    records = ev.read_records(read.records)
    assert not [r for r in records if isinstance(r.event, ev.UnknownEvent)]
    assert {type(r.event) for r in records} >= {ev.RunStarted, ev.StepStarted, ev.StepFinished}
    finished = [r.event for r in records if isinstance(r.event, ev.StepFinished)]
    assert all(isinstance(f.status, ev.StepStatus) for f in finished)
    assert all(f.result is None or not isinstance(f.result, ev.OtherResult)
               or f.result.data is not None for f in finished)
    timeline = build_timeline(read)
    assert [s.step_id for s in timeline.steps if s.status != "unfinished"] == [f.step_id for f in finished]
    assert render_markdown(timeline).startswith("# Incident timeline: ")


def test_what_a_run_writes_is_what_the_schema_says(tmp_path: Path) -> None:
    from test_engine import FakeAws, FakeHttp, runbook

    from hybridops.audit.log import AuditLog, read_log
    from hybridops.engine.clock import FakeClock
    from hybridops.engine.context import RunOptions
    from hybridops.engine.incident import run_incident
    from hybridops.engine.steps.notify import NotifyTargets

    loaded = runbook("""
      - id: look
        title: Look
        budget: 1m
        http: {method: GET, path: /health, capture: {s: status}}
      - id: fix
        title: Fix
        budget: 1m
        http: {method: POST, path: /admin/circuit-breaker/reset}
      - id: ask
        title: Ask
        budget: 1m
        confirm: {question: "Better?", default: true}
      - id: watch
        title: Watch
        budget: 5m
        poll:
          http: {method: GET, path: /health, capture: {s: status}}
          every: 30s
          timeout: 2m
          until: s == 'healthy'
      - id: hold
        title: Hold
        budget: 2m
        wait: {duration: 1m}
      - id: verdict
        title: Verdict
        budget: 1m
        check: {condition: "s == 'healthy'"}
      - id: list
        title: Tick
        budget: 1m
        manual: {checklist: [Tell the team]}
""")
    http = FakeHttp({"/health": [(200, {"status": "critical"}), (200, {"status": "healthy"})]})
    log = AuditLog.create(tmp_path, "r-schema")
    shown: list[dict] = []
    run_incident(loaded, options=RunOptions(yes=True), variables={}, secrets=set(), open_audit=lambda: log,
                 make_aws=FakeAws, make_http=lambda: http, notify_targets=NotifyTargets(None, None),
                 aws_region="eu-central-1", clock=FakeClock(),
                 ui=[lambda e, run_id: shown.append(ev.to_record(e))])
    log.close()
    validator = jsonschema.Draft202012Validator(ev.json_schema())
    records = read_log(log.path).records
    names = {r["event"] for r in records}
    assert names >= {"run_started", "step_started", "request", "response", "prompt", "step_finished", "run_finished"}
    for record in records:
        body = {k: v for k, v in record.items() if k not in ("seq", "ts", "run_id", "prev")}
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, (record["event"], errors)
    assert {"poll_tick", "wait_tick"} <= {r["event"] for r in shown}  # display-only, also in the schema
    for line in shown:
        assert not list(validator.iter_errors(line)), line["event"]
