"""The step loop with a fake clock and in-process fakes: branching, retries, budgets, gating."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hybridops.engine.clock import FakeClock
from hybridops.engine.context import RunOptions
from hybridops.engine.incident import run_incident
from hybridops.engine.retry import CallFailure
from hybridops.engine.steps.notify import NotifyTargets
from hybridops.errors import NeedsAnswer, OperatorAborted, StepFailed
from hybridops.events import BudgetWarning
from hybridops.runbook.load import LoadedRunbook, parse_runbook

HEADER = """\
id: {id}
title: Test
severity: P1
response_time: 15m
impact: none
owner: me
version: "1"
"""


def runbook_text(steps_yaml: str, variables: str = "", *, id: str = "t") -> str:
    """A runbook of one phase holding `steps_yaml` (the unit tests' one header)."""
    return HEADER.format(id=id) + variables + "phases:\n  - id: p\n    title: P\n    steps:\n" + steps_yaml


def runbook(steps_yaml: str, variables: str = "") -> LoadedRunbook:
    rb, source = parse_runbook(runbook_text(steps_yaml, variables), "t.yaml")
    return LoadedRunbook(rb, Path("t.yaml"), "0" * 64, source)


class FakeHttp:
    """Answers scripted (status, body) per path; records what was sent."""

    base_url = "http://127.0.0.1:1"

    def __init__(self, script: dict[str, list[Any]] | None = None) -> None:
        self.script = script or {}
        self.sent: list[tuple[str, str, Any]] = []

    def url(self, path: str) -> str:
        return self.base_url + path

    def admin(self, method: str, path: str, body: Any = None, *, timeout=None):
        self.sent.append((method, path, body))
        answers = self.script.get(path, [(200, {"ok": True})])
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def send(self, method, url, body=None, **kw):
        self.sent.append((method, url, body))
        return 200, {}

    def close(self) -> None:
        pass


class FakeAws:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def call(self, service, operation, params, *, region=None, timeout=None):
        self.calls.append((service, operation, params))
        return {"Arn": "arn:aws:sts::123:assumed-role/oncall/me"} if operation == "GetCallerIdentity" else {}


class MemoryLog:
    run_id = "run-1"

    def __init__(self) -> None:
        self.records: list[tuple[str, dict]] = []

    def append(self, event: str, **fields: Any) -> dict:
        self.records.append((event, fields))
        return fields

    def write(self, record: dict) -> dict:
        fields = dict(record)
        return self.append(fields.pop("event"), **fields)

    def events(self, name: str) -> list[dict]:
        return [f for e, f in self.records if e == name]


def defaults(loaded: LoadedRunbook) -> dict[str, Any]:
    """The runbook's defaults, as the configuration would resolve them with nothing else set."""
    return {v.name: v.default for v in loaded.runbook.variables if v.default is not None}


def run(loaded, *, http=None, aws=None, clock=None, secrets=(), **opts):
    log = MemoryLog()
    http = http or FakeHttp()
    aws = aws or FakeAws()
    clock = clock or FakeClock()
    try:
        result = run_incident(
            loaded, options=RunOptions(**opts), variables=defaults(loaded), secrets=set(secrets),
            open_audit=lambda: log,
            make_aws=lambda: aws, make_http=lambda: http, notify_targets=NotifyTargets(None, None),
            aws_region="eu-central-1", clock=clock,
        )
    except Exception as exc:  # the test inspects both
        return exc, log, http, clock
    return result, log, http, clock


def statuses(log: MemoryLog) -> dict[str, str]:
    return {f["step_id"]: f["status"] for f in log.events("step_finished")}


def test_confirm_no_branch_skips_to_target():
    loaded = runbook("""
      - id: ask
        title: Did it work?
        budget: 1m
        confirm: {question: "Did it work?", default: false, if_no: fallback}
      - id: good
        title: Good path
        budget: 1m
        check: {condition: "true"}
      - id: fallback
        title: Fallback
        budget: 1m
        manual: {checklist: [Enable emergency mode]}
""")
    result, log, _, _ = run(loaded)
    assert result.status == "completed"
    assert [f["step_id"] for f in log.events("step_finished")] == ["ask", "fallback"]
    assert log.events("prompt")[0]["answer"] == "no" and log.events("prompt")[0]["source"] == "default"


def test_check_true_goes_to_if_true_and_end_stops():
    loaded = runbook("""
      - id: c
        title: C
        budget: 1m
        check: {condition: "limit > 5", if_true: last}
      - id: skipped
        title: S
        budget: 1m
        check: {condition: "true"}
      - id: last
        title: L
        budget: 1m
        next: end
        check: {condition: "true"}
      - id: never
        title: N
        budget: 1m
        check: {condition: "true"}
""", variables="variables:\n  - {name: limit, default: 9}\n")
    result, log, _, _ = run(loaded)
    assert [r.step_id for r in result.steps] == ["c", "last"]


def test_on_failure_abort_stops_the_run_and_records_failure():
    loaded = runbook("""
      - id: bad
        title: Bad
        budget: 1m
        http: {method: GET, path: /health}
      - id: after
        title: After
        budget: 1m
        check: {condition: "true"}
""")
    http = FakeHttp({"/health": [(404, {"error": "nope"})]})
    exc, log, _, _ = run(loaded, http=http)
    assert isinstance(exc, StepFailed) and "bad" in str(exc) and "HTTP 404" in str(exc)
    assert log.events("run_finished")[0]["status"] == "failed"
    assert statuses(log) == {"bad": "failed"}


def test_on_failure_continue_and_goto():
    loaded = runbook("""
      - id: probe
        title: Probe
        budget: 1m
        on_failure: continue
        http: {method: GET, path: /health/metrics}
      - id: mitigate
        title: M
        budget: 1m
        on_failure: {goto: rollback}
        http: {method: POST, path: /admin/circuit-breaker/reset}
      - id: skipped
        title: S
        budget: 1m
        check: {condition: "true"}
      - id: rollback
        title: R
        budget: 1m
        check: {condition: "steps['probe'].status == 'failed'", capture: probe_failed}
""")
    http = FakeHttp({"/health/metrics": [(500, {})], "/admin/circuit-breaker/reset": [(400, {"error": "bad body"})]})
    result, log, _, _ = run(loaded, http=http, yes=True)
    assert statuses(log) == {"probe": "failed", "mitigate": "failed", "rollback": "ok"}
    assert log.events("step_finished")[-1]["captures"] == {"probe_failed": True}


def test_retries_with_exponential_backoff_then_success():
    loaded = runbook("""
      - id: get
        title: Get
        budget: 1m
        retries: {attempts: 3, backoff: 2s, max_backoff: 60s}
        http: {method: GET, path: /health, capture: {s: status}}
""")
    http = FakeHttp({"/health": [(503, {}), (503, {}), (200, {"status": "healthy"})]})
    result, log, _, clock = run(loaded, http=http)
    assert result.status == "completed"
    assert [r["attempt"] for r in log.events("request")] == [1, 2, 3]
    assert len(clock.sleeps) == 2
    assert 1.0 <= clock.sleeps[0] <= 2.0 and 2.0 <= clock.sleeps[1] <= 4.0  # doubling, half jitter
    assert log.events("step_finished")[0]["captures"] == {"s": "healthy"}


def test_client_errors_are_not_retried():
    loaded = runbook("""
      - id: get
        title: Get
        budget: 1m
        on_failure: continue
        retries: {attempts: 3}
        http: {method: GET, path: /health/metrics}
""")
    http = FakeHttp({"/health/metrics": [(403, {})]})
    _, log, _, _ = run(loaded, http=http)
    assert len(log.events("request")) == 1


def test_mutation_with_unknown_outcome_is_not_resent_without_confirmation():
    steps = """
      - id: force
        title: Force MCP
        budget: 1m
        retries: {attempts: 2, backoff: 1s}
        http: {method: POST, path: /admin/routing/force-mcp, body: {reason: x, duration: 1}}
"""
    timeout = CallFailure("timed out", retryable=True, unknown_outcome=True)
    # --yes confirms sending it once, not twice: with nobody at a terminal it is not sent again.
    http = FakeHttp({"/admin/routing/force-mcp": [timeout, (200, {"ok": True})]})
    exc, log, _, _ = run(runbook(steps), http=http, yes=True)
    assert isinstance(exc, StepFailed) and "not sent again without a confirmation" in str(exc)
    resend = [p for p in log.events("prompt") if "outcome" in p["question"]]
    assert [(p["answer"], p["source"]) for p in resend] == [("no", "non-interactive")]
    assert len(http.sent) == 1
    # A runbook that declares the request idempotent has it sent again.
    http = FakeHttp({"/admin/routing/force-mcp": [timeout, (200, {"ok": True})]})
    result, log, _, _ = run(runbook(steps.replace("retries:", "idempotent: true\n        retries:")), http=http,
                            yes=True)
    assert result.status == "completed"
    resend = [p for p in log.events("prompt") if "outcome" in p["question"]]
    assert [(p["answer"], p["source"]) for p in resend] == [("yes", "idempotent")]
    assert len(http.sent) == 2


def test_mutation_needs_yes_when_nobody_can_confirm():
    loaded = runbook("""
      - id: reset
        title: Reset
        budget: 1m
        http: {method: POST, path: /admin/circuit-breaker/reset}
""")
    http = FakeHttp()
    exc, log, _, _ = run(loaded, http=http)
    assert isinstance(exc, NeedsAnswer) and "--yes" in str(exc)
    assert http.sent == []
    assert log.events("run_finished")[0]["status"] == "failed"


def test_dry_run_sends_nothing_and_shows_every_request():
    loaded = runbook("""
      - id: lookup
        title: Lookup
        budget: 1m
        when: not tg
        aws: {service: ecs, operation: DescribeServices, params: {cluster: c, services: [s]},
              capture: {tg: "services[0].loadBalancers[0].targetGroupArn"}}
      - id: health
        title: Target health
        budget: 1m
        aws: {service: elbv2, operation: DescribeTargetHealth, params: {TargetGroupArn: "{{ tg }}"}}
      - id: force
        title: Force
        budget: 1m
        http: {method: POST, path: /admin/routing/force-mcp, body: {reason: x, duration: 3600}}
""", variables="variables:\n  - {name: tg, default: ''}\n")
    http, aws = FakeHttp(), FakeAws()
    result, log, _, _ = run(loaded, http=http, aws=aws, dry_run=True)
    assert result.status == "completed"
    assert http.sent == [] and aws.calls == []  # not even STS
    reqs = log.events("request")
    assert [r.get("operation") or r.get("path") for r in reqs] == [
        "DescribeServices", "DescribeTargetHealth", "/admin/routing/force-mcp"]
    assert reqs[1]["params"] == {"TargetGroupArn": "<tg>"}
    assert all(r["dry_run"] for r in reqs)


def test_read_only_skips_mutations_and_runs_reads():
    loaded = runbook("""
      - id: read
        title: Read
        budget: 1m
        http: {method: GET, path: /health}
      - id: write
        title: Write
        budget: 1m
        http: {method: POST, path: /admin/circuit-breaker/reset}
""")
    http = FakeHttp()
    result, log, _, _ = run(loaded, http=http, read_only=True)
    assert [s[1] for s in http.sent] == ["/health"]
    assert statuses(log) == {"read": "ok", "write": "skipped"}


def test_wait_is_scaled_and_budget_flagged():
    loaded = runbook("""
      - id: monitor
        title: Monitor for 10 minutes
        budget: 5m
        wait: {duration: 10m}
""")
    result, log, _, clock = run(loaded, time_scale=60)
    assert sum(clock.sleeps) == pytest.approx(10.0)
    finished = log.events("step_finished")[0]
    assert finished["over_budget"] is True and finished["budget_s"] == pytest.approx(5.0)
    assert result.steps[0].over_budget


def test_poll_until_and_while():
    loaded = runbook("""
      - id: wait-healthy
        title: Wait healthy
        budget: 10m
        poll:
          http: {method: GET, path: /health/component/mcp-router, capture: {st: status}}
          every: 30s
          timeout: 10m
          until: st == 'healthy'
      - id: watch
        title: Watch
        budget: 10m
        on_failure: {goto: rollback}
        poll:
          http: {method: GET, path: /health, expect: [200, 503], capture: {h: status}}
          every: 30s
          timeout: 10m
          while: h != 'critical'
      - id: fine
        title: Fine
        budget: 1m
        next: end
        check: {condition: "true"}
      - id: rollback
        title: Roll back
        budget: 1m
        check: {condition: "true"}
""")
    http = FakeHttp({
        "/health/component/mcp-router": [(200, {"status": "critical"}), (200, {"status": "critical"}),
                                         (200, {"status": "healthy"})],
        "/health": [(200, {"status": "healthy"}), (503, {"status": "critical"})],
    })
    result, log, _, clock = run(loaded, http=http)
    assert statuses(log) == {"wait-healthy": "ok", "watch": "failed", "rollback": "ok"}
    assert clock.sleeps[:2] == [30.0, 30.0]


def test_poll_until_times_out():
    loaded = runbook("""
      - id: wait-healthy
        title: Wait healthy
        budget: 10m
        on_failure: continue
        poll:
          http: {method: GET, path: /health, capture: {st: status}}
          every: 1m
          timeout: 5m
          until: st == 'healthy'
""")
    http = FakeHttp({"/health": [(200, {"status": "critical"})]})
    result, log, _, clock = run(loaded, http=http)
    assert statuses(log) == {"wait-healthy": "failed"}
    assert len(http.sent) == 6  # t=0,1,2,3,4,5 minutes
    assert "not met within 5m:" in log.events("step_finished")[0]["error"]


def test_choice_without_default_needs_an_answer():
    loaded = runbook("""
      - id: path
        title: Which path?
        budget: 1m
        choice:
          question: "Wait or investigate?"
          options: [{value: wait}, {value: investigate}]
""")
    exc, _, _, _ = run(loaded)
    assert isinstance(exc, NeedsAnswer) and "--answer path=<wait|investigate>" in str(exc)
    result, log, _, _ = run(loaded, answers={"path": "investigate"})
    assert log.events("prompt")[0] == {"v": 1, "step_id": "path", "question": "Wait or investigate?",
                                       "answer": "investigate", "source": "--answer"}


def test_secrets_never_reach_events():
    loaded = runbook("""
      - id: say
        title: Say
        budget: 1m
        http: {method: POST, path: /admin/routing/force-mcp, body: {reason: "{{ token }}", duration: 60}}
""", variables="variables:\n  - {name: token, default: s3cr3t-value, secret: true}\n")
    result, log, http, _ = run(loaded, secrets={"s3cr3t-value"}, yes=True)
    assert http.sent[0][2] == {"reason": "s3cr3t-value", "duration": 60}  # the real request carries it
    assert "s3cr3t-value" not in repr(log.records)


def test_time_to_mitigation_counts_the_first_mutation():
    loaded = runbook("""
      - id: look
        title: Look
        budget: 1m
        wait: {duration: 30s}
      - id: fix
        title: Fix
        budget: 1m
        http: {method: POST, path: /admin/circuit-breaker/reset}
""")
    result, log, _, _ = run(loaded, yes=True)
    assert result.time_to_mitigation_s == pytest.approx(30.0)
    assert log.events("run_finished")[0]["time_to_mitigation_s"] == pytest.approx(30.0)


def test_preflight_identity_becomes_operator():
    loaded = runbook("""
      - id: d
        title: D
        budget: 1m
        aws: {service: ecs, operation: ListClusters}
""")
    aws = FakeAws()
    result, log, _, _ = run(loaded, aws=aws)
    assert aws.calls[0][1] == "GetCallerIdentity"
    started = log.events("run_started")[0]
    assert started["aws_caller_arn"] == started["operator"] == "arn:aws:sts::123:assumed-role/oncall/me"


def test_unknown_capture_fails_the_step_with_a_clear_message():
    loaded = runbook("""
      - id: use
        title: Use
        budget: 1m
        on_failure: continue
        http: {method: GET, path: "/health/component/{{ missing_capture }}"}
""")
    result, log, http, _ = run(loaded)
    assert http.sent == []
    assert "'missing_capture' is undefined" in log.events("step_finished")[0]["error"]


def test_read_only_sends_no_notification():
    loaded = runbook("""
      - id: page
        title: Page
        budget: 1m
        notify: {via: slack, text: "Emergency mode enabled"}
""")
    log = MemoryLog()
    http = FakeHttp()
    run_incident(loaded, options=RunOptions(read_only=True), variables={}, secrets=set(), open_audit=lambda: log,
                 make_aws=FakeAws, make_http=lambda: http,
                 notify_targets=NotifyTargets("https://hooks.slack.example/T/B/x", None),
                 aws_region="eu-central-1", clock=FakeClock())
    assert http.sent == []
    assert statuses(log) == {"page": "skipped"}


class ScriptedPrompter:
    """Answers over-budget questions from a script; anything else is a test bug."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def over_budget(self, title, budget_s, elapsed_s, *, extend_s):
        self.asked.append(title)
        return self.answers.pop(0)

    def confirm(self, question, *, default):
        raise AssertionError(question)

    def choose(self, question, options, *, default):
        raise AssertionError(question)

    def checklist(self, instructions, items):
        raise AssertionError(items)


WATCH = """
      - id: watch
        title: Watch the router
        budget: 1m
        poll:
          http: {method: GET, path: /health, capture: {st: status}}
          every: 30s
          timeout: 10m
          until: st == 'healthy'
      - id: after
        title: After
        budget: 1m
        check: {condition: "true"}
"""


def run_with_prompter(prompter):
    log = MemoryLog()
    http = FakeHttp({"/health": [(200, {"status": "critical"})]})
    try:
        run_incident(runbook(WATCH), options=RunOptions(interactive=True), variables={}, secrets=set(),
                     open_audit=lambda: log, make_aws=FakeAws, make_http=lambda: http,
                     notify_targets=NotifyTargets(None, None), aws_region="eu-central-1", clock=FakeClock(),
                     prompter=prompter)
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        return exc, log
    return None, log


def test_over_budget_skip_moves_on():
    prompter = ScriptedPrompter("skip")
    exc, log = run_with_prompter(prompter)
    assert exc is None and prompter.asked == ["Watch the router"]
    assert statuses(log) == {"watch": "skipped", "after": "ok"}
    assert log.events("step_finished")[0]["over_budget"] is True


def test_over_budget_extend_gives_another_budget_then_abort_stops():
    prompter = ScriptedPrompter("extend", "abort")
    exc, log = run_with_prompter(prompter)
    assert isinstance(exc, OperatorAborted)
    assert prompter.asked == ["Watch the router", "Watch the router"]
    finished = log.events("step_finished")[0]
    assert finished["status"] == "aborted" and finished["duration_s"] > 120  # went past 2 budgets
    assert log.events("run_finished")[0]["status"] == "aborted"  # the operator stopped it


def test_aws_errors_become_one_line_with_what_to_do():
    from botocore.exceptions import ClientError

    from hybridops.engine.steps.aws import _client_error

    def err(code, status=400):
        return _client_error("aws ecs UpdateService", ClientError(
            {"Error": {"Code": code, "Message": "msg"}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "UpdateService"))

    throttled = err("ThrottlingException")
    assert throttled.retryable and "throttled" in str(throttled)
    denied = err("AccessDeniedException", 403)
    assert not denied.retryable and "lacks permission for ecs UpdateService" in str(denied)
    expired = err("ExpiredTokenException", 403)
    assert "refresh them" in str(expired) and not expired.retryable
    missing = err("ClusterNotFoundException")
    assert "check the names and the region" in str(missing)
    assert err("InternalFailure", 500).retryable
    assert all("\n" not in str(e) for e in (throttled, denied, expired, missing))


# --- simulated time -------------------------------------------------------------------------------------------


class SteppedReal:
    """A 'real' monotonic clock that moves only when told (the processing a test pretends to take)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_on_a_simulated_clock_a_wait_is_one_jump_per_budget_mark_and_real_time_counts_once():
    from hybridops.engine.clock import SimClock

    real = SteppedReal()
    clock = SimClock(start_wall=1_764_000_000.0, real=real)
    loaded = runbook("""
      - id: monitor
        title: Monitor for 10 minutes
        budget: 11m
        wait: {duration: 10m}
""")
    jumps: list[float] = []
    sleep = clock.sleep

    def counted(seconds: float) -> bool:
        jumps.append(seconds)
        real.t += 0.25  # each look at the clock costs a quarter of a real second of processing
        return sleep(seconds)

    clock.sleep = counted  # type: ignore[method-assign]
    result, log, _, _ = run(loaded, clock=clock, yes=True)
    assert result.status == "completed", result
    # 80 % of the budget (528 s), then the rest of the wait: two jumps, not 600 one-second ticks
    assert len(jumps) == 2 and abs(sum(jumps) - 600) < 1, jumps
    [finished] = log.events("step_finished")
    assert 600 <= finished["duration_s"] <= 600 + 1  # the waited time plus the processing, once
    assert clock.monotonic() == pytest.approx(clock.jumped + (real.t - 100.0))


def test_a_budget_first_looked_at_past_its_end_warns_over_budget_not_80_percent():
    from hybridops.engine.incident import run_incident
    from hybridops.engine.steps.notify import NotifyTargets

    clock = FakeClock()
    loaded = runbook("""
      - id: slow-poll
        title: Poll
        budget: 6s
        on_failure: continue
        poll:
          http: {method: GET, path: /health, capture: {s: status}}
          every: 5s
          timeout: 30s
          until: s == 'healthy'
""")
    http = FakeHttp({"/health": [(200, {"status": "critical"})]})

    def admin(method, path, body=None, *, timeout=None):
        clock.advance(10)  # every answer takes 10 s: the first look at the budget is past its end
        return FakeHttp.admin(http, method, path, body)

    http.admin = admin  # type: ignore[method-assign]
    warnings: list[BudgetWarning] = []  # display-only: a UI sink sees it, the log does not
    log = MemoryLog()
    run_incident(loaded, options=RunOptions(yes=True), variables={}, secrets=set(), open_audit=lambda: log,
                 make_aws=FakeAws, make_http=lambda: http, notify_targets=NotifyTargets(None, None),
                 aws_region="eu-central-1", clock=clock,
                 ui=[lambda e, run_id: warnings.append(e) if isinstance(e, BudgetWarning) else None])
    assert warnings == [BudgetWarning(step_id="slow-poll", elapsed_s=10.0, budget_s=6.0, over=True)]
    assert log.events("budget_warning") == []


def test_on_a_simulated_clock_an_answer_slower_than_the_call_timeout_is_a_timeout():
    from hybridops.engine.clock import SimClock

    clock = SimClock(real=SteppedReal())
    loaded = runbook("""
      - id: reset
        title: Reset circuit breakers
        budget: 2m
        timeout: 10s
        on_failure: continue
        http: {method: POST, path: /admin/circuit-breaker/reset}
""")
    http = FakeHttp()

    def admin(method, path, body=None, *, timeout=None):
        clock.advance(25)  # the server took 25 simulated seconds to answer
        return FakeHttp.admin(http, method, path, body)

    http.admin = admin  # type: ignore[method-assign]
    result, log, _, _ = run(loaded, http=http, clock=clock, yes=True)
    [response] = log.events("response")
    assert response["ok"] is False and response["unknown_outcome"] is True
    assert response["error"] == ("POST /admin/circuit-breaker/reset: timed out after 10s (no answer within the "
                                 "call's timeout); the request may have been applied")
    assert statuses(log) == {"reset": "failed"} and len(http.sent) == 1  # a mutation: never re-sent unasked


def test_a_capture_over_an_answer_of_another_shape_fails_the_step_instead_of_crashing():
    loaded = runbook("""
      - id: read
        title: Read component health
        budget: 1m
        on_failure: continue
        http:
          method: GET
          path: /health
          expect: [200, 503]
          capture: {unhealthy: "length(values(components)[?status != 'healthy'])"}
""")
    http = FakeHttp({"/health": [(503, {"error": "service unavailable"})]})
    result, log, _, _ = run(loaded, http=http, yes=True)
    assert result.status == "completed_with_failures"  # on_failure: continue
    [finished] = log.events("step_finished")
    assert finished["status"] == "failed"
    assert finished["error"].startswith("capture unhealthy (length(values(components)[?status != 'healthy'])): "
                                        "In function values(), invalid type for value: None")


def test_a_poll_check_that_is_throttled_is_retried_before_it_counts():
    loaded = runbook("""
      - id: tail
        title: Follow the logs
        budget: 5m
        poll:
          http: {method: GET, path: /health, capture: {s: status}}
          every: 30s
          timeout: 1m
          while: "true"
""")
    throttled = CallFailure("GET /health: HTTP 429", retryable=True, status=429)
    http = FakeHttp({"/health": [(200, {"status": "ok"}), throttled, (200, {"status": "ok"})]})
    result, log, _, _ = run(loaded, http=http, yes=True)
    assert statuses(log) == {"tail": "ok"}, log.events("step_finished")
    assert [r["attempt"] for r in log.events("request")] == [1, 1, 2, 1]


TIMES_OUT = """
      - id: watch
        title: Watch the router
        budget: 1h
        on_failure: {goto: escalate}
        poll:
          http: {method: GET, path: /health, capture: {st: status}}
          every: 30s
          timeout: 2m
          until: st == 'healthy'
      - id: after
        title: After
        budget: 1m
        check: {condition: "true"}
        next: end
      - id: escalate
        title: Escalate
        budget: 1m
        check: {condition: "true"}
"""


class TimeoutPrompter(ScriptedPrompter):
    def timed_out(self, title, detail, *, wait_s):
        self.asked.append((title, detail, wait_s))
        return self.answers.pop(0)


def run_timing_out(*answers, interactive=True, healthy_after=None):
    prompter = TimeoutPrompter(*answers)
    replies = [(200, {"status": "critical"})] * (healthy_after or 1000) + [(200, {"status": "healthy"})]
    log, http = MemoryLog(), FakeHttp({"/health": replies})
    try:
        run_incident(runbook(TIMES_OUT), options=RunOptions(interactive=interactive), variables={}, secrets=set(),
                     open_audit=lambda: log, make_aws=FakeAws, make_http=lambda: http,
                     notify_targets=NotifyTargets(None, None), aws_region="eu-central-1", clock=FakeClock(),
                     prompter=prompter)
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        return exc, log, prompter
    return None, log, prompter


def checks(log):
    return len(log.events("request"))


def test_a_timed_out_poll_asks_and_waiting_longer_keeps_polling_until_it_holds():
    exc, log, prompter = run_timing_out(("wait", 60.0), healthy_after=6)
    assert exc is None
    assert prompter.asked == [("Watch the router", "not met within 2m: st == 'healthy' (latest: {'status': "
                                                   "'critical'})", 120.0)]
    assert statuses(log) == {"watch": "ok", "after": "ok"} and checks(log) == 7  # 5 in 2m, then 2 more
    [prompt] = log.events("prompt")
    assert (prompt["question"], prompt["answer"], prompt["source"]) == (
        "Watch the router timed out: wait longer, skip, fail or abort?", "wait 1m00s", "operator")


def test_a_timed_out_poll_can_be_skipped_failed_or_aborted():
    exc, log, _ = run_timing_out(("skip", 0.0))
    assert exc is None and statuses(log) == {"watch": "skipped", "after": "ok"}
    assert log.events("step_finished")[0]["reason"].startswith("skipped by the operator (timed out: not met")
    exc, log, _ = run_timing_out(("fail", 0.0))  # the failure path: on_failure's goto
    assert exc is None and statuses(log) == {"watch": "failed", "escalate": "ok"}
    exc, log, _ = run_timing_out(("wait", 30.0), ("abort", 0.0))
    assert isinstance(exc, OperatorAborted) and log.events("run_finished")[0]["status"] == "aborted"
    assert [p["answer"] for p in log.events("prompt")] == ["wait 30s", "abort"]


def test_without_a_terminal_a_timed_out_poll_fails_as_before():
    exc, log, prompter = run_timing_out(interactive=False)
    assert exc is None and prompter.asked == [] and statuses(log) == {"watch": "failed", "escalate": "ok"}
    assert checks(log) == 5 and log.events("prompt") == []


def test_a_go_to_loop_ends_with_a_failure_but_a_long_runbook_runs_to_its_end():
    looping, log, _, _ = run(runbook("""
      - id: again
        title: Again
        budget: 1m
        check: {condition: "true"}
        next: again
"""))
    assert isinstance(looping, StepFailed)
    finished = log.events("run_finished")[-1]
    assert finished["status"] == "failed" and "its go-tos loop" in finished["error"]
    assert len(log.events("step_finished")) == 1 + 500  # one pass, then 500 steps run again

    steps = "".join(f"""
      - id: c{i}
        title: C{i}
        budget: 1m
        check: {{condition: "true"}}
""" for i in range(700))
    result, log, _, _ = run(runbook(steps))
    assert result.status == "completed" and len(log.events("step_finished")) == 700
