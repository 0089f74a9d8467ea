"""Each scenario over the wire: its symptoms, the source runbook's action recovers it, a wrong one does not."""

from __future__ import annotations

import json

import pytest

from hybridops.engine.clock import SimClock
from hybridops.sandbox import SCENARIOS, Sandbox
from hybridops.sandbox.scenarios import BEDROCK_OUTAGE_S
from hybridops.sandbox.world import MCP_SERVICE

FORCE_MCP = {"reason": "Bedrock unavailable", "duration": 3600}
THRESHOLDS = {"directBedrockLatencyThreshold": 8000, "mcpLatencyThreshold": 25000, "fallbackAggressiveness": 0.7}


def deploy(aws, cluster: str, service: str) -> None:
    aws("ecs").update_service(cluster=cluster, service=service, forceNewDeployment=True)


@pytest.mark.parametrize("name", SCENARIOS)
def test_state_over_http_is_status(scenario, anonymous, name) -> None:
    sb = scenario(name)
    over_http = anonymous.get("/_sandbox/state").json()
    local = sb.status()
    for key in ("scenario", "healthy", "recovered", "mitigated_at"):
        assert over_http[key] == local[key]
    assert over_http["health"]["status"] == local["health"]["status"]
    assert local["recovered"] is (name == "healthy")


def test_bedrock_down_force_mcp(scenario, admin) -> None:
    sb = scenario("bedrock-down")
    assert admin.get("/health").json()["status"] == "degraded"
    assert admin.get("/health/component/direct-bedrock").json()["status"] == "critical"
    assert admin.post("/admin/routing/force-mcp", json=FORCE_MCP).json()["ok"] is True
    health = admin.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert health.json()["components"]["direct-bedrock"]["status"] == "critical"
    assert sb.status()["recovered"] is True


def test_bedrock_down_jump_to_100_percent_is_critical(scenario, admin) -> None:
    sb = scenario("bedrock-down")
    admin.post("/admin/routing/force-mcp", json=FORCE_MCP)
    admin.post("/admin/routing/bedrock-percentage", json={"percentage": 100})
    assert admin.get("/health").status_code == 503
    assert sb.status()["recovered"] is False
    assert admin.get("/health/metrics").json()["data"]["forceMcpUntil"] is None


def test_bedrock_down_ends_by_itself_without_counting_as_recovered() -> None:
    with Sandbox(scenario="bedrock-down", clock=SimClock()) as sb:
        import boto3

        session = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b")
        health = session.client("health", region_name="us-east-1", endpoint_url=sb.aws_url)
        assert health.describe_events(filter={"services": ["BEDROCK"]})["events"][0]["statusCode"] == "open"
        sb.clock.advance(BEDROCK_OUTAGE_S)  # 20 simulated minutes, at once
        event = health.describe_events(filter={"services": ["BEDROCK"]})["events"][0]
        assert event["statusCode"] == "closed" and "endTime" in event
        rt = session.client("bedrock-runtime", region_name="eu-central-1", endpoint_url=sb.aws_url)
        body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                           "messages": [{"role": "user", "content": "test"}]})
        assert rt.invoke_model(modelId="anthropic.claude-3-sonnet-20240229-v1:0", body=body)["body"].read()
        status = sb.status()
        assert status["healthy"] is True and status["recovered"] is False


def test_mcp_down_wrong_service_and_force_mcp_do_not_help(scenario, aws, admin, wait_for) -> None:
    sb = scenario("mcp-down")
    deploy(aws, "hybrid-routing-cluster", "hybrid-routing-service")
    wait_for(lambda: aws("ecs").describe_services(cluster="hybrid-routing-cluster", services=[
        "hybrid-routing-service"])["services"][0]["deployments"][0]["rolloutState"] == "COMPLETED")
    assert sb.status()["recovered"] is False
    admin.post("/admin/routing/force-mcp", json=FORCE_MCP)
    assert admin.get("/health").status_code == 503


def test_mcp_down_deployment_of_the_router(scenario, aws, wait_for) -> None:
    sb = scenario("mcp-down")
    deploy(aws, "mcp-cluster", "mcp-router-service")
    assert sb.status()["recovered"] is False  # new tasks are not running yet
    wait_for(lambda: sb.status()["recovered"])
    [done] = sb.world.deployments[MCP_SERVICE]  # the credit goes to the moment its new tasks ran
    assert sb.status()["mitigated_at"] == pytest.approx(sb.world.real_elapsed(done.done_at), abs=0.002)


def test_error_spike_timeout_raise(scenario, admin) -> None:
    sb = scenario("error-spike")
    before = admin.get("/health/metrics").json()["data"]["errorRate"]
    assert before > 5
    admin.post("/admin/circuit-breaker/enable")  # wrong: no cascading failures here
    assert admin.get("/health/metrics").json()["data"]["errorRate"] == before
    assert sb.status()["recovered"] is False
    admin.post("/admin/config/update", json={"timeout": 15000})
    assert admin.get("/health/metrics").json()["data"]["errorRate"] < 1.5
    assert sb.status()["recovered"] is True


def test_efficiency_drop_threshold_update(scenario, admin) -> None:
    sb = scenario("efficiency-drop")
    assert admin.get("/health/metrics").json()["data"]["routingEfficiency"] < 70
    admin.post("/admin/config/update", json={"timeout": 15000})  # wrong
    assert sb.status()["recovered"] is False
    admin.post("/admin/routing/config", json=THRESHOLDS)
    assert admin.get("/health/metrics").json()["data"]["routingEfficiency"] >= 85
    assert sb.status()["recovered"] is True


def test_outage_reset_alone_does_not_end_it(scenario, admin) -> None:
    sb = scenario("outage")
    admin.post("/admin/circuit-breaker/reset")
    assert admin.get("/health").status_code == 503
    assert sb.status()["recovered"] is False
    assert admin.get("/health/metrics").json()["data"]["circuitBreaker"] == "half-open"
