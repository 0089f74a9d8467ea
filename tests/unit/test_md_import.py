"""`hybridops import`: the source runbook gives the shipped five's calls, render's pages read back to the
same runbooks, and a corpus of other layouts imports with every untranslatable part reported."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridops.cli.app import run
from hybridops.engine.steps.logs import filter_params
from hybridops.kinds.base import short_duration
from hybridops.markdown.importer import budget_of, import_markdown
from hybridops.markdown.render import render_markdown
from hybridops.markdown.shell_in import translate
from hybridops.runbook.catalog import PACKAGED
from hybridops.runbook.load import load_runbook
from hybridops.runbook.model import AwsCall, LogErrorsStep, LogJsonStep, Runbook
from hybridops.runbook.validate import validate_file

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "markdown"
SOURCE = PAGES / "source-runbook.md"
# the source's incidents in its order, and the shipped runbook of each
SHIPPED = ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency")


# --- one helper for the calls of a runbook, whichever side it comes from ------------------------------


def _resolved(value: Any, defaults: dict[str, Any]) -> Any:
    """Templates of variables as their defaults (`{{ cluster }}` -> hybrid-routing-cluster); a variable
    with no default stays `{{ name }}`; `| int` / `| float` of a number make the number."""
    if isinstance(value, str):
        whole = re.fullmatch(r"\{\{\s*([A-Za-z_]\w*)\s*((?:\|[^}]*)?)\}\}", value)
        if whole and defaults.get(whole.group(1)) not in (None, "") and re.search(r"\|\s*(int|float)", whole.group(2)):
            text = str(defaults[whole.group(1)])
            return float(text) if "." in text else int(text)

        def sub(m: re.Match[str]) -> str:
            head = m.group(1).split("|")[0].strip()
            if not re.fullmatch(r"[A-Za-z_]\w*", head):
                return m.group(0)
            default = defaults.get(head)
            return str(default) if default not in (None, "") else "{{ " + head + " }}"

        return re.sub(r"\{\{(.*?)\}\}", sub, value)
    if isinstance(value, dict):
        return {k: _resolved(v, defaults) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, defaults) for v in value]
    return value


def calls_of(runbook: Runbook) -> list[tuple[Any, ...]]:
    """(aws, service, operation, params) and (http, method, path, body) of every call, undo's and log
    steps' (the FilterLogEvents they send) included, with the variables' defaults filled in."""
    defaults = {v.name: v.default for v in runbook.variables}
    out: list[tuple[Any, ...]] = []
    for _, step in runbook.steps():
        if isinstance(step, LogErrorsStep | LogJsonStep):
            params = filter_params(step.body, 0)
            params["startTime"] = f"{{{{ ago_ms('{short_duration(step.body.since)}') }}}}"
            out.append(("aws", "logs", "FilterLogEvents", _resolved(params, defaults)))
        for _, call in step.calls():
            if isinstance(call, AwsCall):
                out.append(("aws", call.service, call.operation, _resolved(call.params, defaults)))
            else:
                out.append(("http", call.method, _resolved(call.path, defaults), _resolved(call.body, defaults)))
    return out


def _contains(shipped: Any, imported: Any) -> bool:
    """`imported`'s params are all in `shipped` (which may add e.g. InvokeModel's contentType)."""
    if isinstance(shipped, dict) and isinstance(imported, dict):
        return all(k in shipped and _contains(shipped[k], v) for k, v in imported.items())
    return bool(shipped == imported)


def _import(page: Path, out: Path) -> list[Runbook]:
    assert run(["import", str(page), "-o", str(out)]) == 0
    return [load_runbook(p).runbook for p in sorted(out.glob("*.yaml"), key=lambda p: p.stat().st_mtime_ns)]


@pytest.fixture(scope="module")
def source_import(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("source")
    result = import_markdown(SOURCE.read_text(), str(SOURCE), base=SOURCE.parent)
    for rb in result.runbooks:
        (out / f"{rb['id']}.yaml").write_text(yaml.safe_dump(rb, sort_keys=False))
    return out, result.runbooks


def test_source_runbook_gives_five_valid_runbooks(source_import: tuple[Path, list[dict[str, Any]]]) -> None:
    out, docs = source_import
    assert [d["title"] for d in docs] == ["Complete System Outage", "Bedrock Client Failure", "MCP Router Failure",
                                          "High Error Rate", "Routing Efficiency Degradation"]
    assert [d["severity"] for d in docs] == ["P0", "P0", "P1", "P1", "P2"]
    assert [d["response_time"] for d in docs] == ["immediate", "immediate", "15m", "15m", "1h"]
    for doc in docs:
        report = validate_file(out / f"{doc['id']}.yaml")
        assert report.ok, report.problems


def test_source_structure(source_import: tuple[Path, list[dict[str, Any]]]) -> None:
    _, docs = source_import
    outage = docs[0]
    assert outage["symptoms"] == ["Health endpoint returns 503", "All routing paths failing",
                                  "Multiple critical alerts"]
    assert outage["owner"] == "DevOps & AI Operations Team"
    assert [p["title"] for p in outage["phases"]] == ["Immediate Actions", "Root Cause Analysis", "Prevention"]
    steps = {s["id"]: s for s in outage["phases"][0]["steps"]}
    assert steps["check-health-endpoint"]["budget"] == "2m"
    assert steps["restart-services"]["budget"] == "5m"
    assert steps["activate-incident-response"]["manual"]["checklist"] == [
        "Create PagerDuty incident", "Notify #ops-critical Slack channel", "Assemble incident response team"]
    assert outage["phases"][1]["steps"][0]["manual"]["checklist"][0] == "Review CloudWatch Logs for errors"
    metric = steps["check-cloudwatch-metrics"]["aws"]["params"]
    assert metric["StartTime"] == "{{ ago_iso('5m') }}" and metric["EndTime"] == "{{ now_iso() }}"
    assert outage["variables"] == [{"name": "target_group_arn", "description": "imported: target_group_arn"}]
    watch = docs[1]["phases"][0]["steps"][-1]
    assert watch["budget"] == "30m" and watch["poll"]["every"] == "30s"  # "(ongoing)", watch -n 30


@pytest.mark.parametrize("n", range(5), ids=SHIPPED)
def test_source_calls_are_the_shipped_calls(source_import: tuple[Path, list[dict[str, Any]]], n: int) -> None:
    """Per incident: each imported call is one of the shipped runbook's calls (a multiset: each shipped
    call matches one imported call at most); the shipped runbooks add calls of their own (look-ups,
    closing checks), never the other way round."""
    out, docs = source_import
    imported = calls_of(load_runbook(out / f"{docs[n]['id']}.yaml").runbook)
    left = calls_of(load_runbook(PACKAGED / f"{SHIPPED[n]}.yaml").runbook)
    assert imported
    for call in imported:
        match = next((s for s in left if s[:3] == call[:3] and _contains(s[3], call[3])), None)
        assert match is not None, f"{SHIPPED[n]}: {call} is not a call of the shipped runbook"
        left.remove(match)


def test_source_untranslatable_parts_are_reported(cli: Any) -> None:
    code, out, err = cli("import", str(SOURCE), "-o", "x")
    assert code == 0
    reported = [line for line in err.splitlines() if line.startswith(f"{SOURCE}:")]
    assert reported == [
        f"{SOURCE}:171:4: kept as a manual step: a comment that no command follows (an instruction for the operator)",
        f"{SOURCE}:172:4: kept as a manual step: a comment that no command follows (an instruction for the operator)",
    ]
    bedrock = yaml.safe_load((Path("x") / "bedrock-client-failure.yaml").read_text())
    assert "# Monitor for 10 minutes, then increase to 50%" in "".join(_manual_texts(bedrock))
    assert len(out.split()) == 5


def test_logs_tail_follow_is_a_look_back_then_a_poll(source_import: tuple[Path, list[dict[str, Any]]]) -> None:
    _, docs = source_import
    steps = docs[2]["phases"][0]["steps"]
    tail = [s for s in steps if "Check MCP service logs" in s["title"]]
    assert [s["title"] for s in tail] == ["Check MCP service logs", "Check MCP service logs (follow)"]
    assert tail[0]["aws"]["params"] == {"logGroupName": "/aws/ecs/mcp-router", "startTime": "{{ ago_ms('10m') }}"}
    poll = tail[1]["poll"]
    assert (poll["every"], poll["while"], poll["timeout"]) == ("30s", "true", "3m")
    assert poll["aws"]["params"]["startTime"] == "{{ ago_ms('30s') }}"


# --- the round trip ---------------------------------------------------------------------------------


def shape(runbook: Runbook) -> list[tuple[Any, ...]]:
    """What a round trip keeps, step by step: id, kind, budget, branches, when, failure handling,
    outcome, the names it captures, and the call (params/body with templates reduced to their names)."""
    rows = []
    for phase, step in runbook.steps():
        body = step.body
        branches = tuple(sorted((k, str(getattr(body, k))) for k in ("if_yes", "if_no", "if_true", "if_false")
                                if getattr(body, k, None)))
        options = tuple((o.value, o.goto) for o in getattr(body, "options", []))
        calls = tuple((loc, _names_only(c.model_dump(include={"service", "operation", "params", "method", "path",
                                                             "body"}))) for loc, c in step.calls())
        poll = (body.every, body.timeout, body.until, body.while_) if step.kind == "poll" else None
        rows.append((phase.id, step.id, step.kind, step.budget, branches, options, step.when, str(step.on_failure),
                     step.next, step.outcome, calls, poll, step.is_mutating, sorted(step.captures())))
    return rows


def _names_only(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{\{\s*([A-Za-z_]\w*)[^}]*\}\}", r"{{ \1 }}", value)
    if isinstance(value, dict):
        return {k: _names_only(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_names_only(v) for v in value]
    return value


SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "valid" / "sample.yaml"  # choice, wait, undo...


@pytest.mark.parametrize("rid", [*SHIPPED, "sample"])
def test_round_trip(rid: str, tmp_path: Path) -> None:
    original = load_runbook(SAMPLE if rid == "sample" else PACKAGED / f"{rid}.yaml").runbook
    page = tmp_path / f"{rid}.md"
    page.write_text(render_markdown(original))
    result = import_markdown(page.read_text(), str(page))
    assert result.issues == []
    [doc] = result.runbooks
    assert doc["id"] == original.id
    back = tmp_path / "out" / f"{rid}.yaml"
    back.parent.mkdir()
    back.write_text(yaml.safe_dump(doc, sort_keys=False))
    again = load_runbook(back).runbook
    assert [p.id for p in again.phases] == [p.id for p in original.phases]
    for want, got in zip(shape(original), shape(again), strict=True):
        assert got == want
    # the page shows an http step's capture_status and a decision's capture (outage's health_http_status,
    # sample's error_storm, named unlike its step), so the imported copy is as valid as the original
    assert [str(p) for p in validate_file(back).problems] == []
    assert calls_of(again) == calls_of(original) or Counter(map(json.dumps, calls_of(again))) == Counter(
        map(json.dumps, calls_of(original)))


# --- the corpus -------------------------------------------------------------------------------------

CORPUS = PAGES / "corpus"
# page -> the originals that must be reported (each kept in a manual step), in the page's order
EXPECTED = {
    "table-of-steps.md": ["kubectl rollout restart deployment/payments",
                          "curl -s https://status.example.com/api/v2/summary.json"],
    "prompts.md": ["ssh worker-1 systemctl status job-worker"],
    "split-aws.md": ["--policy-input-list file://missing-policy.json", "aws s3 cp s3://logs-bucket/bedrock/"],
    "jq-watch.md": ["jq '[.events[].message | fromjson | .latencyMs] | max'"],
    "placeholders.md": ["aws ecs update-service --cluster $(cat cluster.txt)"],
}


def _manual_texts(doc: dict[str, Any]) -> list[str]:
    return [s["manual"].get("instructions", "") for p in doc["phases"] for s in p["steps"] if "manual" in s]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_page_imports_with_every_untranslatable_part_reported(name: str, cli: Any) -> None:
    page = CORPUS / name
    code, out, err = cli("import", str(page), "-o", "out")
    assert code == 0, err
    kept = [line for line in err.splitlines() if ": kept as a manual step: " in line]
    assert len(kept) == len(EXPECTED[name]), err
    assert all(re.match(rf"^{re.escape(str(page))}:\d+:\d+: ", line) for line in kept)
    texts = [t for f in Path("out").glob("*.yaml") for t in _manual_texts(yaml.safe_load(f.read_text()))]
    for original in EXPECTED[name]:
        assert any(original in t for t in texts), original
    for f in Path("out").glob("*.yaml"):
        assert validate_file(f).ok, validate_file(f).problems


def test_corpus_layouts(tmp_path: Path) -> None:
    table = import_markdown((CORPUS / "table-of-steps.md").read_text()).runbooks[0]
    triage = table["phases"][0]["steps"]
    assert [s["budget"] for s in triage] == ["2m", "1m", "5m", "1m"]
    assert triage[1]["http"] == {"method": "GET", "path": "/health/metrics",
                                 "capture": {"error_rate": "data.errorRate"}}
    prompts = import_markdown((CORPUS / "prompts.md").read_text()).runbooks[0]
    first = prompts["phases"][0]["steps"][0]["aws"]
    assert first["capture"] == {"approximate_number_of_messages": "Attributes.ApproximateNumberOfMessages"}
    assert [s.get("aws", {}).get("operation") for s in prompts["phases"][0]["steps"]][:2] == [
        "GetQueueAttributes", "ListQueues"]  # the output lines of the console block are no commands
    split = import_markdown((CORPUS / "split-aws.md").read_text(), base=CORPUS).runbooks[0]
    steps = split["phases"][0]["steps"]
    assert steps[0]["aws"]["params"]["Filters"] == [
        {"Name": "service-name", "Values": ["com.amazonaws.eu-central-1.bedrock-runtime"]},
        {"Name": "vpc-endpoint-state", "Values": ["available"]}]
    assert steps[0]["aws"]["region"] == "eu-central-1"
    assert steps[1]["aws"]["params"]["forceNewDeployment"] is False
    assert json.loads(steps[2]["aws"]["params"]["PolicyInputList"][0])["Version"] == "2012-10-17"
    jq = import_markdown((CORPUS / "jq-watch.md").read_text()).runbooks[0]
    kinds = [(s["id"], next(k for k in ("log_errors", "log_json", "manual", "poll", "http") if k in s))
             for p in jq["phases"] for s in p["steps"]]
    assert [k for _, k in kinds] == ["log_errors", "log_json", "manual", "poll", "http"]
    errors = jq["phases"][0]["steps"][0]["log_errors"]
    assert errors["since"] == "30m" and errors["type_pattern"] == "ERROR [A-Za-z]+"
    holder = import_markdown((CORPUS / "placeholders.md").read_text()).runbooks[0]
    names = {v["name"]: v.get("default") for v in holder["variables"]}
    assert names == {"target_group_arn": None, "region": "eu-central-1", "load_balancer_name": None}


def test_no_token_reaches_the_yaml(cli: Any) -> None:
    code, _, err = cli("import", str(CORPUS / "jq-watch.md"), "-o", "out")
    assert code == 0
    text = "".join(f.read_text() for f in Path("out").glob("*.yaml"))
    assert "sk-live-0123456789" not in text and "sk-live" not in err
    assert "a literal Authorization header: the configured admin token is sent instead" in err
    page = Path("creds.md")
    page.write_text("# T\n\n**Severity**: P1\n\n## A\n\n1. **Call** (1 minute)\n\n   ```bash\n"
                    "   curl -u admin:hunter2 https://x.example/admin/bedrock/test\n   ```\n")
    code, _, err = cli("import", str(page), "-o", "out2")
    assert code == 0 and "hunter2" not in err
    assert "hunter2" not in "".join(f.read_text() for f in Path("out2").glob("*.yaml"))
    page.write_text("# T\n\n**Severity**: P1\n\n## A\n\n1. **Rotate** (1 minute)\n\n   ```bash\n"
                    "   aws secretsmanager put-secret-value --secret-id db --secret-string s3cr3t-v4lue\n"
                    "   curl https://x.example/admin/bedrock/test?api_key=k3y-v4lue\n   ```\n")
    code, _, err = cli("import", str(page), "-o", "out3")
    assert code == 0, err
    text = "".join(f.read_text() for f in Path("out3").glob("*.yaml"))
    assert "s3cr3t-v4lue" not in text + err and "k3y-v4lue" not in text + err
    doc = yaml.safe_load(text)
    assert {"name": "secret_string", "description": "imported: secret_string", "secret": True} in doc["variables"]
    assert doc["phases"][0]["steps"][0]["aws"]["params"]["SecretString"] == "{{ secret_string }}"
    assert "it is the secret variable secret_string" in err
    assert "kept as a manual step: a credential in the URL" in err


# --- command lines ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "kind", "body"), [
    ("aws ecs update-service --cluster c --service s --force-new-deployment", "aws",
     {"service": "ecs", "operation": "UpdateService", "params": {"cluster": "c", "service": "s",
                                                                  "forceNewDeployment": True}}),
    ("aws health describe-events --filter services=BEDROCK --region us-east-1 --output json", "aws",
     {"service": "health", "operation": "DescribeEvents", "region": "us-east-1",
      "params": {"filter": {"services": ["BEDROCK"]}}}),
    ("aws logs filter-log-events --log-group-name g --start-time $(date -u -d '15 minutes ago' +%s)000", "aws",
     {"service": "logs", "operation": "FilterLogEvents",
      "params": {"logGroupName": "g", "startTime": "{{ ago_ms('15m') }}"}}),
    ("aws ec2 describe-vpc-endpoints --filters '[{\"Name\": \"vpc-id\", \"Values\": [\"vpc-1\"]}]'", "aws",
     {"service": "ec2", "operation": "DescribeVpcEndpoints", "params": {"Filters": [{"Name": "vpc-id",
                                                                                     "Values": ["vpc-1"]}]}}),
    ("aws s3api list-objects-v2 --bucket b --query 'Contents[].Key'", "aws",
     {"service": "s3", "operation": "ListObjectsV2", "params": {"Bucket": "b"}, "capture": {"key": "Contents[].Key"}}),
    ("aws ecs update-service --cli-input-json '{\"cluster\": \"a\", \"service\": \"s\"}' --cluster b", "aws",
     {"service": "ecs", "operation": "UpdateService", "params": {"cluster": "b", "service": "s"}}),
    ("curl -sS -X PUT https://api.example.com/admin/config/update?dry=1 -d '{\"timeout\": 1}'", "http",
     {"method": "PUT", "path": "/admin/config/update?dry=1", "body": {"timeout": 1}}),
    ("AWS_REGION=us-west-2 aws ecs list-clusters", "aws",
     {"service": "ecs", "operation": "ListClusters", "region": "us-west-2", "params": {}}),
    ('curl "${ADMIN_URL}/health/component/${COMPONENT}"', "http",
     {"method": "GET", "path": "/health/component/{{ component }}"}),
    ("curl -d '{\"percentage\": ${PCT:-100}}' https://a.example/admin/routing/bedrock-percentage", "http",
     {"method": "POST", "path": "/admin/routing/bedrock-percentage",
      "body": {"percentage": "{{ pct | default(100) | number }}"}}),
])
def test_command_lines(line: str, kind: str, body: dict[str, Any]) -> None:
    out = translate(line)
    assert (out.kind, out.body) == (kind, body)


@pytest.mark.parametrize(("line", "why"), [
    ("aws ecs update-service --cluster c --service s --bogus-option 1",
     "unknown option(s) of aws ecs update-service: --bogus-option 1"),
    ("aws nosuchservice do-thing", "`aws nosuchservice` is no API service of the AWS CLI (a customisation such as "
     "`aws s3`, or unknown)"),
    ("curl -X POST https://a.example/admin/x -d 'not json'", "a request body that is not JSON"),
    ("curl https://a.example/health | grep ok", "curl's output piped through `grep ok`"),
    ("aws logs filter-log-events --log-group-name g --start-time $(date -u -d 'last tuesday' +%s)000",
     "no runbook time for `date -d 'last tuesday'`"),
    ("rm -rf /", "`rm` is not a command hybridops runs (aws, curl, watch)"),
])
def test_untranslatable_lines_say_why(line: str, why: str) -> None:
    from hybridops.markdown.commands import Untranslatable

    with pytest.raises(Untranslatable) as exc:
        translate(line)
    assert str(exc.value) == why


@pytest.mark.parametrize(("text", "budget"), [("**X** (2 minutes)", "2m"), ("(1 hour 30 minutes)", "1h30m"),
                                              ("(ongoing)", "30m"), ("(45 seconds)", "45s"), ("(5m)", "5m"),
                                              ("(~10 min)", "10m"), ("(2-3 minutes)", "3m"),
                                              ("(if recovery fails)", None)])
def test_budgets(text: str, budget: str | None) -> None:
    assert budget_of(text) == budget


def test_bad_input_is_one_line_and_exit_1(cli: Any) -> None:
    code, _, err = cli("import", "missing.md", "-o", "out")
    assert code == 1 and err.strip().splitlines() == ["error: missing.md: cannot read: No such file or directory"]
    Path("empty.md").write_text("just prose, no headings\n")
    code, _, err = cli("import", "empty.md", "-o", "out")
    assert code == 1 and "empty.md:1:1: no incident found" in err and "Traceback" not in err
    Path("ok.md").write_text("# T\n\n**Severity**: P1\n\n## A\n\n1. **Check** (1 minute)\n")
    assert cli("import", "ok.md", "-o", "out")[0] == 0
    code, _, err = cli("import", "ok.md", "-o", "out")
    assert code == 1 and "exists; pass --force to overwrite" in err
    assert cli("import", "ok.md", "-o", "out", "--force")[0] == 0


def test_page_variants_keep_their_prose_and_metadata() -> None:
    page = """# Cache outage

