"""`hybridops export ssm` checked by others (issue 13 §3): AWS's own SSM document language service over its
language-server protocol, moto's SSM CreateDocument through the session's sandbox (real HTTP), and an
exported script step run against the sandbox's admin API with its token in a SecureString parameter.

The language service is installed with npm into the user's cache dir once (reused, offline, after that);
only a machine without node or npm skips it.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import PLANTED, CliResult, admin_calls
from ssm_lsp import LanguageServer, install

from hybridops.export.ssm import ADMIN_TOKEN_PARAMETER, dump, export_ssm
from hybridops.runbook.catalog import find_runbook
from hybridops.runbook.load import load_runbook
from hybridops.sandbox import Sandbox

RUNBOOK_IDS = ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency")
# The one diagnostic the 2020 schema gives every aws:executeScript step: its Runtime enum stops at
# python3.7, which AWS's current action reference no longer lists (python3.11 is).
KNOWN = 'Value is not accepted. Valid values: "python3.6", "python3.7", "PowerShell Core 6.0".'


def _export(runbook_id: str) -> dict[str, Any]:
    return export_ssm(load_runbook(find_runbook(runbook_id)).runbook, admin_url="https://admin.example",
                      pagerduty_url="https://events.pagerduty.com/v2/enqueue").document


def _on_automation(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, secure: dict[str, str]) -> None:
    """The sandbox's AWS as an execution's boto3 finds it, with these SecureString parameters."""
    import boto3

    for key, value in sandbox.env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    ssm = boto3.client("ssm", region_name=sandbox.env["AWS_DEFAULT_REGION"])
    for name, value in secure.items():
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def _payload(step: dict[str, Any], values: dict[str, str]) -> Any:
    """A step's InputPayload with `{{ reference }}`s substituted as Automation substitutes them."""
    text = json.dumps(step["inputs"]["InputPayload"])
    for reference, value in values.items():
        text = text.replace("{{ " + reference + " }}", value)
    return json.loads(text)


def _handler(step: dict[str, Any], namespace: dict[str, Any] | None = None) -> Any:
    """The handler of a step's exported script, as aws:executeScript loads it."""
    namespace = {} if namespace is None else namespace
    exec(compile(step["inputs"]["Script"], step["name"], "exec"), namespace)  # noqa: S102 (our own export)
    return namespace["handler"]


# The forms the shipped runbooks do not produce: a waitForAwsResourceProperty, And / Not / numeric
# choices, a when-branch, approvals with go-tos, a go-to `end`.
FORMS = """\
id: export-forms
title: Export forms
severity: P2
response_time: 1h
impact: none
owner: tests
version: 1.0.0
variables:
  - {name: cluster, description: ECS cluster, default: mcp-cluster}
  - {name: service, description: ECS service, default: mcp-router-service}
  - {name: enabled, description: Act at all, default: true}
phases:
  - id: only
    title: Only
    steps:
      - id: describe
        title: Describe
        budget: 1m
        retries: {attempts: 1}
        aws:
          service: ecs
          operation: DescribeServices
          params: {cluster: "{{ cluster }}", services: ["{{ service }}"]}
          capture: {running: "services[0].runningCount", status: "services[0].status"}
      - id: wait-active
        title: Wait until active
        budget: 5m
        poll:
          aws:
            service: ecs
            operation: DescribeServices
            params: {cluster: "{{ cluster }}", services: ["{{ service }}"]}
            capture: {now: "services[0].status"}
          every: 15s
          timeout: 4m
          until: now == 'ACTIVE'
      - id: gate
        title: Gate
        budget: 1m
        check: {condition: "running < 2 and status != 'DRAINING' or not enabled", if_true: restart, if_false: end}
      - id: restart
        title: Restart
        budget: 5m
        when: enabled
        on_failure: {goto: escalate}
        aws:
          service: ecs
          operation: UpdateService
          params: {cluster: "{{ cluster }}", service: "{{ service }}", forceNewDeployment: true}
      - id: sure
        title: Sure?
        budget: 2m
        confirm: {question: Did it work?, if_yes: end, if_no: escalate}
      - id: escalate
        title: Escalate
        budget: 1m
        manual: {checklist: [Page someone]}
"""


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """{"outage.yaml": text, "outage.json": text, ...} for the five shipped runbooks, and export-forms."""
    forms = tmp_path_factory.mktemp("forms") / "export-forms.yaml"
    forms.write_text(FORMS, encoding="utf-8")
    out = {}
    for rid in (*RUNBOOK_IDS, str(forms)):
        doc = _export(rid)
        name = Path(rid).stem
        out[f"{name}.yaml"] = dump(doc, "yaml")
        out[f"{name}.json"] = dump(doc, "json")
    return out


