"""`hybridops export ssm` (issue 13 §3): the document's structure for every shipped runbook and for a
runbook using each mapping, the JMESPath -> selector translation, the gaps and --strict, bad input.

The independent validators (AWS's language service, moto's CreateDocument) are in
tests/e2e/test_export_ssm_validators.py; these tests hold what those do not check: names, targets, references,
budgets and secrets."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridops.export.selector import NotExpressible, output_type, to_selector
from hybridops.export.ssm import END_STEP, RUNTIME, export_ssm, ssm_name
from hybridops.runbook.catalog import find_runbook
from hybridops.runbook.expr import walk_strings
from hybridops.runbook.load import load_runbook
from hybridops.runbook.model import Runbook

SHIPPED = ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency")
REFERENCE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
RunCli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py
TOKEN = "sk-live-export-test-9f8e7d6c5b4a39281706"  # a secret-looking token: it must appear nowhere

HEADER = """\
id: {id}
title: Export demo
severity: P1
response_time: 15m
impact: Something is down
owner: Tests
version: 1.2.3
variables:
  - {{name: threshold, description: Running tasks needed, default: 2}}
  - {{name: enabled, description: Restart at all, default: true}}
  - {{name: ratio, description: A fraction, default: 0.7}}
  - {{name: cluster, description: ECS cluster, default: mcp-cluster}}
  - {{name: service, description: ECS service, default: mcp-router-service}}
phases:
  - id: only
    title: Only
    steps:
"""

# Every kind, each in a form the document can express: the export of this runbook has no gaps.
EXPRESSIBLE = """\
      - id: describe
        title: Describe the service
        budget: 2m
        retries: {attempts: 2}
        on_failure: continue
        aws:
          service: ecs
          operation: DescribeServices
          params: {cluster: "{{ cluster }}", services: ["{{ service }}"]}
          capture:
            running: services[0].runningCount
            status: services[0].status
            names: "services[*].serviceName"
            deployments: services[0].deployments
            first_deployment: services[0].deployments[0]
            odd_key: 'services[0]."deployments"[0].id'
      - id: wait-active
        title: Wait for the service to be active
        budget: 5m
        poll:
          aws:
            service: ecs
            operation: DescribeServices
            params: {cluster: "{{ cluster }}", services: ["{{ service }}"]}
            capture: {status_now: "services[0].status"}
          every: 15s
          timeout: 4m
          until: status_now in ['ACTIVE', 'DRAINING']
      - id: gate
        title: Enough tasks?
        budget: 1m
        check:
          condition: running >= 2 and status == 'ACTIVE'
          if_true: pick
          if_false: ask
      - id: ask
        title: Go on?
        budget: 1m30s
        confirm: {question: "Restart {{ service }} anyway?", if_no: end}
      - id: pick
        title: What now?
        budget: 1m
        choice:
          question: Restart or pause?
          options:
            - {value: restart, label: Restart it, goto: restart}
            - {value: pause, label: Pause, goto: pause}
          default: restart
          capture: path
      - id: restart
        title: Restart the service
        budget: 5m
        when: enabled and path == 'restart'
        on_failure: {goto: pause}
        aws:
          service: ecs
          operation: UpdateService
          params: {cluster: "{{ cluster }}", service: "{{ service }}", forceNewDeployment: true}
      - id: health
        title: Read health
        budget: 2m
        http: {method: GET, path: /health, expect: [200, 503], capture: {health: status}, capture_status: code}
      - id: watch
        title: Watch health
        budget: 10m
        poll:
          http: {method: GET, path: /health, expect: [200, 503], capture: {health_now: status}}
          every: 30s
          timeout: 9m
          until: health_now == 'healthy' or health_now == health
      - id: tell
        title: Tell Slack
        budget: 1m
        notify: {via: slack, text: "Restarted {{ service }} (run {{ run_id }})", channel: "#ops"}
      - id: page
        title: Page
        budget: 1m
        notify: {via: pagerduty, action: trigger, severity: error, text: "{{ service }} restarted"}
      - id: errors
        title: Errors by type
        budget: 3m
        log_errors: {log_group: /aws/ecs/mcp-router, since: 10m, capture: errors}
      - id: checklist
        title: Checklist
        budget: 5m
        manual: {instructions: "Check {{ cluster }}", checklist: [One, Two]}
      - id: pause
        title: Pause
        budget: 11m
        wait: {duration: 10m}
        next: end
