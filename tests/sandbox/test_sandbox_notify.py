"""The Slack and PagerDuty stand-ins over real HTTP: they refuse what the real services refuse, answer
as they do, and the engine's notifier reads their answers correctly."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hybridops.engine.retry import CallFailure
from hybridops.engine.steps import notify as notifier
from hybridops.engine.steps.http import HttpRunner

PD_INVALID = {"status": "invalid event", "message": "Event object is invalid"}


@pytest.fixture
def targets(scenario) -> dict[str, str]:
    return scenario("healthy").notify_env


@pytest.fixture(scope="module")
def client() -> Any:
    with httpx.Client(timeout=10) as c:
        yield c


def _notify_calls(sandbox) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if r["api"] == "notify"]


def _trigger(key: str, **payload: Any) -> dict[str, Any]:
    base = {"summary": "Bedrock is down", "source": "hybridops bedrock-failure", "severity": "critical"}
    return {"routing_key": key, "event_action": "trigger", "dedup_key": "run-1",
            "payload": {k: v for k, v in {**base, **payload}.items() if v is not ...}}


# ---- PagerDuty Events API v2 ------------------------------------------------------------------------
def test_pagerduty_accepts_a_valid_event_with_202(targets, client, sandbox) -> None:
    key = targets["HYBRIDOPS_PAGERDUTY_ROUTING_KEY"]
    assert len(key) == 32  # what PagerDuty requires of a routing key
    assert targets["HYBRIDOPS_PAGERDUTY_URL"].endswith("/v2/enqueue")
    for event in (_trigger(key), {"routing_key": key, "event_action": "acknowledge", "dedup_key": "run-1"},
                  {"routing_key": key, "event_action": "resolve", "dedup_key": "run-1"}):
        r = client.post(targets["HYBRIDOPS_PAGERDUTY_URL"], json=event)
        assert r.status_code == 202, r.text
        assert r.json() == {"status": "success", "message": "Event processed", "dedup_key": "run-1"}
    without_key = {k: v for k, v in _trigger(key).items() if k != "dedup_key"}
    made_up = client.post(targets["HYBRIDOPS_PAGERDUTY_URL"], json=without_key).json()["dedup_key"]
    assert isinstance(made_up, str) and made_up  # PagerDuty makes one up for a trigger without one
    assert [c["status"] for c in _notify_calls(sandbox)] == [202, 202, 202, 202]


def _bad_events(key: str) -> list[tuple[str, dict[str, Any], str]]:
    return [
        ("no routing_key", {k: v for k, v in _trigger(key).items() if k != "routing_key"}, "'routing_key'"),
        ("blank routing_key", {**_trigger(key), "routing_key": " "}, "'routing_key'"),
        ("routing_key of 31", {**_trigger(key), "routing_key": key[:-1]}, "should be 32 characters"),
        ("routing_key of 33", {**_trigger(key), "routing_key": key + "0"}, "should be 32 characters"),
        ("no summary", _trigger(key, summary=...), "'payload.summary'"),
        ("empty summary", _trigger(key, summary=""), "'payload.summary'"),
        ("no source", _trigger(key, source=...), "'payload.source'"),
        ("no severity", _trigger(key, severity=...), "'payload.severity'"),
        ("severity high", _trigger(key, severity="high"), "'payload.severity' is invalid"),
        ("severity Critical", _trigger(key, severity="Critical"), "'payload.severity' is invalid"),
        ("no payload", {k: v for k, v in _trigger(key).items() if k != "payload"}, "'payload'"),
        ("resolve without dedup_key", {"routing_key": key, "event_action": "resolve"}, "'dedup_key'"),
        ("acknowledge with blank dedup_key", {"routing_key": key, "event_action": "acknowledge", "dedup_key": ""},
         "'dedup_key'"),
        ("no event_action", {k: v for k, v in _trigger(key).items() if k != "event_action"}, "'event_action'"),
        ("event_action escalate", {**_trigger(key), "event_action": "escalate"}, "'event_action' is invalid"),
        ("dedup_key over 255", {**_trigger(key), "dedup_key": "k" * 256}, "'dedup_key' is too long"),
    ]


@pytest.mark.parametrize("case", range(16))
def test_pagerduty_refuses_what_the_real_one_refuses(targets, client, sandbox, case) -> None:
    what, event, names = _bad_events(targets["HYBRIDOPS_PAGERDUTY_ROUTING_KEY"])[case]
    r = client.post(targets["HYBRIDOPS_PAGERDUTY_URL"], json=event)
    assert r.status_code == 400, what
    assert r.headers["content-type"].startswith("application/json")
    answer = r.json()
    assert {k: answer[k] for k in PD_INVALID} == PD_INVALID, what
    assert any(names in e for e in answer["errors"]), (what, answer["errors"])
    assert [c["status"] for c in _notify_calls(sandbox)] == [400]


def test_pagerduty_lists_every_problem_and_refuses_non_json(targets, client) -> None:
    r = client.post(targets["HYBRIDOPS_PAGERDUTY_URL"],
                    json={"routing_key": "short", "event_action": "trigger", "payload": {"severity": "x"}})
    assert r.status_code == 400 and len(r.json()["errors"]) == 4  # key, summary, source, severity
    for body in (b"{not json", b'{"routing_key": NaN}', b"[1, 2]"):
        r = client.post(targets["HYBRIDOPS_PAGERDUTY_URL"], content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["status"] == "invalid event", body


def test_pagerduty_serves_only_its_enqueue_path(targets, client) -> None:
    base = targets["HYBRIDOPS_PAGERDUTY_URL"].removesuffix("/v2/enqueue")
    event = _trigger(targets["HYBRIDOPS_PAGERDUTY_ROUTING_KEY"])
    assert client.post(base + "/v1/enqueue", json=event).status_code == 404
    r = client.get(targets["HYBRIDOPS_PAGERDUTY_URL"])
    assert r.status_code == 405 and "POST" in r.headers["Allow"]


# ---- Slack incoming webhooks --------------------------------------------------------------------------
def test_slack_answers_ok_as_plain_text(targets, client, sandbox) -> None:
    url = targets["HYBRIDOPS_SLACK_WEBHOOK_URL"]
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    for message in ({"text": "Bedrock is down"}, {"blocks": [section]},
                    {"attachments": [{"fallback": "x", "text": "x"}]},
                    {"text": "to a channel the webhook does not post to", "channel": "#elsewhere"}):
        r = client.post(url, json=message)
        assert (r.status_code, r.text) == (200, "ok"), message
        assert r.headers["content-type"].startswith("text/plain")  # not JSON: `ok` is not a JSON document
    form = client.post(url, data={"payload": '{"text": "form-encoded, as Slack also takes it"}'})
    assert (form.status_code, form.text) == (200, "ok")
    # the channel is recorded as sent; an app's webhook ignores it and posts where it was installed
    assert _notify_calls(sandbox)[3]["body"]["channel"] == "#elsewhere"


@pytest.mark.parametrize(("body", "ctype", "answer"), [
    (b"{}", "application/json", "no_text"),
    (b'{"text": ""}', "application/json", "no_text"),
    (b'{"channel": "#ops"}', "application/json", "no_text"),
    (b'{"text": null, "blocks": [], "attachments": []}', "application/json", "no_text"),
    (b"{not json", "application/json", "invalid_payload"),
    (b'{"text": NaN}', "application/json", "invalid_payload"),
    (b'"just a string"', "application/json", "invalid_payload"),
    (b"", "application/json", "invalid_payload"),
    (b"payload=%7Bbroken", "application/x-www-form-urlencoded", "invalid_payload"),
    (b"text=hello", "application/x-www-form-urlencoded", "invalid_payload"),
])
def test_slack_refuses_what_the_real_one_refuses(targets, client, sandbox, body, ctype, answer) -> None:
    r = client.post(targets["HYBRIDOPS_SLACK_WEBHOOK_URL"], content=body, headers={"Content-Type": ctype})
    assert (r.status_code, r.text) == (400, answer)
    assert r.headers["content-type"].startswith("text/plain")
    assert [c["status"] for c in _notify_calls(sandbox)] == [400]


def test_slack_webhook_that_does_not_exist_is_404_no_service(targets, client) -> None:
    url = targets["HYBRIDOPS_SLACK_WEBHOOK_URL"]
    for wrong in (url[:-1] + ("0" if url[-1] != "0" else "1"), url.rsplit("/", 1)[0], url + "/extra"):
        r = client.post(wrong, json={"text": "x"})
        assert (r.status_code, r.text) == (404, "no_service"), wrong


# ---- the engine's notifier against the stand-ins ------------------------------------------------------
@pytest.mark.parametrize(("via", "action", "status", "answer"), [
    ("slack", "trigger", 200, "ok"),
    ("pagerduty", "trigger", 202, {"status": "success", "message": "Event processed", "dedup_key": "run-7"}),
    ("pagerduty", "resolve", 202, {"status": "success", "message": "Event processed", "dedup_key": "run-7"}),
])
def test_the_engine_notifier_reads_the_real_answers(targets, sandbox, via, action, status, answer) -> None:
    notify_targets = notifier.NotifyTargets(targets["HYBRIDOPS_SLACK_WEBHOOK_URL"],
                                            targets["HYBRIDOPS_PAGERDUTY_ROUTING_KEY"],
                                            targets["HYBRIDOPS_PAGERDUTY_URL"])
    url, body, _ = notifier.build(via, text="Bedrock is down", action=action, severity="critical",
                                  channel="#incidents", dedup_key="run-7", source="hybridops bedrock-failure",
                                  targets=notify_targets)
    runner = HttpRunner(base_url=sandbox.admin_url, token=None)
    try:
        assert notifier.send(runner, via, url, body, timeout=10) == (status, answer)
    finally:
        runner.close()
    assert [c["status"] for c in _notify_calls(sandbox)] == [status]


@pytest.mark.parametrize("via", ["slack", "pagerduty"])
def test_the_engine_notifier_fails_on_a_message_the_service_refuses(targets, sandbox, via) -> None:
    notify_targets = notifier.NotifyTargets(targets["HYBRIDOPS_SLACK_WEBHOOK_URL"],
                                            targets["HYBRIDOPS_PAGERDUTY_ROUTING_KEY"],
                                            targets["HYBRIDOPS_PAGERDUTY_URL"])
    url, body, _ = notifier.build(via, text="", action="trigger", severity="critical", channel=None,
                                  dedup_key="run-7", source="hybridops x", targets=notify_targets)
    runner = HttpRunner(base_url=sandbox.admin_url, token=None)
    try:
        with pytest.raises(CallFailure, match="HTTP 400") as failure:
            notifier.send(runner, via, url, body, timeout=10)
    finally:
        runner.close()
    assert not failure.value.retryable  # the same message would be refused again


# ---- a run's notify steps, end to end -----------------------------------------------------------------
NOTIFY_RUNBOOK = """\
id: notify-check
title: Notifications only
severity: P3
response_time: 1h
impact: none
owner: test
version: "1"
phases:
  - id: p
    title: P
    steps:
      - {id: page, title: Page, budget: 1m, notify: {via: pagerduty, text: "Bedrock is down", severity: error}}
      - {id: tell, title: Tell, budget: 1m, notify: {via: slack, text: "Paged", channel: "#incidents"}}
      - {id: empty, title: Empty, budget: 1m, on_failure: continue, notify: {via: slack, text: "{{ '' }}"}}
      - {id: resolve, title: Resolve, budget: 1m, notify: {via: pagerduty, text: "Resolved", action: resolve}}