@pytest.fixture(scope="module")
def language_server() -> Iterator[LanguageServer]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH: AWS's SSM document language service cannot run")
    server = LanguageServer(install())
    yield server
    server.close()


def select(value: Any, selector: str) -> Any:
    """What SSM's JSONPath selector takes from a step's result, for the forms the export writes
    (`$.a.b[0]['c-d']`)."""
    assert selector.startswith("$"), selector
    for key, quoted, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]|\[(\d+)\]", selector[1:]):
        value = value[int(index)] if index else value[key or quoted]
    return value


def _parse(name: str, text: str) -> dict[str, Any]:
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


def test_the_language_service_finds_nothing_but_the_known_runtime_diagnostic(
        language_server: LanguageServer, documents: dict[str, str]) -> None:
    found = language_server.diagnostics(documents)
    assert set(found) == set(documents)
    for name, diagnostics in found.items():
        text = documents[name]
        scripts = [s for s in _parse(name, text)["mainSteps"] if s["action"] == "aws:executeScript"]
        assert scripts or name.startswith("export-forms"), name
        lines = text.splitlines()
        for d in diagnostics:
            assert d["message"] == KNOWN, f"{name}:{d['range']['start']['line'] + 1}: {d['message']}"
            line = lines[d["range"]["start"]["line"]]
            assert "Runtime" in line and "python3.11" in line, (name, line)
        assert len(diagnostics) == len(scripts), name  # one per script step: nothing else, nothing hidden
    forms = _parse("export-forms.json", documents["export-forms.json"])
    assert {s["action"] for s in forms["mainSteps"]} == {
        "aws:executeAwsApi", "aws:waitForAwsResourceProperty", "aws:branch", "aws:approve", "aws:sleep"}
    assert '"And"' in documents["export-forms.json"] and '"Not"' in documents["export-forms.json"]


def test_the_language_service_does_report_a_broken_document(language_server: LanguageServer) -> None:
    """The check above is not vacuous: the same server flags what is wrong in an Automation document."""
    broken = {"schemaVersion": "0.3", "parameters": {"p": {"type": "Float"}}, "mainSteps": [
        {"name": "a", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}, "onFailure": "step:no-such"},
        {"name": "b", "action": "aws:executeAwsApi", "inputs": {"Api": "DescribeServices"}, "nextstep": "a"}]}
    found = language_server.diagnostics({"broken.json": json.dumps(broken, indent=2),
                                         "broken.yaml": yaml.safe_dump(broken, sort_keys=False)})
    for name, diagnostics in found.items():
        messages = " | ".join(d["message"] for d in diagnostics)
        assert len(diagnostics) >= 4, (name, messages)
        assert "Float" in messages or "Value is not accepted" in messages, messages
        assert "nextstep" in messages, messages  # an unknown step key
        assert "Service" in messages, messages  # executeAwsApi's required input
        assert KNOWN not in messages


