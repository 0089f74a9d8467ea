"""The post-incident timeline, checked against the known run's exact key lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from audit_known_run import DATA, RUN_ID, ScriptedClock, build

from hybridops.audit.log import AuditLog, read_log
from hybridops.audit.timeline import (
    build_timeline,
    describe_request,
    list_runs,
    load_timeline,
    render_markdown,
    timeline_json,
)
from hybridops.events import Call, Request, from_record
from hybridops.kinds.base import describe_call


def test_known_run_file_is_reproducible(tmp_path: Path) -> None:
    # Pins the writer's exact bytes: a format change shows up here first.
    assert build(tmp_path).read_bytes() == DATA.read_bytes()


def test_markdown_key_lines() -> None:
    md = render_markdown(load_timeline(DATA))
    lines = md.splitlines()
    assert lines[0] == "# Incident timeline: Bedrock failure"
    expected = [
        "- **Incident:** bedrock-failure (P1)",
        f"- **Run:** `{RUN_ID}`",
        "- **Runbook:** `runbooks/bedrock-failure.yaml` (sha256 `5d41402abc4b`)",
        "- **Mode:** live",
        "- **Operator:** alice (arn:aws:sts::123456789012:assumed-role/oncall/alice)",
        "- **Host:** oncall-7",
        "- **Started:** 2026-11-25 17:41:02 UTC",
        "- **Finished:** 2026-11-25 17:51:10 UTC (completed)",
        "- **Time to mitigation:** 1m28s (`force-mcp`)",
        "- **Time to resolution:** 10m08s",
        "- **Over budget:** `restart-service` (+1m30s)",
        "- **Audit log:** chain consistent, 22 records, not authenticated",
        "## Timeline (UTC)",
        "| Time | Step | What happened |",
        "| 17:41:02 |  | Run started: operator alice (arn:aws:sts::123456789012:assumed-role/oncall/alice) "
        "on oncall-7, live |",
        "| 17:41:03 | verify-bedrock | Action: `aws cloudwatch GetMetricStatistics Namespace=HybridRouting/Bedrock "
        "MetricName=ErrorRate Period=60` |",
        "| 17:42:30 | force-mcp | Decision: Force all traffic to MCP for 1h? -> yes (alice) |",
        '| 17:42:30 | force-mcp | Change: `POST /admin/routing/force-mcp {"duration":3600}` |',
        "| 17:42:30 | force-mcp | Result: ok 200 in 0.3s: routing forced to mcp for 3600s |",
        "| 17:42:31 | restart-service | Change: `aws ecs UpdateService cluster=hybrid-routing-cluster "
        "service=hybrid-routing-service forceNewDeployment=true` |",
        "| 17:42:31 | restart-service | **Result: FAILED ThrottlingException in 0.2s: Rate exceeded** |",
        "| 17:42:33 | restart-service | Change (attempt 2): `aws ecs UpdateService cluster=hybrid-routing-cluster "
        "service=hybrid-routing-service forceNewDeployment=true` |",
        "| 17:49:01 | restart-service | **Step finished: Restart routing service: ok in 6m30s (budget 5m00s), "
        "OVER BUDGET by 1m30s** |",
        "| 17:49:01 | reenable-bedrock | Decision: Re-enable Bedrock at which share? -> 10 (--answer) |",
        "| 17:51:10 |  | Run finished: completed after 10m08s |",
        "## Decisions",
        "| 17:42:30 | force-mcp | Force all traffic to MCP for 1h? | yes | alice |",
        "| 17:49:01 | reenable-bedrock | Re-enable Bedrock at which share? | 10 | --answer |",
        "## Steps against budget",
        "| Step | Status | Duration | Budget | Over budget |",
        "| verify-bedrock | ok | 45s | 2m00s |  |",
        "| force-mcp (mitigation) | ok | 42s | 1m00s |  |",
        "| restart-service | ok | 6m30s | 5m00s | **+1m30s** |",
        "| reenable-bedrock | ok | 2m09s | 10m00s |  |",
    ]
    missing = [line for line in expected if line not in lines]
    assert not missing, "\n".join(missing)
    assert sum(1 for line in lines if line.startswith("| 17:")) == 22 + 2  # every record, and 2 decisions


def test_json_timeline_is_the_same_data() -> None:
    data = timeline_json(load_timeline(DATA))
    assert {k: data[k] for k in ("version", "run_id", "incident", "status", "started", "finished")} == {
        "version": 1,
        "run_id": RUN_ID,
        "incident": "bedrock-failure",
        "status": "completed",
        "started": "2026-11-25T17:41:02.123Z",
        "finished": "2026-11-25T17:51:10.123Z",
    }
    assert (data["time_to_mitigation_s"], data["mitigation_step"], data["time_to_resolution_s"]) == (
        88.4,
        "force-mcp",
        608.0,
    )
    assert data["over_budget"] == ["restart-service"]
    assert data["integrity"] == {"ok": True, "records": 22, "first_bad_seq": None, "reason": "intact"}
    assert len(data["entries"]) == 22
    change = data["entries"][11]
    assert (change["seq"], change["kind"], change["label"]) == (11, "action", "Change")
    assert change["data"]["params"]["forceNewDeployment"] is True
    assert data["decisions"][0] == {
        "ts": "2026-11-25T17:42:30.023Z",
        "step_id": "force-mcp",
        "question": "Force all traffic to MCP for 1h?",
        "answer": "yes",
        "source": "operator",
        "by": "alice",
    }
    assert data["steps"][2]["over_by_s"] == 90.0


def test_describe_request_forms() -> None:
    assert (
        describe_call(Call(target="aws", service="ecs", operation="UpdateService", params={
            "cluster": "c", "forceNewDeployment": True, "tags": ["a", "b"], "note": "two words"}))
        == 'aws ecs UpdateService cluster=c forceNewDeployment=true tags=["a","b"] note="two words"'
    )  # fmt: skip
    assert (
        describe_call(Call(target="http", method="POST", url="https://x.test/admin/routing/force-mcp?a=1",
                           body={"duration": 3600}))
        == 'POST /admin/routing/force-mcp?a=1 {"duration":3600}'
    )  # fmt: skip
    assert describe_call(Call(target="http", method="GET", url="/health")) == "GET /health"
    assert describe_call(Call(target="slack", url="***", body={"text": "P1 open"})) == "slack: P1 open"
    assert (
        describe_call(Call(target="pagerduty", body={"event_action": "trigger", "payload": {"summary": "down"}}))
        == "pagerduty trigger: down"
    )
    assert describe_call(Call(target="http")) == "GET"
    # a record of another writer, read back: the request's fields beside the others
    read = from_record({"event": "request", "step_id": "s", "target": "http", "method": "DELETE", "url": "/x"})
    assert isinstance(read, Request) and describe_request(read) == "DELETE /x"


def minimal_log(directory: Path) -> Path:
    """Records with nothing but the required keys, and events this reader does not know."""
    clock = ScriptedClock(datetime(2026, 11, 27, 23, 59, 0, tzinfo=UTC))
    log = AuditLog.create(directory, "r-minimal", clock=clock)
    for event in ("run_started", "step_started", "request", "response", "prompt", "step_finished", "mystery"):
        log.append(event)
    log.close()
    return log.path


def test_missing_optional_fields_are_tolerated(audit_dir: Path) -> None:
    tl = load_timeline(minimal_log(audit_dir))
    md = render_markdown(tl)
    assert tl.status == "incomplete" and tl.incident is None
    assert "- **Finished:** not finished (incomplete)" in md
    assert "- **Time to mitigation:** not mitigated" in md
    assert "- **Time to resolution:** not resolved (incomplete)" in md
    assert "| 23:59:00 |  | mystery |" in md
    assert timeline_json(tl)["entries"][-1]["label"] == "mystery"
    assert list_runs(audit_dir)[0].status == "incomplete"


def test_interrupted_then_resumed_run(audit_dir: Path) -> None:
    clock = ScriptedClock(datetime(2026, 11, 27, 23, 59, 0, tzinfo=UTC))
    log = AuditLog.create(audit_dir, "r-resumed", clock=clock)
    log.append("run_started", runbook={"id": "router"}, operator="alice")
    log.append("step_started", step_id="drain", title="Drain | queue", budget_s=60, mutating=True)
    log.append("request", step_id="drain", target="http", method="POST", url="/admin/q", mutating=True)
    log.append("run_finished", status="interrupted", error="SIGTERM")
    log.close()
    log, records, _ = AuditLog.open_for_append(log.path, clock=clock)
    clock.now = datetime(2026, 11, 28, 0, 10, 0, tzinfo=UTC)
    log.append("run_resumed", from_seq=len(records), operator="bob")
    log.append("prompt", step_id="drain", question="Repeat the POST?", answer=True, source="operator")
    log.append("step_finished", step_id="drain", status="ok", duration_s=30, budget_s=60)
    log.append("step_started", step_id="verify")
    log.append("run_finished", status="completed")
    log.close()

    tl = build_timeline(read_log(log.path))
    assert tl.status == "completed" and tl.resumes == 1
    assert tl.operators == ("alice", "bob")
    assert tl.decisions[0].by == "bob" and tl.decisions[0].answer == "true"
    assert [(s.step_id, s.status) for s in tl.steps] == [("drain", "ok"), ("verify", "unfinished")]
    md = render_markdown(tl)
    assert "- **Operators:** alice, bob" in md
    assert "- **Resumed:** 1 time" in md
    assert "| 2026-11-27 23:59:00 |  | **Run finished: interrupted after 0.0s: SIGTERM** |" in md  # spans 2 days
    assert "| 2026-11-28 00:10:00 |  | Run resumed: from seq 4 by bob |" in md
    assert "Step started: Drain \\| queue (budget 1m00s)" in md  # pipes escaped in tables


def test_an_interrupted_mutating_step_is_no_mitigation(tmp_path: Path) -> None:
    # A step that never finished mitigated nothing, mutating or not (the row used to get `mutating`
    # in its `mitigation` slot and read "(mitigation)").
    clock = ScriptedClock(datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC))
    log = AuditLog.create(tmp_path, "20261127T100000.000Z-outage-beef", clock=clock)
    log.append("run_started", runbook={"id": "outage", "title": "Outage"}, operator="alice")
    log.append("step_started", step_id="restart", title="Restart", budget_s=300, mutating=True)
    log.append("request", step_id="restart", target="aws", service="ecs", operation="UpdateService",
               region="eu-central-1", params={}, mutating=True, attempt=1)
    log.append("run_finished", status="interrupted", error="SIGTERM")
    log.close()
    tl = build_timeline(read_log(log.path))
    [row] = tl.steps
    assert (row.step_id, row.status, row.mitigation) == ("restart", "unfinished", False)
    md = render_markdown(tl)
    assert "| restart | unfinished |" in md and "(mitigation)" not in md
    assert tl.time_to_mitigation_s is None and "- **Time to mitigation:** not mitigated" in md


def test_a_take_over_of_the_incident_is_in_the_timeline(tmp_path: Path) -> None:
    from hybridops.audit.timeline import load_timeline, render_markdown
    from hybridops.events import LockTakenOver

    log = AuditLog.create(tmp_path, "20261126T090000.000Z-bedrock-failure-00bb")
    log.append("run_started", runbook={"id": "bedrock-failure"}, operator="bob")
    log.write_event(LockTakenOver(holder_run_id="20261126T085000.000Z-bedrock-failure-00aa", holder_operator="alice",
                                  holder_pid=4242, holder_host="oncall-7", holder_since="2026-11-26T08:50:00.000Z",
                                  confirmed="--take-over"))
    log.append("run_finished", status="completed")
    log.close()
    md = render_markdown(load_timeline(log.path))
    assert ("Incident lock taken: from run 20261126T085000.000Z-bedrock-failure-00aa of alice (pid 4242 on "
            "oncall-7), since 2026-11-26T08:50:00.000Z: taken over while it ran, confirmed by --take-over") in md
