"""Safety of `hybridops incident` against the sandbox: --read-only, mutations that nobody confirmed,
secrets, errors that stop a run before anything is sent, retries, and Ctrl-C / SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import (
    PLANTED,
    SECRET_VARIABLE_RUNBOOK,
    UNKNOWN_OUTCOME_RUNBOOK,
    CliResult,
    assert_no_secrets,
    aws_calls,
    chained_records,
    check_run_log,
    events,
    is_mutating,
    mutations,
    step_status,
    wall_clock,
)

from hybridops.audit.log import verify_log
from hybridops.sandbox import SCENARIO_FOR_INCIDENT, Sandbox

Run = Callable[..., CliResult]
Scenario = Callable[[str], Sandbox]

# How a --read-only run ends, truthfully: with its mitigations skipped, the checks after them fail and the
# runbook takes its escalation path (unresolved, exit 4) or completes past the failed checks (exit 3).
READ_ONLY_END = {
    "outage": ("unresolved", 4, "ended unresolved: the runbook took its roll-back or escalation path at "
                                "implement-fallback; 1 failed step (wait-for-recovery)"),
    "bedrock-failure": ("completed_with_failures", 3, "completed with 1 failed step (invoke-bedrock)"),
    "mcp-failure": ("unresolved", 4, "ended unresolved: the runbook took its roll-back or escalation path at "
                                     "mcp-not-recovered; 2 failed steps (monitor-mcp-recovery, watch-queue-drain)"),
    "high-error-rate": ("unresolved", 4, "ended unresolved: the runbook took its roll-back or escalation path at "
                                         "error-rate-not-recovered; 1 failed step (verify-error-rate)"),
    "routing-efficiency": ("completed_with_failures", 3, "completed with 1 failed step (monitor-routing-efficiency)"),
}
# The mutating steps of each runbook on its recovery path, with the request each would send.
SKIPPED_MUTATIONS: dict[str, dict[str, str]] = {
    "outage": {
        "restart-routing-service": 'aws ecs UpdateService (eu-central-1) {{"cluster": "hybrid-routing-cluster", '
                                   '"service": "hybrid-routing-service", "forceNewDeployment": true}}',
        "reset-circuit-breakers": "POST {admin}/admin/circuit-breaker/reset",
    },
    "bedrock-failure": {
        "force-mcp": 'POST {admin}/admin/routing/force-mcp {{"reason": "Bedrock unavailable", "duration": 3600}}',
        "bedrock-10-percent": 'POST {admin}/admin/routing/bedrock-percentage {{"percentage": 10}}',
        "bedrock-50-percent": 'POST {admin}/admin/routing/bedrock-percentage {{"percentage": 50}}',
        "bedrock-100-percent": 'POST {admin}/admin/routing/bedrock-percentage {{"percentage": 100}}',
    },
    "mcp-failure": {
        "restart-mcp-router": 'aws ecs UpdateService (eu-central-1) {{"cluster": "mcp-cluster", '
                              '"service": "mcp-router-service", "forceNewDeployment": true}}',
    },
    "high-error-rate": {"increase-timeout": 'POST {admin}/admin/config/update {{"timeout": 15000}}'},
    "routing-efficiency": {
        "update-routing-thresholds": 'POST {admin}/admin/routing/config {{"directBedrockLatencyThreshold": 8000, '
                                     '"mcpLatencyThreshold": 25000, "fallbackAggressiveness": 0.7}}',
    },
}


def fault(sb: Sandbox, **body: Any) -> None:
    response = httpx.post(f"{sb.admin_url}/_sandbox/fault", json=body, timeout=5)
    assert response.status_code == 200, response.text


def one_line_error(result: CliResult) -> str:
    """The run stopped with exactly one line on stderr, no traceback; that line."""
    lines = result.stderr_lines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert lines[0].startswith("error: ")
    return lines[0]


# --- read-only -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("incident", sorted(SKIPPED_MUTATIONS))
def test_read_only_runs_the_reads_and_skips_every_mutation(incident: str, scenario: Scenario, run: Run):
    sb = scenario(SCENARIO_FOR_INCIDENT[incident])
    result = run(["incident", incident, "--read-only"])
    status, code, verdict = READ_ONLY_END[incident]
    assert result.code == code, result.stderr
    assert verdict in result.stdout
    calls = sb.requests()
    assert mutations(calls) == []  # no POST to the admin API's changes, no UpdateService
    assert not [c for c in calls if c["api"] == "admin" and c["method"] == "POST"
                and c["path"] != "/admin/bedrock/test"]  # (a probe the runbook declares not mutating)
    assert (calls[0]["service"], calls[0]["operation"]) == ("sts", "GetCallerIdentity")
    assert len(calls) > 3 and all(not is_mutating(c) for c in calls)  # the reads ran for real
    assert sb.status()["recovered"] is False  # nothing was done about the incident

    records = check_run_log(result.log(), runbook=incident, status=status, read_only=True)
    assert "[READ-ONLY: mutating steps skipped]" in result.stdout
    statuses = step_status(records)
    for step, shown in SKIPPED_MUTATIONS[incident].items():
        assert statuses[step] == "skipped"
        finished = events(records, "step_finished", step_id=step)[0]
        assert finished["reason"] == "--read-only: mutating step not run"
        assert not events(records, "request", step_id=step)
        assert f"skipped request: {shown.format(admin=sb.admin_url)}" in result.stdout
    assert not [r for r in events(records, "request") if r["mutating"]]


# --- nobody to confirm --------------------------------------------------------------------------------------


def test_mutation_without_yes_and_without_a_terminal_stops_before_sending(scenario: Scenario, run: Run):
    sb = scenario("mcp-down")
    result = run(["incident", "mcp-failure"])  # stdin is not a terminal, no --yes
    assert result.code == 1
    line = one_line_error(result)
    assert line == ("error: step restart-mcp-router is mutating and needs confirmation: run it in a terminal, "
                    "or pass --yes")
    calls = sb.requests()
    assert mutations(calls) == []
    assert aws_calls(calls, "GetQueueAttributes")  # the reads before it ran
    records = check_run_log(result.log(), runbook="mcp-failure", status="failed")
    assert step_status(records)["restart-mcp-router"] == "aborted"
    assert not events(records, "request", step_id="restart-mcp-router")
    assert "restart-mcp-router" in records[-1]["error"]
    assert not events(records, "step_started", step_id="monitor-mcp-recovery")  # the run stopped there


# --- secrets ---------------------------------------------------------------------------------------------


def test_secrets_reach_only_their_destination_and_never_output_or_log(scenario: Scenario, run: Run,
                                                                        receiver: Any):
    sb = scenario("outage")
    result = run(["incident", "outage", "--yes"])
    assert result.code == 0, result.stderr
    assert_no_secrets(result.stdout, result.stderr, result.log())
    records = check_run_log(result.log(), runbook="outage", status="completed")
    text = result.log().read_text("utf-8")
    assert "Bearer" not in text and "Authorization" not in text

    # The admin API got the bearer token: every call to it was accepted, none refused with a 401.
    admin = [c for c in sb.requests() if c["api"] == "admin"]
    assert admin and all(c["status"] in (200, 503) for c in admin)
    assert [c["status"] for c in admin if c["method"] == "POST"] == [200]
    # Slack got the real webhook URL, PagerDuty the real routing key; neither got the admin token.
    received = receiver.received()
    slack = [r for r in received if r["path"].startswith("/services/")]
    pagerduty = [r for r in received if r["path"] == "/v2/enqueue"]
    assert len(slack) == 2 and len(pagerduty) == 2
    assert {r["path"] for r in slack} == {f"/services/T0E2E/B0E2E/{PLANTED.slack_path}"}
    assert [r["body"]["routing_key"] for r in pagerduty] == [PLANTED.routing_key] * 2
    assert [r["body"]["event_action"] for r in pagerduty] == ["trigger", "resolve"]
    for r in received:
        assert "authorization" not in r["headers"]
        assert PLANTED.admin_token not in json.dumps(r)
    # What the log and the screen show of them: masked.
    shown = events(records, "request", target="pagerduty")
    assert [r["body"]["routing_key"] for r in shown] == ["***", "***"]
    assert all(r["url"].endswith("/...") for r in events(records, "request", target="slack"))


def test_notifications_that_fail_never_stop_the_incident_nor_show_their_secrets(
        scenario: Scenario, run: Run, cli_env: dict[str, str]):
    sb = scenario("mcp-down")
    # nothing listens on port 9 of loopback
    env = {**cli_env, "HYBRIDOPS_SLACK_WEBHOOK_URL": f"http://127.0.0.1:9/services/T/B/{PLANTED.slack_path}",
           "HYBRIDOPS_PAGERDUTY_URL": "http://127.0.0.1:9/v2/enqueue"}
    result = run(["incident", "mcp-failure", "--yes"], env=env)
    assert result.code == 3, result.stderr  # completed, with the failed notifications said plainly
    assert "completed with 3 failed steps (page-pagerduty, resolve-pagerduty, notify-outcome)" in result.stdout
    records = check_run_log(result.log(), runbook="mcp-failure", status="completed_with_failures")
    statuses = step_status(records)
    assert [statuses[s] for s in ("page-pagerduty", "resolve-pagerduty", "notify-outcome")] == ["failed"] * 3
    assert events(records, "step_finished", step_id="notify-outcome")[0]["reason"] == "notification not sent"
    assert "cannot connect" in events(records, "step_finished", step_id="page-pagerduty")[0]["error"]
    assert mutations(sb.requests())  # the incident went on to the restart
    assert sb.status()["recovered"] is True


def test_a_secret_variable_is_masked_everywhere(scenario: Scenario, run: Run, tmp_path: Path):
    scenario("healthy")
    runbook = tmp_path / "secret-variable.yaml"
    runbook.write_text(SECRET_VARIABLE_RUNBOOK, encoding="utf-8")
    secret = "e2e-var-secret-" + PLANTED.routing_key[-8:]
    for output in ("text", "json"):
        result = run(["incident", runbook, "--yes", "--var", f"api_key={secret}", "--output", output])
        assert result.code == 0, result.stderr
        assert_no_secrets(result.stdout, result.stderr, result.log())
        for place in (result.stdout, result.stderr, result.log().read_text("utf-8")):
            assert secret not in place
        records = check_run_log(result.log(), runbook="secret-variable", status="completed", runbook_file=runbook)
        assert records[0]["variables"] == {"api_key": "***"}
        assert f"api_key={secret}" not in records[0]["argv"] and "api_key=***" in records[0]["argv"]
        # A text rendered from the secret is secret as a whole: a slice of it too (issue 12 §5).
        assert [p["question"] for p in events(records, "prompt", step_id="rotate")] == ["***", "***"]


def test_a_mutation_whose_outcome_is_unknown_is_not_sent_again_under_yes_unless_idempotent(
        scenario: Scenario, run: Run, tmp_path: Path):
    # --yes confirms sending a change once: a timeout after sending leaves its outcome unknown, and only
    # a person at a terminal (or the runbook, declaring it idempotent) may have it sent again.
    for idempotent in (False, True):
        sb = scenario("outage")
        name = "unknown-outcome" + ("-idempotent" if idempotent else "")
        runbook = tmp_path / f"{name}.yaml"
        text = UNKNOWN_OUTCOME_RUNBOOK.replace("id: unknown-outcome", f"id: {name}")
        if idempotent:
            text = text.replace("        retries:", "        idempotent: true\n        retries:")
        runbook.write_text(text, encoding="utf-8")
        fault(sb, kind="slow", seconds=2, count=1)  # the first answer comes after the step's 1 s timeout
        result = run(["incident", runbook, "--yes"])
        assert result.code == (0 if idempotent else 3), result.stderr
        records = check_run_log(result.log(), runbook=name, runbook_file=runbook,
                                status="completed" if idempotent else "completed_with_failures")
        step = [(r["event"], r.get("attempt"), r.get("ok"), r.get("unknown_outcome"), r.get("answer"), r.get("source"))
                for r in records if r.get("step_id") == "reset" and r["event"] in ("request", "response", "prompt")]
        again = [("request", 2, None, None, None, None), ("response", None, True, None, None, None)]
        assert step == [
            ("prompt", None, None, None, "yes", "--yes"),  # the step itself
            ("request", 1, None, None, None, None),
            ("response", None, False, True, None, None),  # timed out: it may have been applied
            ("prompt", None, None, None, *(("yes", "idempotent") if idempotent else ("no", "non-interactive"))),
            *(again if idempotent else []),
        ]
        resend = events(records, "prompt", step_id="reset")[1]
        assert resend["question"].startswith("The outcome of mutating step reset is unknown")
        assert "timed out" in events(records, "response", step_id="reset")[0]["error"]
        finished = events(records, "step_finished", step_id="reset")[0]
        assert finished["status"] == ("ok" if idempotent else "failed")
        if not idempotent:
            assert "not sent again without a confirmation" in finished["error"]
        _wait_for_answers(sb)
        assert [c["status"] for c in sb.requests()] == [200] * (2 if idempotent else 1)  # what reached the API


def _wait_for_answers(sb: Sandbox, timeout: float = 10) -> None:
    """Until every admin call got its answer (a slow one still sleeping would land in the next test)."""
    deadline = time.monotonic() + timeout
    while any(c["api"] == "admin" and c["status"] is None for c in sb.requests()):
        assert time.monotonic() < deadline, "the sandbox never answered"
        time.sleep(0.05)


# --- errors that stop a run before anything is sent ----------------------------------------------------------


def test_no_aws_credentials_stop_the_run_in_preflight(scenario: Scenario, run: Run, cli_env: dict[str, str],
                                                      receiver: Any):
    sb = scenario("mcp-down")
    env = {k: v for k, v in cli_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    result = run(["incident", "mcp-failure", "--yes"], env=env)
    assert result.code == 1
    line = one_line_error(result)
    assert "no AWS credentials found" in line and "preflight" in line and "nothing was sent" in line
    assert sb.requests() == [] and receiver.received() == []
    records = check_run_log(result.log(), runbook="mcp-failure", status="failed")
    assert [r["event"] for r in records] == ["run_started", "run_finished"]
    assert "▶" not in result.stdout  # no step started


def test_plain_http_admin_url_is_refused_before_any_connection_unless_insecure(
        scenario: Scenario, run: Run, cli_env: dict[str, str]):
    sb = scenario("efficiency-drop")
    env = {**wall_clock(cli_env), "HYBRIDOPS_ADMIN_URL": "http://example.invalid"}
    for args in (["--yes"], ["--dry-run"]):
        result = run(["incident", "routing-efficiency", *args], env=env)
        assert result.code == 1
        assert one_line_error(result) == (
            "error: admin URL: refusing plain http:// to example.invalid (the token would travel unencrypted); "
            "use https:// or pass --insecure")
        assert result.logs() == [] and result.stdout == ""
    assert sb.requests() == []  # not even STS

    result = run(["incident", "routing-efficiency", "--dry-run", "--insecure"], env=env)
    assert result.code == 0, result.stderr
    assert "would send GET http://example.invalid/health/metrics" in result.stdout
    assert "would send POST http://example.invalid/admin/routing/config" in result.stdout
    assert sb.requests() == []


def test_an_unwritable_audit_dir_stops_the_run_before_anything_is_sent(scenario: Scenario, run: Run,
                                                                        tmp_path: Path):
    sb = scenario("mcp-down")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run(["incident", "mcp-failure", "--yes", "--audit-dir", blocker / "audit"])
    assert result.code == 1
    assert one_line_error(result) == f"error: cannot create audit dir {blocker / 'audit'}: Not a directory"
    assert sb.requests() == []


def test_an_unreachable_aws_endpoint_is_one_line_naming_step_service_and_operation(
        scenario: Scenario, run: Run, cli_env: dict[str, str]):
    # The admin API (and the simulated clock: the retries' backoff passes at once) is the sandbox's;
    # AWS is a port where nothing listens.
    scenario("mcp-down")
    env = {**cli_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "e2e",
           "AWS_SECRET_ACCESS_KEY": PLANTED.aws_secret_key, "AWS_DEFAULT_REGION": "eu-central-1"}
    reach = ('cannot reach the AWS endpoint (Could not connect to the endpoint URL: "http://127.0.0.1:9/"); '
             "check the network, VPN or AWS_ENDPOINT_URL")
    result = run(["incident", "mcp-failure", "--yes"], env=env)
    assert result.code == 1
    assert one_line_error(result) == (f"error: preflight: aws sts GetCallerIdentity: {reach} (nothing was sent; "
                                      "--skip-preflight if STS itself is down)")
    # Without the preflight, the reads fail (and go on); the restart cannot be sent and stops the run.
    result = run(["incident", "mcp-failure", "--yes", "--skip-preflight"], env=env)
    assert result.code == 1
    assert one_line_error(result) == f"error: step restart-mcp-router failed: aws ecs UpdateService: {reach}"
    records = check_run_log(result.log(), runbook="mcp-failure", status="failed")
    assert records[0]["aws_caller_arn"] is None
    # a read is tried 3 times (2 retries); the mutation once: it has no retries unless the runbook says so
    assert [r["attempt"] for r in events(records, "request", step_id="lookup-queue-url")] == [1, 2, 3]
    assert step_status(records)["lookup-queue-url"] == "failed"
    assert [r["attempt"] for r in events(records, "request", step_id="restart-mcp-router")] == [1]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--var", "nonsense"], 2, "error: --var 'nonsense': expected NAME=VALUE"),
    (["--var", "efficiency_threshold=abc"], 1,
     "error: efficiency_threshold from --var: expected an integer, got 'abc'"),
    (["--var", "nosuch=1"], 1,
     "error: --var nosuch: runbook routing-efficiency has no variable 'nosuch' (known: "
     "direct_bedrock_latency_threshold, efficiency_threshold, fallback_aggressiveness, log_group, "
     "mcp_latency_threshold, region)"),
    (["--answer", "update-routing-thresholds"], 2, "error: --answer 'update-routing-thresholds': expected NAME=VALUE"),
    (["--output", "xml"], 2, "error: Invalid value for '--output': 'xml' is not one of 'text', 'json'."),
])
def test_bad_options_are_one_clear_line(args: list[str], code: int, message: str, scenario: Scenario, run: Run):
    sb = scenario("efficiency-drop")
    result = run(["incident", "routing-efficiency", "--yes", *args])
    assert result.code == code
    assert one_line_error(result) == message
    assert sb.requests() == [] and result.logs() == []


def test_unknown_runbook_is_one_clear_line(run: Run, sandbox: Sandbox):
    before = len(sandbox.requests())
    result = run(["incident", "no-such-incident", "--yes"])
    assert result.code == 1
    line = one_line_error(result)
    assert line.startswith("error: no runbook 'no-such-incident' in ")
    assert line.endswith("(known: bedrock-failure, high-error-rate, mcp-failure, outage, routing-efficiency)")
    assert len(sandbox.requests()) == before and result.logs() == []


def test_a_bad_choice_answer_stops_the_run_naming_the_choices(scenario: Scenario, run: Run):
    sb = scenario("bedrock-down")
    # a real run: refused before the first request (it used to stop after force-MCP was sent)
    result = run(["incident", "bedrock-failure", "--yes", "--answer", "wait-or-investigate=maybe"])
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "error: preflight: --answer wait-or-investigate=maybe: choose one of investigate, wait (nothing was sent)"]
    assert sb.requests() == [] and result.logs() == []
    # a dry run says so too, and shows the rest
    result = run(["incident", "bedrock-failure", "--dry-run", "--answer", "wait-or-investigate=maybe"])
    assert result.code == 1
    assert result.stderr.splitlines() == [
        "preflight: --answer wait-or-investigate=maybe: choose one of investigate, wait",
        "error: --answer wait-or-investigate=maybe: choose one of investigate, wait"]
    check_run_log(result.log(), runbook="bedrock-failure", status="failed", dry_run=True)


@pytest.mark.parametrize(("answer", "message"), [
    ("no-such-step=1", "--answer no-such-step=1: runbook bedrock-failure has no step 'no-such-step'"),
    ("force-mcp=yes", "--answer force-mcp=yes: step force-mcp asks nothing (it is a http step)"),
])
def test_an_answer_the_runbook_cannot_take_stops_the_run_before_anything_is_sent(
        scenario: Scenario, run: Run, answer: str, message: str):
    sb = scenario("bedrock-down")
    result = run(["incident", "bedrock-failure", "--yes", "--answer", answer])
    assert (result.code, result.stderr.splitlines()) == (1, [f"error: preflight: {message} (nothing was sent)"])
    assert sb.requests() == [] and result.logs() == []


PAGERDUTY_SETTING = "HYBRIDOPS_PAGERDUTY_ROUTING_KEY or a profile's notify.pagerduty_routing_key"


def test_missing_notification_settings_stop_the_run_unless_waived(scenario: Scenario, run: Run,
                                                                  cli_env: dict[str, str]):
    sb = scenario("mcp-down")
    env = {k: v for k, v in cli_env.items() if not k.startswith(("HYBRIDOPS_SLACK", "HYBRIDOPS_PAGERDUTY"))}
    result = run(["incident", "mcp-failure", "--yes"], env=env)
    assert result.code == 1 and sb.requests() == [] and result.logs() == []
    lines = result.stderr.splitlines()
    assert lines == [
        f"error: preflight: step {sid} notifies {via}, which is not configured: set {setting}, or pass --no-notify "
        "to run without notifications (nothing was sent)"
        for sid, via, setting in (
            ("page-pagerduty", "pagerduty", PAGERDUTY_SETTING), ("resolve-pagerduty", "pagerduty", PAGERDUTY_SETTING),
            ("notify-outcome", "slack", "HYBRIDOPS_SLACK_WEBHOOK_URL or a profile's notify.slack_webhook_url"))]
    result = run(["incident", "mcp-failure", "--yes", "--no-notify"], env=env)
    assert result.code == 0, result.stderr
    records = check_run_log(result.log(), runbook="mcp-failure", status="completed")
    assert records[0]["no_notify"] is True
    assert {step_status(records)[s] for s in ("page-pagerduty", "resolve-pagerduty", "notify-outcome")} == {"skipped"}
    assert mutations(sb.requests())  # the run itself went ahead


# --- retries ---------------------------------------------------------------------------------------------


def test_a_read_retries_through_503s_and_the_log_shows_every_attempt(scenario: Scenario, run: Run):
    sb = scenario("efficiency-drop")
    fault(sb, kind="http-503", count=2)
    result = run(["incident", "routing-efficiency", "--yes"])
    assert result.code == 0, result.stderr
    metrics = [c["status"] for c in sb.requests() if c.get("path") == "/health/metrics"]
    assert metrics[:3] == [503, 503, 200]
    records = check_run_log(result.log(), runbook="routing-efficiency", status="completed")
    requests = events(records, "request", step_id="read-routing-metrics")
    responses = events(records, "response", step_id="read-routing-metrics")
    assert [r["attempt"] for r in requests] == [1, 2, 3]
    assert [(r["ok"], r["status"]) for r in responses] == [(False, 503), (False, 503), (True, 200)]
    assert "HTTP 503" in responses[0]["error"]
    assert step_status(records)["read-routing-metrics"] == "ok"
    assert result.stdout.count(f"retry GET {sb.admin_url}/health/metrics") == 2
    assert mutations(sb.requests()) == [("admin", "POST", "/admin/routing/config",
                                         {"directBedrockLatencyThreshold": 8000, "mcpLatencyThreshold": 25000,
                                          "fallbackAggressiveness": 0.7})]


def test_a_read_that_keeps_failing_gives_up_and_its_on_failure_applies(scenario: Scenario, run: Run):
    sb = scenario("efficiency-drop")
    fault(sb, kind="http-503", count=3)
    result = run(["incident", "routing-efficiency", "--yes"])
    assert result.code == 3, result.stderr  # on_failure: continue, so it completes, with a failed step
    records = check_run_log(result.log(), runbook="routing-efficiency", status="completed_with_failures")
    assert [r["attempt"] for r in events(records, "request", step_id="read-routing-metrics")] == [1, 2, 3]
    finished = events(records, "step_finished", step_id="read-routing-metrics")[0]
    assert finished["status"] == "failed" and "HTTP 503" in finished["error"]
    # the check over its values takes the "unknown" side and the run goes on
    assert events(records, "step_finished", step_id="efficiency-below-threshold")[0]["captures"] == {
        "efficiency_low": False}
    assert [c["status"] for c in sb.requests() if c.get("path") == "/health/metrics"][:4] == [503, 503, 503, 200]


# --- Ctrl-C and SIGTERM ----------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_mid_wait_stops_at_once_records_it_and_says_how_to_resume(
        signum: int, scenario: Scenario, cli_env: dict[str, str], tmp_path: Path):
    sb = scenario("mcp-down")
    audit = tmp_path / "audit-interrupt"
    env = {**wall_clock(cli_env), "HYBRIDOPS_AUDIT_DIR": str(audit)}
    # The wall clock (scale 1): follow-mcp-logs then polls every 30 s for 2 minutes, so the signal comes
    # during a real wait, whenever after the first poll it is sent.
    proc = subprocess.Popen(
        [sys.executable, "-m", "hybridops", "incident", "mcp-failure", "--yes"], env=env, cwd=tmp_path,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
        # a child of a non-interactive shell may inherit SIGINT ignored; Ctrl-C at a terminal is not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        log = _wait_for_first_poll(audit, "follow-mcp-logs", proc)
        calls_before = len(sb.requests())
        sent = time.monotonic()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=15)
        stopped_after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert stopped_after < 25  # at once, not at the end of the 30-second wait
    assert_no_secrets(stdout, stderr, log)
    run_id = log.stem
    assert [line for line in stderr.splitlines() if line.strip()] == [
        f"error: run interrupted; resume with: hybridops resume {run_id}"]
    records = check_run_log(log, runbook="mcp-failure", status="interrupted")
    assert records[-1]["error"] == "interrupted by the operator (Ctrl-C or SIGTERM)"
    assert events(records, "step_finished", step_id="follow-mcp-logs")[0]["status"] == "interrupted"
    assert records[-2]["event"] == "step_finished"
    assert verify_log(log).status == "interrupted"
    assert len(sb.requests()) == calls_before  # nothing sent after the signal
    assert mutations(sb.requests()) == []


def _wait_for_first_poll(audit: Path, step: str, proc: subprocess.Popen, timeout: float = 20) -> Path:
    """The run's log, once it holds the response to `step`'s first poll."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for log in audit.glob("*.jsonl"):
            try:
                records = chained_records(log)
            except (ValueError, AssertionError):  # a line being written
                continue
            if events(records, "response", step_id=step):
                return log
        time.sleep(0.05)
    raise AssertionError(f"no response to {step} within {timeout}s")


def test_a_simulated_clock_is_only_taken_from_the_sandbox_that_serves_the_admin_api(
        scenario: Scenario, run: Run, cli_env: dict[str, str]):
    # Waits would pass at once against a real admin API: a clock of another sandbox (or anything
    # else) next to it is refused before anything is sent, and --time-scale means nothing on it.
    sb = scenario("mcp-down")
    other = "http://127.0.0.1:9/_sandbox/clock"
    result = run(["incident", "mcp-failure", "--yes"], env={**cli_env, "HYBRIDOPS_SIMULATED_CLOCK": other})
    assert result.code == 1
    assert one_line_error(result) == (
        "error: HYBRIDOPS_SIMULATED_CLOCK must be the /_sandbox/clock of the sandbox serving the admin URL on "
        f"this machine, not {other}")
    result = run(["incident", "mcp-failure", "--yes", "--time-scale", "60"])
    assert result.code == 2
    assert one_line_error(result) == (
        "error: --time-scale has no meaning on a sandbox's simulated clock (HYBRIDOPS_SIMULATED_CLOCK is set): "
        "its waits pass at once")
    assert result.logs() == [] and sb.requests() == []
