"""`hybridops render`: the Markdown page, its commands' shell form, and `render --check` against drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridops.cli.app import run
from hybridops.markdown.commands import Untranslatable, expression, json_word, word
from hybridops.markdown.render import first_difference, render_markdown, runbook_id_of
from hybridops.runbook.catalog import PACKAGED
from hybridops.runbook.load import load_runbook

DOCS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
SHIPPED = ("outage", "bedrock-failure", "mcp-failure", "high-error-rate", "routing-efficiency")


def _page(rid: str) -> str:
    return render_markdown(load_runbook(PACKAGED / f"{rid}.yaml").runbook)


@pytest.mark.parametrize("rid", SHIPPED)
def test_committed_copies_are_up_to_date(rid: str) -> None:
    assert run(["render", "--check", str(DOCS / f"{rid}.md")]) == 0


def test_render_is_deterministic_and_names_its_runbook() -> None:
    page = _page("outage")
    assert page == _page("outage")
    assert runbook_id_of(page) == "outage"
    assert "# Complete System Outage" in page
    assert "**Severity**: P0" in page
    assert "## Immediate Actions" in page
    assert '1. <a id="check-health-endpoint"></a>**Check health endpoint** (2 minutes)' in page
    assert "**Restart services (force new ECS deployment)** (5 minutes) — **mutating**" in page
    assert "If false, go to [implement-fallback](#implement-fallback)." in page
    assert "    - [ ] Enable emergency mode" in page
    assert "Repeat every 15 seconds until `recovery_health_status in ['healthy', 'degraded']` (at most 4 minutes):" \
        in page


def test_commands_use_the_cli_names_and_shell_variables() -> None:
    page = _page("outage")
    assert "aws ecs update-service \\\n" in page
    assert "--force-new-deployment" in page
    assert '--cluster "${CLUSTER}"' in page
    assert "TARGET_GROUP_ARN=$(aws ecs describe-services" in page
    assert "--query 'services[0].loadBalancers[0].targetGroupArn' --output text)" in page
    assert '--filter "regions=${REGION},eventStatusCodes=open"' in page  # the CLI's shorthand
    assert '-H "Authorization: Bearer ${ADMIN_TOKEN}"' in page
    assert "CLUSTER=hybrid-routing-cluster" in page
    bedrock = _page("bedrock-failure")
    assert "-d '{\"reason\": \"Bedrock unavailable\", \"duration\": 3600}'" in bedrock
    assert "--filters \"Name=service-name,Values=com.amazonaws.${REGION}.bedrock-runtime\"" in bedrock


def test_no_secret_literal_in_the_page(tmp_path: Path) -> None:
    for rid in SHIPPED:
        page = _page(rid)
        assert "ADMIN_TOKEN=\"${ADMIN_TOKEN:-${HYBRIDOPS_ADMIN_TOKEN:?" in page
        assert "Bearer ${ADMIN_TOKEN}" in page or "curl" not in page


def test_template_expressions() -> None:
    assert expression("region").text == "${REGION}"
    assert expression("x | default(100) | int").text == "${X:-100}"
    assert expression("x | int").number
    assert expression("ago_iso('5m')").text == "$(date -u -d '5 minutes ago' +%Y-%m-%dT%H:%M:%SZ)"
    assert expression("ago_ms('15m')").text == "$(date -u -d '15 minutes ago' +%s000)"
    assert expression("path").text == "${RB_PATH}"  # never clobbers $PATH
    with pytest.raises(Untranslatable):
        expression("steps['x'].status")
    assert word("plain") == "plain"
    assert word("two words") == "'two words'"
    assert word('a "{{ region }}" $b') == '"a \\"${REGION}\\" \\$b"'
    assert json_word({"timeout": "{{ t | int }}", "name": "n-{{ region }}"}) == \
        '"{\\"timeout\\": ${T}, \\"name\\": \\"n-${REGION}\\"}"'


def test_check_catches_a_drifted_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _page("mcp-failure").split("\n")
    lines[11] = lines[11] + " (edited on the wiki)"
    doc = tmp_path / "mcp.md"
    doc.write_text("\n".join(lines), encoding="utf-8")
    assert run(["render", "--check", str(doc)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"{doc}:12: ") and "mcp-failure" in err[0]


def test_check_without_a_marker_needs_the_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(_page("outage").split("\n", 1)[1], encoding="utf-8")
    assert run(["render", "--check", str(doc)]) == 1
    assert "no runbook named" in capsys.readouterr().err
    assert run(["render", "--check", str(doc), "outage"]) == 1  # the marker line itself differs


def test_first_difference() -> None:
    assert first_difference("a\nb\n", "a\nb\n") is None
    assert first_difference("a\nb\n", "a\nc\n") == 2
    assert first_difference("a\nb\n", "a\nb\nc\n") == 3


def test_aws_options_follow_the_cli_model() -> None:
    from hybridops.markdown.commands import aws_command
    from hybridops.runbook.model import AwsCall

    lines = aws_command(AwsCall(service="ecs", operation="UpdateService", params={
        "cluster": "c", "forceNewDeployment": False, "enableExecuteCommand": True,
        "deploymentConfiguration": {"maximumPercent": 200, "deploymentCircuitBreaker": {"enable": True}},
        "loadBalancers": [{"targetGroupArn": "arn:x", "containerName": "a b", "containerPort": 80}]})).lines
    text = "\n".join(lines)
    assert "--no-force-new-deployment" in text and "--enable-execute-command" in text
    assert "--deployment-configuration '{\"maximumPercent\": 200, \"deploymentCircuitBreaker\": {\"enable\": true}}'" \
        in text
    assert "--load-balancers '[{\"targetGroupArn\": \"arn:x\", \"containerName\": \"a b\", \"containerPort\": 80}]'" \
        in text
    # botocore's s3 is the CLI's s3api
    assert aws_command(AwsCall(service="s3", operation="ListObjectsV2", params={"Bucket": "b"})).lines[0] == \
        "aws s3api list-objects-v2 \\"


def test_curl_with_templated_path_and_typed_body() -> None:
    from hybridops.markdown.commands import curl_command
    from hybridops.runbook.model import HttpCall

    lines = curl_command(HttpCall(method="PUT", path="/a/{{ name }}", body={"on": True, "n": "{{ n | int }}"})).lines
    assert lines[0] == 'curl -sS -X PUT "${ADMIN_URL}/a/${NAME}" \\'
    assert lines[-1].strip() == '-d "{\\"on\\": true, \\"n\\": ${N}}"'


def test_a_call_without_a_shell_form_is_quoted_for_doing_by_hand(tmp_path: Path) -> None:
    from hybridops.runbook.model import Runbook

    data = load_runbook(PACKAGED / "outage.yaml").runbook.model_dump(by_alias=True, exclude_none=True)
    step = data["phases"][0]["steps"][0]
    step["http"]["path"] = "/health/{{ steps['x'].status }}"
    page = render_markdown(Runbook.model_validate(data))
    assert "By hand (no shell form for {{ steps['x'].status }}): `GET /health/{{ steps['x'].status }}`" in page


def test_render_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["render", "no-such-runbook"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-runbook" in err[0] and "Traceback" not in err[0]
    assert run(["render", "--check", str(tmp_path / "missing.md")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.md: cannot read" in err[0]


def test_a_value_later_lines_need_is_assigned_even_among_several_captures() -> None:
    from hybridops.markdown.commands import aws_command
    from hybridops.runbook.model import AwsCall

    call = AwsCall(service="ecs", operation="DescribeServices", params={"cluster": "c", "services": ["s"]},
                   capture={"status": "services[0].status", "td": "services[0].taskDefinition"})
    cmd = aws_command(call, needed={"td"})
    text = "\n".join(cmd.lines)
    assert "--query '{status: services[0].status, td: services[0].taskDefinition}'" in text
    assert "TD=$(aws ecs describe-services" in text
    assert cmd.assigns == ("td",)