"""

# What the document cannot express, one of each.
GAPS = """\
      - id: lookup
        title: Look up
        budget: 2m
        aws:
          service: ecs
          operation: DescribeServices
          region: eu-west-1
          params: {cluster: "{{ cluster }}", services: ["{{ service }}"]}
          capture:
            count: length(services)
            recent: "services[0].events[:5].message"
      - id: since
        title: Metric
        budget: 2m
        aws:
          service: cloudwatch
          operation: GetMetricStatistics
          params: {Namespace: N, MetricName: M, StartTime: "{{ ago_iso('5m') }}", EndTime: "2026-01-01T00:00:00Z",
                   Period: 60, Statistics: [Average]}
      - id: verdict
        title: Verdict
        budget: 1m
        check:
          condition: steps['lookup'].status == 'ok'
          capture: looked_up
      - id: reset
        title: Reset
        budget: 2m
        when: looked_up
        outcome: unresolved
        http: {method: POST, path: /admin/circuit-breaker/reset}
        undo: {http: {method: POST, path: /admin/circuit-breaker/enable}}
"""


def write_runbook(tmp_path: Path, steps: str, rid: str = "export-demo") -> Path:
    path = tmp_path / f"{rid}.yaml"
    path.write_text(HEADER.format(id=rid) + steps, encoding="utf-8")
    return path


def exported(path_or_id: str | Path) -> tuple[Runbook, dict[str, Any], list[str]]:
    runbook = load_runbook(find_runbook(str(path_or_id))).runbook
    result = export_ssm(runbook, admin_url="https://admin.example", pagerduty_url="https://pd.example/v2/enqueue")
    return runbook, result.document, [str(g) for g in result.gaps]


def assert_well_formed(runbook: Runbook, doc: dict[str, Any]) -> None:
    """What moto does not check: unique names, targets that exist, references that resolve, budgets."""
    assert doc["schemaVersion"] == "0.3"
    assert doc["assumeRole"] == "{{ AutomationAssumeRole }}"
    assert doc["parameters"]["AutomationAssumeRole"]["type"] == "String"
    steps = doc["mainSteps"]
    names = [s["name"] for s in steps]
    assert len(names) == len(set(names)), names
    assert all(re.fullmatch(r"\w+", n) for n in names), names
    outputs = {s["name"]: {o["Name"]: o for o in s.get("outputs", [])} for s in steps}

    def exists(target: str) -> None:
        assert target in names, f"{target!r} is no step of {names}"

    for step in steps:
        if "nextStep" in step:
            exists(step["nextStep"])
        failure = step.get("onFailure", "Abort")
        assert failure in ("Abort", "Continue") or failure.startswith("step:"), failure
        if failure.startswith("step:"):
            exists(failure[len("step:"):])
        if step["action"] == "aws:branch":
            assert step["inputs"]["Choices"], step
            for choice in step["inputs"]["Choices"]:
                exists(choice["NextStep"])
            exists(step["inputs"]["Default"])
        if step["action"] == "aws:executeScript":
            assert step["inputs"]["Runtime"] == RUNTIME
            assert "{{" not in step["inputs"]["Script"]  # SSM would substitute inside the code
            compile(step["inputs"]["Script"], step["name"], "exec")
        for output in step.get("outputs", []):
            assert output["Type"] in ("String", "Integer", "Boolean", "StringList", "StringMap", "MapList")
            assert output["Selector"].startswith("$")
        for text in walk_strings({k: v for k, v in step.items() if k != "inputs"} | {
                "inputs": {k: v for k, v in step.get("inputs", {}).items() if k != "Script"}}):
            for ref in REFERENCE.findall(text):
                if ref in doc["parameters"] or ref == "automation:EXECUTION_ID":
                    continue
                source, _, name = ref.partition(".")
                assert name in outputs.get(source, {}), f"{step['name']}: {{{{ {ref} }}}} resolves to nothing"
                assert names.index(source) < names.index(step["name"]), f"{ref} is read before it is written"
    by_name = {s["name"]: s for s in steps}
    for _, step in runbook.steps():
        made = by_name[ssm_name(step.id)]
        if made["action"] != "aws:branch":
            assert made["timeoutSeconds"] == math.ceil(step.budget), step.id
        if step.retries is not None:
            assert made["maxAttempts"] == step.retries.attempts + 1


@pytest.mark.parametrize("rid", SHIPPED)
def test_every_shipped_runbook_exports_a_well_formed_document(rid: str) -> None:
    runbook, doc, gaps = exported(rid)
    assert_well_formed(runbook, doc)
    assert {v.name for v in runbook.variables} <= set(doc["parameters"])
    assert gaps  # each shipped runbook has something SSM cannot say (ago_iso, steps[...], JMESPath functions)
    assert all(g.split(":", 1)[0] in runbook.step_ids() for g in gaps), gaps


def test_each_kind_maps_to_its_action(tmp_path: Path) -> None:
    runbook, doc, gaps = exported(write_runbook(tmp_path, EXPRESSIBLE))
    assert gaps == []
    assert_well_formed(runbook, doc)
    steps = {s["name"]: s for s in doc["mainSteps"]}
    params = doc["parameters"]
    assert params["threshold"] == {"type": "Integer", "description": "Running tasks needed", "default": 2}
    assert params["enabled"]["type"] == "Boolean" and params["enabled"]["default"] is True
    assert params["ratio"] == {"type": "String", "description": "A fraction", "default": "0.7"}
    assert params["Approvers"]["type"] == "StringList" and "default" not in params["Approvers"]

    describe = steps["describe"]
    assert (describe["action"], describe["inputs"]["Service"], describe["inputs"]["Api"]) == \
           ("aws:executeAwsApi", "ecs", "DescribeServices")
    assert describe["inputs"]["cluster"] == "{{ cluster }}" and describe["inputs"]["services"] == ["{{ service }}"]
    assert (describe["maxAttempts"], describe["onFailure"], describe["isCritical"]) == (3, "Continue", False)
    assert {o["Name"]: (o["Selector"], o["Type"]) for o in describe["outputs"]} == {
        "running": ("$.services[0].runningCount", "Integer"),
        "status": ("$.services[0].status", "String"),
        "names": ("$.services[*].serviceName", "StringList"),
        "deployments": ("$.services[0].deployments", "MapList"),
        "first_deployment": ("$.services[0].deployments[0]", "StringMap"),
        "odd_key": ("$.services[0].deployments[0].id", "String"),
    }

    wait = steps["wait_active"]
    assert wait["action"] == "aws:waitForAwsResourceProperty"
    assert (wait["inputs"]["PropertySelector"], wait["inputs"]["DesiredValues"]) == \
           ("$.services[0].status", ["ACTIVE", "DRAINING"])
    assert wait["timeoutSeconds"] == 300

    gate = steps["gate"]
    assert gate["action"] == "aws:branch"
    assert gate["inputs"] == {"Choices": [{"NextStep": "pick", "And": [
        {"Variable": "{{ describe.running }}", "NumericGreaterOrEquals": 2},
        {"Variable": "{{ describe.status }}", "StringEquals": "ACTIVE"}]}], "Default": "ask"}

    ask = steps["ask"]
    assert ask["action"] == "aws:approve"
    assert ask["inputs"]["Approvers"] == "{{ Approvers }}" and ask["inputs"]["MinRequiredApprovals"] == 1
    assert ask["inputs"]["Message"].startswith("Restart {{ service }} anyway?")
    assert (ask["onFailure"], ask["isCritical"]) == (f"step:{END_STEP}", False)  # no: the end
    assert steps[END_STEP]["isEnd"] is True

    assert params["path"] == {"type": "String", "allowedValues": ["restart", "pause"], "default": "restart",
                              "description": "Restart or pause? (restart: Restart it; pause: Pause)"}
    assert steps["pick"]["inputs"] == {"Choices": [
        {"NextStep": "restart_when", "Variable": "{{ path }}", "StringEquals": "restart"},
        {"NextStep": "pause", "Variable": "{{ path }}", "StringEquals": "pause"}], "Default": "restart_when"}
    assert steps["restart_when"]["inputs"] == {"Choices": [{"NextStep": "restart", "And": [
        {"Variable": "{{ enabled }}", "BooleanEquals": True},
        {"Variable": "{{ path }}", "StringEquals": "restart"}]}], "Default": "health"}
    assert steps["restart"]["onFailure"] == "step:pause"

    health = steps["health"]
    assert health["action"] == "aws:executeScript"
    payload = health["inputs"]["InputPayload"]
    assert payload["AdminUrl"] == "{{ AdminUrl }}" and payload["TokenParameter"] == "{{ AdminTokenParameter }}"
    assert params["AdminTokenParameter"]["default"] == "/hybridops/admin-token"
    assert {o["Name"]: o["Type"] for o in health["outputs"]} == {"health": "String", "code": "Integer"}
    watch = steps["watch"]["inputs"]
    assert watch["InputPayload"]["Values"] == {"health": "{{ health.health }}"}
    assert (watch["InputPayload"]["Mode"], watch["InputPayload"]["Every"], watch["InputPayload"]["Timeout"]) == \
           ("until", 30, 540)
    assert "def condition(v):" in watch["Script"]

    tell = steps["tell"]["inputs"]["InputPayload"]
    assert tell["Text"] == "Restarted {{ service }} (run {{ automation:EXECUTION_ID }})"
    assert tell["SlackWebhookParameter"] == "{{ SlackWebhookParameter }}"
    page = steps["page"]["inputs"]["InputPayload"]
    assert (page["DedupKey"], page["Severity"], page["PagerDutyUrl"]) == \
           ("{{ automation:EXECUTION_ID }}", "error", "{{ PagerDutyUrl }}")
    assert steps["errors"]["outputs"] == [{"Name": "errors", "Selector": "$.Payload.errors", "Type": "StringMap"}]
    message = steps["checklist"]["inputs"]["Message"]
    assert "Check {{ cluster }}" in message and "- [ ] One\n- [ ] Two" in message
    pause = steps["pause"]
    assert (pause["action"], pause["inputs"], pause["isEnd"], pause["timeoutSeconds"]) == \
           ("aws:sleep", {"Duration": "PT10M"}, True, 660)


def test_the_python_of_a_poll_condition_is_what_jinja_computes(tmp_path: Path) -> None:
    _, doc, _ = exported(write_runbook(tmp_path, EXPRESSIBLE))
    watch = next(s for s in doc["mainSteps"] if s["name"] == "watch")
    namespace: dict[str, Any] = {}
    exec(compile(watch["inputs"]["Script"], "watch", "exec"), namespace)  # noqa: S102 (our own export)
    condition = namespace["condition"]
    assert condition({"health_now": "healthy", "health": "critical"})
    assert condition({"health_now": "degraded", "health": "degraded"})
    assert not condition({"health_now": "critical", "health": "degraded"})


def test_what_cannot_be_expressed_is_listed_with_its_step(tmp_path: Path) -> None:
    runbook, doc, gaps = exported(write_runbook(tmp_path, GAPS, "export-gaps"))
    assert_well_formed(runbook, doc)
    expected = [
        "lookup: region 'eu-west-1': aws:executeAwsApi calls the execution's own Region",
        "lookup: capture count: 'length(services)': the function length() has no SSM selector form; not an output",
        "lookup: capture recent: 'services[0].events[:5].message': a slice [a:b] has no SSM selector form; not an "
        "output",
        "since: parameter StartTime: {{ ago_iso('5m') }} has no SSM form; left out",
        "verdict: capture looked_up: aws:branch has no output (the result is not kept)",
        "verdict: \"steps['lookup'].status == 'ok'\": getattr has no aws:branch form (its Variable is one parameter "
        "or step output): an approver decides instead",
        "reset: 'looked_up': no document parameter or step output holds 'looked_up': an approver decides instead",
        "reset: its undo is not exported (a run's changes are undone with `hybridops undo`)",
        "reset: outcome: unresolved has no SSM form: an execution that reaches it still ends Success",
    ]
    assert gaps == expected
    steps = {s["name"]: s for s in doc["mainSteps"]}
    assert "StartTime" not in steps["since"]["inputs"] and steps["since"]["inputs"]["EndTime"]
    verdict = steps["verdict"]  # a person answers what the document cannot compute
    assert verdict["action"] == "aws:approve" and "steps['lookup'].status == 'ok'" in verdict["inputs"]["Message"]
    assert verdict["onFailure"] == "step:reset_when"
    guard = steps["reset_when"]
    assert (guard["action"], guard["onFailure"], guard["isCritical"]) == ("aws:approve", f"step:{END_STEP}", False)


def test_strict_fails_on_what_cannot_be_expressed(cli: RunCli, tmp_path: Path) -> None:
    clean = write_runbook(tmp_path, EXPRESSIBLE)
    code, out, err = cli("export", "ssm", clean, "--strict")
    assert (code, err) == (0, "")
    assert yaml.safe_load(out)["schemaVersion"] == "0.3"

    gappy = write_runbook(tmp_path, GAPS, "export-gaps")
    code, out, err = cli("export", "ssm", gappy, "--strict", "--format", "json")
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 10  # one line per gap, then the verdict
    assert all(line.startswith(f"{gappy}: not exported: ") for line in lines[:-1]), lines
    assert lines[-1] == f"{gappy}: --strict: 9 thing(s) cannot be exported"
    assert json.loads(out)["schemaVersion"] == "0.3"  # the document is still written

    code, out, err = cli("export", "ssm", gappy)
    assert code == 0 and len(err.splitlines()) == 9


def test_bad_input_is_one_line_and_exit_1(cli: RunCli, tmp_path: Path) -> None:
    code, out, err = cli("export", "ssm", "no-such-runbook")
    assert (code, out) == (1, "")
    assert err.startswith("error: no runbook 'no-such-runbook' in ") and len(err.splitlines()) == 1

    broken = tmp_path / "broken.yaml"
    broken.write_text(HEADER.format(id="broken") + "      - id: x\n        title: X\n        budget: 1m\n"
                      "        wait: {duration: 1m}\n        next: nowhere\n", encoding="utf-8")
    code, out, err = cli("export", "ssm", broken)
    assert (code, out) == (1, "")
    assert re.fullmatch(rf"{re.escape(str(broken))}:\d+:\d+: step x: next: no step 'nowhere' to go to\n", err), err
    assert "Traceback" not in err

    code, _, err = cli("export", "ssm", "outage", "--format", "xml")
    assert code == 2 and "xml" in err


def test_no_secret_reaches_the_document(cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('default_profile = "prod"\n[profiles.prod]\nadmin_token = "env:PROD_TOKEN"\n'
                      'admin_url = "https://user:' + TOKEN + '@admin.internal"\n', encoding="utf-8")
    monkeypatch.setenv("HYBRIDOPS_CONFIG", str(config))
    monkeypatch.setenv("PROD_TOKEN", TOKEN)
    monkeypatch.setenv("HYBRIDOPS_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("HYBRIDOPS_SLACK_WEBHOOK_URL", f"https://hooks.slack.com/services/{TOKEN}")
    monkeypatch.setenv("HYBRIDOPS_PAGERDUTY_ROUTING_KEY", TOKEN)
    for rid in SHIPPED:
        for fmt in ("yaml", "json"):
            target = tmp_path / f"{rid}.{fmt}"
            code, out, err = cli("export", "ssm", rid, "--format", fmt, "-o", target)
            assert code == 0, err
            text = target.read_text("utf-8")
            assert TOKEN not in text and TOKEN not in out and TOKEN not in err
            assert "admin.internal" not in text  # the profile's URL is no default of a shared document
            doc = json.loads(text) if fmt == "json" else yaml.safe_load(text)
            assert doc["parameters"]["AdminTokenParameter"]["default"] == "/hybridops/admin-token"


# --- JMESPath -> selector ------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "selector", "many"), [
    ("status", "$.status", False),
    ("services[0].taskDefinition", "$.services[0].taskDefinition", False),
    ("a.b[0][1].c", "$.a.b[0][1].c", False),
    ('components."direct-bedrock".status', "$.components['direct-bedrock'].status", False),
    ("services[*].serviceName", "$.services[*].serviceName", True),
    ("services[].serviceName", "$.services[*].serviceName", True),
    ("services[*]", "$.services[*]", True),
    ("a[*].b[0]", "$.a[*].b[0]", True),
])
def test_translatable_queries(query: str, selector: str, many: bool) -> None:
    got = to_selector(query)
    assert (got.selector, got.many) == (selector, many)


@pytest.mark.parametrize(("query", "construct"), [
    ("length(events)", "the function length()"),
    ("to_number(Attributes.ApproximateNumberOfMessages)", "the function to_number()"),
    ("events[?statusCode == 'open']", "a filter [?...]"),
    ("events[-5:].message", "a slice [a:b]"),
    ("services[-1].status", "a negative index [-1]"),
    ("service.deployments[?status == 'PRIMARY'] | [0].id", "a pipe |"),
    ("events[].{type: eventTypeCode}", "a multi-select {...}"),
    ("[a, b]", "a multi-select [...]"),
    ("a || b", "||"),
    ("@", "@"),
    ("a[*].b[*].c", "nested projections"),
    ("*.status", "* over an object"),
])
def test_untranslatable_queries_name_what_has_no_selector(query: str, construct: str) -> None:
    with pytest.raises(NotExpressible) as exc:
        to_selector(query)
    assert construct in str(exc.value) and repr(query) in str(exc.value)


def test_output_types_come_from_botocore_shapes() -> None:
    from hybridops.runbook.botocore_check import operation_model

    op = operation_model("ecs", "DescribeServices")
    assert op is not None
    shape = op.output_shape
    cases = {"services[0].runningCount": "Integer", "services[0].serviceName": "String",
             "services[0].enableExecuteCommand": "Boolean", "services[0].createdAt": "String",
             "services[*].serviceName": "StringList", "services": "MapList", "services[0]": "StringMap",
             "services[0].deployments[*]": "MapList", "services[0].nosuchfield": "String"}
    assert {q: output_type(shape, to_selector(q).path) for q in cases} == cases


def test_a_document_over_createdocuments_size_limit_is_reported(cli: RunCli, tmp_path: Path) -> None:
    from hybridops.export.ssm import MAX_DOCUMENT_BYTES

    for rid in SHIPPED:  # each within the limit, in both formats
        for fmt in ("yaml", "json"):
            code, out, err = cli("export", "ssm", rid, "--format", fmt)
            assert code == 0 and len(out.encode()) <= MAX_DOCUMENT_BYTES, (rid, fmt, len(out.encode()))
            assert "MaxDocumentSizeExceeded" not in err
    # each script step carries its own code: forty polls of the admin API are too many for one document
    many = "".join(f"""\
      - id: watch-{i}
        title: Watch {i}
        budget: 2m
        poll:
          http: {{method: GET, path: /health, expect: [200, 503], capture: {{h{i}: status}}}}
          every: 10s
          timeout: 1m
          until: h{i} == 'healthy'