- **Severity:** P1 - High
- **Response Time:** 30 min
- **Owner:** Cache team

## Steps

Before anything else, tell the on-call lead.

1. **Look at the cache** or **restart it** (about 5 minutes)

   The cluster is shared with search: be careful.

   ```bash
   aws elasticache describe-cache-clusters --cache-cluster-id cache-1
   ```

2. Escalate (2 min)
"""
    result = import_markdown(page, "cache.md")
    [doc] = result.runbooks
    assert (doc["severity"], doc["response_time"], doc["owner"]) == ("P1", "30m", "Cache team")
    steps = doc["phases"][0]["steps"]
    assert steps[0]["manual"]["instructions"] == "Before anything else, tell the on-call lead."
    assert steps[1]["title"] == "Look at the cache or restart it" and steps[1]["budget"] == "5m"
    assert steps[1]["description"] == "The cluster is shared with search: be careful."
    assert steps[1]["aws"]["operation"] == "DescribeCacheClusters"
    assert (steps[2]["title"], steps[2]["budget"], "manual" in steps[2]) == ("Escalate", "2m", True)
    assert result.issues == []
    missing = import_markdown("# Just a page\n\n1. **Do it** (1 minute)\n", "p.md")
    assert [i.message for i in missing.issues] == ["no **Severity** line: P2 assumed"]


def test_bold_phase_titles_and_exported_variables() -> None:
    page = """# Search down

