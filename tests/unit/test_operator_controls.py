"""Issue 10 in the engine and the CLI's conventions: the verdict of a run and its exit code, the undo
plan, checks before the first request, --start-at/--skip/--step, --version, -h, `last`, --aws-profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_engine import FakeHttp, run, runbook

from hybridops.cli.app import run as cli
from hybridops.engine.context import RunOptions
from hybridops.engine.incident import check_before_run
from hybridops.engine.steps.notify import NotifyTargets
from hybridops.engine.undo import NothingToUndo, plan_undo
from hybridops.errors import RUN_EXIT_CODES, ExitCode
from hybridops.events import RunStatus

STEPS = """
      - id: probe
        title: Probe
        budget: 1m
        on_failure: continue
        http: {method: GET, path: /health/metrics}
      - id: raise
        title: Raise the limit
        budget: 1m
        http: {method: POST, path: /admin/config/update, body: {timeout: 15000}}
        undo: {http: {method: POST, path: /admin/config/update, body: {timeout: "{{ before }}"}}}
      - id: shift
        title: Shift traffic
        budget: 1m
        http: {method: POST, path: /admin/routing/bedrock-percentage, body: {percentage: 10}}
      - id: ask
        title: Better?
        budget: 1m
        confirm: {question: "Better?", default: true, if_no: escalate}
        next: end
      - id: escalate
        title: Escalate
        budget: 1m
        outcome: unresolved
        manual: {checklist: [Page the owners]}
"""


def test_each_ending_has_its_own_status_and_exit_code() -> None:
    assert RUN_EXIT_CODES == {"completed": 0, "completed_with_failures": 3, "unresolved": 4, "failed": 1,
                              "aborted": 5, "interrupted": 130}
    assert set(RUN_EXIT_CODES) == {s.value for s in RunStatus}
    assert len(set(RUN_EXIT_CODES.values()) | {ExitCode.USAGE}) == 7  # every ending tells itself apart

    clean, _, _, _ = run(runbook(STEPS), yes=True, answers={"ask": "yes"})
    assert (clean.status, clean.verdict()) == ("completed", "completed")
    http = FakeHttp({"/health/metrics": [(500, {"error": "down"})]})
    failed, _, _, _ = run(runbook(STEPS), http=http, yes=True, answers={"ask": "yes"})
    assert failed.status == "completed_with_failures"
    assert failed.verdict() == "completed with 1 failed step (probe)"
    escalated, log, _, _ = run(runbook(STEPS), http=http, yes=True, answers={"ask": "no"})
    assert escalated.status == "unresolved" and log.events("run_finished")[0]["status"] == "unresolved"
    assert escalated.verdict() == ("ended unresolved: the runbook took its roll-back or escalation path at "
                                   "escalate; 1 failed step (probe)")
    dry, _, _, _ = run(runbook(STEPS), dry_run=True, answers={"ask": "no"})
    assert dry.status == "completed"  # a dry run shows the plan; it proves nothing about the system


def test_the_undo_plan_reverses_completed_changes_newest_first() -> None:
    loaded = runbook(STEPS)
    records = [
        {"event": "run_started", "runbook": {"id": "t"}},
        {"event": "step_finished", "step_id": "probe", "status": "ok", "captures": {"before": 10000}},
        {"event": "step_finished", "step_id": "raise", "status": "ok", "mutating": True},
        {"event": "step_finished", "step_id": "shift", "status": "ok", "mutating": True},
        {"event": "step_finished", "step_id": "raise", "status": "failed", "mutating": True},  # not done: no undo
    ]
    plan = plan_undo("run-1", records, loaded.runbook)
    assert [s.id for s in plan.steps] == ["undo-2-raise"]
    assert plan.reverses == {"undo-2-raise": "raise"} and plan.cannot == ("shift",)
    assert plan.steps[0].is_mutating and not plan.steps[0].is_mitigation and plan.captures == {"before": 10000}
    with pytest.raises(NothingToUndo, match="^run run-2 has no completed change that declares an undo; by hand: "
                                            "shift$"):
        plan_undo("run-2", records[:1] + records[3:4], loaded.runbook)


def test_what_can_be_checked_before_the_first_request_is() -> None:
    rb = runbook(STEPS + """
      - id: tell
        title: Tell Slack
        budget: 1m
        notify: {via: slack, text: hi}