""" for i in range(40))
    big = write_runbook(tmp_path, many, "export-big")
    code, out, err = cli("export", "ssm", big)
    assert code == 0
    assert len(out.encode()) > MAX_DOCUMENT_BYTES
    assert err.splitlines() == [f"{big}: not exported: the document is {len(out.encode()):,} bytes: CreateDocument "
                                "refuses more than 65,536 (MaxDocumentSizeExceeded); split the runbook, or export "
                                "fewer steps"]
    assert cli("export", "ssm", big, "--strict")[0] == 1


def test_a_number_a_string_parameter_carries_is_sent_as_a_number() -> None:
    """`{{ fallback_aggressiveness | float }}`: SSM substitutes the String parameter as "0.7"; the script
    sends 0.7, as hybridops does (the admin API wants a number)."""
    _, doc, _ = exported("routing-efficiency")
    step = next(s for s in doc["mainSteps"] if s["name"] == "update_routing_thresholds")
    payload = step["inputs"]["InputPayload"]
    assert payload["Coerce"] == {"fallbackAggressiveness": "float"}  # the Integer parameters need nothing
    assert doc["parameters"]["fallback_aggressiveness"]["type"] == "String"
    assert doc["parameters"]["mcp_latency_threshold"]["type"] == "Integer"
    substituted = json.loads(json.dumps(payload).replace('"{{ fallback_aggressiveness }}"', '"0.7"')
                             .replace('"{{ mcp_latency_threshold }}"', "25000")
                             .replace('"{{ direct_bedrock_latency_threshold }}"', "8000"))
    namespace: dict[str, Any] = {}
    exec(compile(step["inputs"]["Script"], "script", "exec"), namespace)  # noqa: S102 (our own export)
    assert namespace["coerced"](substituted)["Body"] == {"directBedrockLatencyThreshold": 8000,
                                                         "mcpLatencyThreshold": 25000, "fallbackAggressiveness": 0.7}
    assert "admin_request(coerced(events))" in step["inputs"]["Script"]


COLLISIONS = """\
      - id: lookup
        title: Look up the cluster
        budget: 1m
        when: not cluster
        aws:
          service: ecs
          operation: DescribeServices
          params: {cluster: default, services: ["{{ service }}"]}
          capture: {cluster: "services[0].clusterArn"}
      - id: invoke
        title: Invoke
        budget: 1m
        mutating: false
        aws:
          service: bedrock-runtime
          operation: InvokeModel
          params: {modelId: m, body: "{}"}
          capture: {reason: body.stop_reason}
      - id: ask
        title: Ask
        budget: 1m
        when: threshold > 1
        confirm: {question: Go on?}
      - id: ask-when
        title: Ask when
        budget: 1m
        http: {method: GET, path: "/health", expect: [200, 503]}
      - id: done
        title: Done
        budget: 1m
        manual: {checklist: [Done]}