@pytest.mark.parametrize("fmt", ["YAML", "JSON"])
def test_moto_create_document_accepts_every_exported_document(
        scenario: Callable[[str], Sandbox], documents: dict[str, str], fmt: str) -> None:
    import boto3

    sandbox = scenario("healthy")
    env = sandbox.env
    ssm = boto3.client("ssm", region_name="eu-central-1", endpoint_url=sandbox.aws_url,
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    for rid in (*RUNBOOK_IDS, "export-forms"):
        name = f"{rid}.{fmt.lower()}"
        text = documents[name]
        doc_name = f"hybridops-{rid}-{uuid.uuid4().hex[:8]}"
        made = ssm.create_document(Content=text, Name=doc_name, DocumentType="Automation", DocumentFormat=fmt)
        info = made["DocumentDescription"]
        assert (info["Status"], info["DocumentType"], info["SchemaVersion"], info["DocumentFormat"]) == \
               ("Active", "Automation", "0.3", fmt), name
        described = ssm.describe_document(Name=doc_name)["Document"]
        assert {p["Name"] for p in described["Parameters"]} == set(_parse(name, text)["parameters"]), name
        assert ssm.get_document(Name=doc_name, DocumentFormat=fmt)["Content"] == text, name


def test_an_exported_admin_step_runs_against_the_admin_api_with_the_token_from_a_securestring(
        scenario: Callable[[str], Sandbox], monkeypatch: pytest.MonkeyPatch) -> None:
    """The script an http step exports, run as aws:executeScript would run it (its handler with the
    step's InputPayload, the document's parameters substituted): it reads the token from a SecureString
    parameter (moto, over HTTP) and calls the admin API (the sandbox), which refuses any other token."""
    sandbox = scenario("mcp-down")
    _on_automation(sandbox, monkeypatch, {ADMIN_TOKEN_PARAMETER: PLANTED.admin_token})
    admin = {"AdminUrl": sandbox.admin_url, "AdminTokenParameter": ADMIN_TOKEN_PARAMETER}
    document = _export("mcp-failure")
    step = next(s for s in document["mainSteps"] if s["name"] == "check_mcp_health")
    assert step["action"] == "aws:executeScript"
    result = _handler(step)(_payload(step, admin), None)
    assert result["status"] == 200
    outputs = {o["Name"]: select({"Payload": result}, o["Selector"]) for o in step["outputs"]}
    assert outputs["mcp_status"] == "critical"
    assert isinstance(outputs["mcp_latency_ms"], int | float) and isinstance(outputs["mcp_error_rate"], int | float)

    # an admin request (the token matters there): accepted with the token, refused with another one
    reset = next(s for s in _export("outage")["mainSteps"] if s["name"] == "reset_circuit_breakers")
    reset_payload = _payload(reset, admin)
    handler = _handler(reset)
    assert handler(reset_payload, None)["status"] == 200
    assert [c["status"] for c in admin_calls(sandbox.requests(), "POST", "/admin/circuit-breaker/reset")] == [200]
    _on_automation(sandbox, monkeypatch, {"/hybridops/wrong-token": "not-the-token"})
    reset_payload["TokenParameter"] = "/hybridops/wrong-token"
    with pytest.raises(RuntimeError, match=r"HTTP 401") as refused:
        handler(reset_payload, None)
    assert "not-the-token" not in str(refused.value) and PLANTED.admin_token not in str(refused.value)


def test_export_as_a_process_writes_the_file_and_lists_what_it_could_not_export(
        run: Callable[..., CliResult], tmp_path: Path) -> None:
    """The CLI end to end, with the admin token (and the other planted secrets) in its environment:
    run_cli fails the test if any of them reaches the output or the document."""
    out = tmp_path / "docs" / "outage.json"
    result = run(["export", "ssm", "outage", "--format", "json", "-o", str(out)])
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    document = json.loads(out.read_text("utf-8"))
    assert document["schemaVersion"] == "0.3"
    text = out.read_text("utf-8")
    for secret in PLANTED.all().values():
        assert secret not in text
    lines = result.stderr_lines()
    assert lines and all(line.startswith("runbooks/outage.yaml: not exported: ") or "outage.yaml: not exported: "
                         in line for line in lines), lines
    assert any("check-system-health-metric: parameter StartTime" in line for line in lines), lines
    assert "Traceback" not in result.stderr

    strict = run(["export", "ssm", "outage", "--strict", "-o", str(tmp_path / "strict.yaml")])
    assert strict.code == 1
    assert strict.stderr_lines()[-1].endswith("cannot be exported")


def test_an_exported_poll_returns_once_its_condition_holds(
        scenario: Callable[[str], Sandbox], monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll's script over the sandbox's admin API, in a world where its `until` holds at the first
    answer (so no interval is waited): the condition sees the answer's values, the outputs select them."""
    sandbox = scenario("healthy")
    _on_automation(sandbox, monkeypatch, {ADMIN_TOKEN_PARAMETER: PLANTED.admin_token})
    step = next(s for s in _export("mcp-failure")["mainSteps"] if s["name"] == "monitor_mcp_recovery")
    assert step["inputs"]["InputPayload"]["Mode"] == "until"
    result = _handler(step)(_payload(step, {"AdminUrl": sandbox.admin_url,
                                            "AdminTokenParameter": ADMIN_TOKEN_PARAMETER}), None)
    outputs = {o["Name"]: select({"Payload": result}, o["Selector"]) for o in step["outputs"]}
    assert outputs["mcp_recovery_status"] == "healthy"
    assert len(admin_calls(sandbox.requests(), "GET", "/health/component/mcp-router")) == 1


def test_exported_notifications_are_accepted_by_slack_and_pagerduty_stand_ins(
        scenario: Callable[[str], Sandbox], monkeypatch: pytest.MonkeyPatch) -> None:
    """The notify scripts of the outage document, run against the sandbox's Slack webhook and PagerDuty
    Events API v2 (which refuse what the real services refuse), with the webhook URL and the routing
    key read from SecureString parameters: accepted, with the execution id as PagerDuty's dedup key."""
    from hybridops.export.ssm import PAGERDUTY_PARAMETER, SLACK_PARAMETER

    sandbox = scenario("outage")
    targets = sandbox.notify_env
    _on_automation(sandbox, monkeypatch, {SLACK_PARAMETER: targets["HYBRIDOPS_SLACK_WEBHOOK_URL"],
                                          PAGERDUTY_PARAMETER: targets["HYBRIDOPS_PAGERDUTY_ROUTING_KEY"]})
    steps = {s["name"]: s for s in _export("outage")["mainSteps"]}
    for name in ("page_pagerduty", "notify_ops_critical"):
        payload = _payload(steps[name], {"automation:EXECUTION_ID": "exec-1234",
                                         "SlackWebhookParameter": SLACK_PARAMETER,
                                         "PagerDutyKeyParameter": PAGERDUTY_PARAMETER,
                                         "PagerDutyUrl": targets["HYBRIDOPS_PAGERDUTY_URL"]})
        assert 200 <= _handler(steps[name])(payload, None)["status"] < 300, name
    sent = [c for c in sandbox.requests() if c["api"] == "notify"]
    assert [(c["via"], c["status"]) for c in sent] == [("pagerduty", 202), ("slack", 200)]
    page = sent[0]["body"]
    assert (page["event_action"], page["dedup_key"], page["payload"]["severity"]) == ("trigger", "exec-1234",
                                                                                       "critical")
    assert page["payload"]["summary"].endswith("hybridops run exec-1234")
    assert sent[1]["body"]["text"].startswith(":rotating_light: P0 Complete System Outage")


def test_an_exported_aws_poll_calls_aws_through_boto3(
        scenario: Callable[[str], Sandbox], monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue-drain poll of mcp-failure (no aws:waitForAwsResourceProperty form: it compares two
    values) as its script runs it: boto3 against the sandbox's SQS, the condition over the answer and the
    depth read before (a depth above the queue's, so it holds at the first answer and no interval passes)."""
    import boto3

    sandbox = scenario("mcp-down")
    _on_automation(sandbox, monkeypatch, {})
    url = boto3.client("sqs", region_name="eu-central-1").get_queue_url(QueueName="mcp-router-queue")["QueueUrl"]
    step = next(s for s in _export("mcp-failure")["mainSteps"] if s["name"] == "watch_queue_drain")
    payload = _payload(step, {"region": "eu-central-1", "lookup_queue_url.mcp_queue_url": url,
                              "check_queue_depth.queue_depth": "1000000"})
    result = _handler(step)(payload, None)
    depth = select({"Payload": result}, step["outputs"][0]["Selector"])
    assert int(depth) < 1000000
    assert [c["operation"] for c in sandbox.requests() if c["api"] == "aws"][-1] == "GetQueueAttributes"