""").runbook
    none = NotifyTargets(None, None)
    options = RunOptions(answers={"nope": "1", "raise": "yes", "ask": "maybe"}, start_at="nowhere", skip=("gone",),
                         step_by_step=True)
    assert check_before_run(rb, options, none) == [
        "--start-at nowhere: runbook t has no step 'nowhere'",
        "--skip gone: runbook t has no step 'gone'",
        "--step confirms every step at a terminal: run it in one (and without --yes)",
        "--answer nope=1: runbook t has no step 'nope'",
        "--answer raise=yes: step raise asks nothing (it is a http step)",
        "--answer ask=maybe: answer yes or no",
        "step tell notifies slack, which is not configured: set HYBRIDOPS_SLACK_WEBHOOK_URL or a profile's "
        "notify.slack_webhook_url, or pass --no-notify to run without notifications",
    ]
    assert check_before_run(rb, RunOptions(no_notify=True), none) == []
    assert check_before_run(rb, RunOptions(), NotifyTargets("https://hooks.slack.test/x", None)) == []


def test_start_at_skip_and_step_are_obeyed_and_recorded() -> None:
    class Answers:
        asked: list[str] = []

        def confirm(self, question: str, *, default: bool | None) -> bool:
            self.asked.append(question)
            return "Shift" not in question

    from hybridops.engine.incident import run_incident

    result, log, http, _ = run(runbook(STEPS), yes=True, start_at="raise", skip=("shift",), answers={"ask": "yes"})
    started = log.events("run_started")[0]
    assert (started["start_at"], started["skip"]) == ("raise", ["shift"])
    assert [f["step_id"] for f in log.events("step_finished")] == ["raise", "shift", "ask"]
    assert {f["step_id"]: f["reason"] for f in log.events("step_finished")}["shift"] == "--skip"
    assert [p for _, p, _ in http.sent] == ["/admin/config/update"]

    prompter = Answers()
    http = FakeHttp()
    from test_engine import FakeAws, MemoryLog, defaults

    loaded = runbook(STEPS)
    log = MemoryLog()
    run_incident(loaded, options=RunOptions(interactive=True, step_by_step=True, answers={"ask": "yes"}),
                 variables=defaults(loaded), secrets=set(), open_audit=lambda: log, make_aws=FakeAws,
                 make_http=lambda: http, notify_targets=NotifyTargets(None, None), aws_region="eu-central-1",
                 prompter=prompter)  # type: ignore[arg-type]
    statuses = {f["step_id"]: f["status"] for f in log.events("step_finished")}
    assert statuses["shift"] == "declined" and statuses["probe"] == "ok"
    assert "Run step probe (Probe)?" in prompter.asked and "Run step shift (Shift traffic)?" in prompter.asked


def test_version_short_help_and_flags_without_a_type(capsys: pytest.CaptureFixture[str]) -> None:
    from hybridops import __version__

    for flag in ("--version", "-V"):
        assert cli([flag]) == 0
        assert capsys.readouterr().out == f"hybridops {__version__}\n"
    assert cli(["-h"]) == 0
    out = capsys.readouterr().out
    assert "Exit codes: 0 completed" in out and "5 aborted by the operator" in out and "<bool>" not in out
    assert cli(["incident", "-h"]) == 0
    out = capsys.readouterr().out
    assert "<text|json>" in out and "--aws-profile" in out and "<bool>" not in out
    assert cli(["incident", "outage", "--output", "xml"]) == 2


def test_last_is_the_newest_run_that_was_not_a_dry_run(tmp_path: Path) -> None:
    from hybridops.audit.log import AuditLog, locate_log
    from hybridops.errors import AuditError

    with pytest.raises(AuditError, match="^no runs in "):
        locate_log("last", tmp_path)
    for run_id, dry in (("20261201T100000.000Z-a-0001", False), ("20261201T110000.000Z-b-0002", False),
                        ("20261201T120000.000Z-c-0003", True)):
        with AuditLog.create(tmp_path, run_id) as log:
            log.append("run_started", dry_run=dry)
    assert locate_log("last", tmp_path).stem == "20261201T110000.000Z-b-0002"
    assert locate_log("20261201T10", tmp_path).stem == "20261201T100000.000Z-a-0001"  # a unique prefix


def test_aws_profile_flag_beats_the_environment_and_the_hybridops_profile(tmp_path: Path) -> None:
    from hybridops.config import resolve_settings

    config = tmp_path / "c.toml"
    config.write_text('[profiles.prod]\naws_profile = "prod-oncall"\n', encoding="utf-8")
    env = {"AWS_PROFILE": "from-env"}
    s = resolve_settings(config_path=config, profile="prod", env=env, flag_aws_profile="from-flag")
    assert (s.aws_profile.value, s.aws_profile.source) == ("from-flag", "--aws-profile")
    s = resolve_settings(config_path=config, profile="prod", env=env)
    assert s.aws_profile.value == "from-env"
    s = resolve_settings(config_path=config, profile="prod", env={})
    assert s.aws_profile.value == "prod-oncall"