"""


def test_names_the_runbook_already_uses_are_not_reused(tmp_path: Path) -> None:
    steps = COLLISIONS
    path = write_runbook(tmp_path, steps, "export-names")
    text = path.read_text("utf-8").replace(
        "variables:\n", "variables:\n  - {name: Approvers, description: Who, default: ops}\n"
                        "  - {name: AdminUrl, description: Not the admin URL, default: x}\n")
    path.write_text(text, encoding="utf-8")
    runbook, doc, gaps = exported(path)
    assert_well_formed(runbook, doc)
    names = [s["name"] for s in doc["mainSteps"]]
    assert names.count("ask_when") == 1 and "ask_when_" in names  # the guard of `ask` steps aside
    assert next(s for s in doc["mainSteps"] if s["name"] == "ask_when_")["inputs"]["Choices"][0]["NextStep"] == "ask"
    params = doc["parameters"]
    assert params["Approvers"]["default"] == "ops" and params["Approvers_"]["type"] == "StringList"
    assert params["AdminUrl"]["default"] == "x" and params["AdminUrl_"]["default"] == "https://admin.example"
    approvals = [s for s in doc["mainSteps"] if s["action"] == "aws:approve"]
    assert approvals and all(s["inputs"]["Approvers"] == "{{ Approvers_ }}" for s in approvals)
    health = next(s for s in doc["mainSteps"] if s["name"] == "ask_when")
    assert health["inputs"]["InputPayload"]["AdminUrl"] == "{{ AdminUrl_ }}"
    assert "lookup: capture cluster: later steps read lookup.cluster, which is unset when this step is skipped " \
           "(the parameter cluster is not read in its place)" in gaps
    assert "invoke: capture reason: $.body.stop_reason: the response's blob holds no fields SSM can select; not " \
           "an output" in gaps


def test_a_secret_variable_has_no_default_and_plain_text_braces_are_no_reference(tmp_path: Path) -> None:
    steps = """\
      - id: tell
        title: "Post {{ literally }} in the channel"
        description: "Source: curl -d '{{ \\"a\\": 1 }}'"
        budget: 1m
        notify: {via: slack, text: "Using {{ api_key }}"}
"""
    path = write_runbook(tmp_path, steps, "export-secret")
    path.write_text(path.read_text("utf-8").replace(
        "variables:\n", f"variables:\n  - {{name: api_key, description: Key, default: {TOKEN}, secret: true}}\n"),
        encoding="utf-8")
    runbook, doc, gaps = exported(path)
    assert_well_formed(runbook, doc)  # every {{ }} left resolves: the title's braces are not a reference
    assert TOKEN not in json.dumps(doc)
    assert doc["parameters"]["api_key"] == {"type": "String", "description": "Key (secret: no default exported)"}
    assert gaps == ["variable api_key is secret: SSM parameters show their values in the execution's history; "
                    "pass the name of a SecureString parameter instead"]
    tell = next(s for s in doc["mainSteps"] if s["name"] == "tell")
    assert tell["description"].startswith("Post { { literally } } in the channel")