**Severity**: P1

## Runbook

**Immediate Actions**

1. **Restart** (5 minutes)

   ```bash
   export CLUSTER=search-prod
   aws ecs update-service --cluster $CLUSTER --service api --force-new-deployment
   ```

**Follow-up:**

- File a ticket
"""
    [doc] = import_markdown(page, "s.md").runbooks
    assert [(p["title"], len(p["steps"])) for p in doc["phases"]] == [("Immediate Actions", 1), ("Follow-up", 1)]
    assert doc["variables"] == [{"name": "cluster", "description": "imported: cluster", "default": "search-prod"}]
    assert doc["phases"][0]["steps"][0]["aws"]["params"]["cluster"] == "{{ cluster }}"


def test_two_incidents_of_one_title_are_two_runbooks() -> None:
    page = "## Outage\n\n**Severity**: P0\n\n### Do\n\n- a\n\n## Outage\n\n**Severity**: P1\n\n### Do\n\n- b\n"
    assert [rb["id"] for rb in import_markdown(page).runbooks] == ["outage", "outage-2"]


def test_a_table_without_backticks_or_a_step_column() -> None:
    page = """# Disk full

**Severity**: P2

## Steps

| # | Description | Run | Duration |
|---|-------------|-----|----------|
| 1 | List the clusters | aws ecs list-clusters | 1 min |
| 2 | Clean up | rm -rf /var/log/old | 2 min |
"""
    result = import_markdown(page, "d.md")
    steps = result.runbooks[0]["phases"][0]["steps"]
    assert [(s["title"], s["budget"], next(iter(k for k in ("aws", "manual") if k in s))) for s in steps] == [
        ("List the clusters", "1m", "aws"), ("Clean up", "2m", "manual")]
    assert steps[1]["manual"]["checklist"] == ["rm -rf /var/log/old"]  # prose or not, kept for the operator


def test_actions_as_headings_and_plain_metadata() -> None:
    page = """## Incident: Queue stuck

Severity: P1
Response time: 15 minutes

### Step 1: Look at the queue (3 minutes)

```bash
aws sqs get-queue-attributes --queue-url https://sqs.eu-central-1.amazonaws.com/1/q --attribute-names All
```

### Step 2: Purge it (1 minute)

```bash
aws sqs purge-queue --queue-url https://sqs.eu-central-1.amazonaws.com/1/q
```
"""
    [doc] = import_markdown(page, "q.md").runbooks
    assert (doc["severity"], doc["response_time"]) == ("P1", "15m")
    assert [(p["title"], [s["budget"] for s in p["steps"]]) for p in doc["phases"]] == [
        ("Step 1: Look at the queue", ["3m"]), ("Step 2: Purge it", ["1m"])]
    assert doc["phases"][1]["steps"][0]["aws"]["operation"] == "PurgeQueue"
