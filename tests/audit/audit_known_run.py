"""A known run of `bedrock-failure`, built with AuditLog and a scripted clock.

`tests/audit/data/known-run.jsonl` is this module's output, committed: the timeline tests read the
file, and `test_known_run_file_is_reproducible` pins the writer's byte format against it.
Regenerate with `python tests/audit/audit_known_run.py` after a deliberate format change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hybridops.audit.log import AuditLog

RUN_ID = "20261125T174102.123Z-bedrock-failure-3f9a"
T0 = datetime(2026, 11, 25, 17, 41, 2, 123000, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "known-run.jsonl"
ADMIN = "https://admin.example.test"

# (seconds after T0, event, fields)
EVENTS: list[tuple[float, str, dict[str, Any]]] = [
    (0.0, "run_started", {
        "runbook": {"id": "bedrock-failure", "title": "Bedrock failure", "severity": "P1",
                    "path": "runbooks/bedrock-failure.yaml", "sha256": "5d41402abc4b2a76b9719d911017c592" * 2},
        "tool_version": "0.1.0", "operator": "alice",
        "aws_caller_arn": "arn:aws:sts::123456789012:assumed-role/oncall/alice", "host": "oncall-7",
        "argv": ["incident", "bedrock-failure", "--answer", "reenable-bedrock=10"],
        "variables": {"region": "eu-central-1", "admin_token": "***"},
        "dry_run": False, "read_only": False, "drill": False, "scenario": None, "time_scale": 1.0,
        "answers": {"reenable-bedrock": "10"},
    }),
    (0.9, "step_started", {"step_id": "verify-bedrock", "phase": "diagnose", "title": "Verify Bedrock errors",
                           "kind": "aws", "budget_s": 120.0, "mutating": False}),
    (1.0, "request", {"step_id": "verify-bedrock", "target": "aws", "service": "cloudwatch",
                      "operation": "GetMetricStatistics", "region": "eu-central-1",
                      "params": {"Namespace": "HybridRouting/Bedrock", "MetricName": "ErrorRate", "Period": 60},
                      "mutating": False, "attempt": 1}),
    (1.4, "response", {"step_id": "verify-bedrock", "ok": True, "status": 200,
                       "summary": "5 datapoints, max ErrorRate 0.42", "duration_s": 0.4, "error": None}),
    (45.9, "step_finished", {"step_id": "verify-bedrock", "status": "ok", "duration_s": 45.0, "budget_s": 120.0,
                             "over_budget": False, "mitigation": False}),
    (46.0, "step_started", {"step_id": "force-mcp", "phase": "mitigate", "title": "Force MCP routing",
                            "kind": "http", "budget_s": 60.0, "mutating": True}),
    (87.9, "prompt", {"step_id": "force-mcp", "question": "Force all traffic to MCP for 1h?", "answer": "yes",
                      "source": "operator"}),
    (88.0, "request", {"step_id": "force-mcp", "target": "http", "method": "POST",
                       "url": f"{ADMIN}/admin/routing/force-mcp", "body": {"duration": 3600},
                       "mutating": True, "attempt": 1}),
    (88.3, "response", {"step_id": "force-mcp", "ok": True, "status": 200,
                        "summary": "routing forced to mcp for 3600s", "duration_s": 0.3, "error": None}),
    (88.4, "step_finished", {"step_id": "force-mcp", "status": "ok", "duration_s": 42.4, "budget_s": 60.0,
                             "over_budget": False, "mitigation": True}),
    (89.0, "step_started", {"step_id": "restart-service", "phase": "recover", "title": "Restart routing service",
                            "kind": "aws", "budget_s": 300.0, "mutating": True}),
    (89.1, "request", {"step_id": "restart-service", "target": "aws", "service": "ecs",
                       "operation": "UpdateService", "region": "eu-central-1",
                       "params": {"cluster": "hybrid-routing-cluster", "service": "hybrid-routing-service",
                                  "forceNewDeployment": True},
                       "mutating": True, "attempt": 1}),
    (89.3, "response", {"step_id": "restart-service", "ok": False, "status": "ThrottlingException",
                        "summary": None, "duration_s": 0.2, "error": "Rate exceeded"}),
    (91.3, "request", {"step_id": "restart-service", "target": "aws", "service": "ecs",
                       "operation": "UpdateService", "region": "eu-central-1",
                       "params": {"cluster": "hybrid-routing-cluster", "service": "hybrid-routing-service",
                                  "forceNewDeployment": True},
                       "mutating": True, "attempt": 2}),
    (91.7, "response", {"step_id": "restart-service", "ok": True, "status": 200,
                        "summary": "deployment ecs-svc/4711 PRIMARY", "duration_s": 0.4, "error": None}),
    (479.0, "step_finished", {"step_id": "restart-service", "status": "ok", "duration_s": 390.0,
                              "budget_s": 300.0, "over_budget": True, "mitigation": False}),
    (479.1, "step_started", {"step_id": "reenable-bedrock", "phase": "recover",
                             "title": "Re-enable Bedrock gradually", "kind": "choice", "budget_s": 600.0,
                             "mutating": True}),
    (479.2, "prompt", {"step_id": "reenable-bedrock", "question": "Re-enable Bedrock at which share?",
                       "answer": "10", "source": "--answer"}),
    (479.3, "request", {"step_id": "reenable-bedrock", "target": "http", "method": "POST",
                        "url": f"{ADMIN}/admin/routing/bedrock-share", "body": {"percent": 10},
                        "mutating": True, "attempt": 1}),
    (479.6, "response", {"step_id": "reenable-bedrock", "ok": True, "status": 200, "summary": "bedrock share 10%",
                         "duration_s": 0.3, "error": None}),
    (607.9, "step_finished", {"step_id": "reenable-bedrock", "status": "ok", "duration_s": 128.8,
                              "budget_s": 600.0, "over_budget": False, "mitigation": False}),
    (608.0, "run_finished", {"status": "completed", "duration_s": 608.0, "time_to_mitigation_s": 88.4,
                             "error": None}),
]


class ScriptedClock:
    """A clock the builder sets before each append."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def build(directory: Path, events: list[tuple[float, str, dict[str, Any]]] = EVENTS) -> Path:
    """Write the known run into `directory` and return its path."""
    clock = ScriptedClock(T0)
    log = AuditLog.create(directory, RUN_ID, clock=clock)
    with log:
        for offset, event, fields in events:
            clock.now = T0 + timedelta(seconds=offset)
            log.append(event, **fields)
    return log.path


if __name__ == "__main__":  # regenerate the committed fixture
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(build(Path(tmp)), DATA)
    print(DATA)