"""


def test_a_runs_notify_steps_are_ok_only_when_the_stand_in_accepts_them(cli, tmp_path, monkeypatch) -> None:
    import json as json_module

    from hybridops.engine.clock import SimClock
    from hybridops.sandbox import Sandbox

    path = tmp_path / "notify-check.yaml"
    path.write_text(NOTIFY_RUNBOOK)
    with Sandbox("healthy", clock=SimClock()) as sb:
        for name, value in {**sb.env, **sb.notify_env}.items():
            monkeypatch.setenv(name, value)
        code, out, err = cli("incident", str(path), "--yes", "--output", "json")
        sent = [c for c in sb.requests() if c["api"] == "notify"]
    assert [(c["via"], c["status"]) for c in sent] == [("pagerduty", 202), ("slack", 200), ("slack", 400),
                                                       ("pagerduty", 202)], out[-2000:] + err
    finished = {r["step_id"]: r["status"] for r in map(json_module.loads, out.splitlines())
                if r.get("event") == "step_finished"}
    assert finished == {"page": "ok", "tell": "ok", "empty": "failed", "resolve": "ok"}, out[-3000:]
    assert sent[0]["body"]["dedup_key"] == sent[3]["body"]["dedup_key"]  # one incident, opened and resolved
    assert code != 0
