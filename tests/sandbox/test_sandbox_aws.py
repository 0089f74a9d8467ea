"""boto3 reaches every seeded resource and every extra operation through the one AWS endpoint."""

from __future__ import annotations

import collections
import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from hybridops.sandbox import Sandbox

MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
PROMPT = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                     "messages": [{"role": "user", "content": "test"}]})
ERROR_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR (TimeoutError|ThrottlingException|ValidationException"
    r"|AuthenticationError): .+ operation=[\w-]+ request_id=[0-9a-f-]{36}$")


def routing_service(aws, cluster="hybrid-routing-cluster", service="hybrid-routing-service") -> dict:
    return aws("ecs").describe_services(cluster=cluster, services=[service])["services"][0]


def errors_last_15_min(aws) -> list[str]:
    start = int((time.time() - 15 * 60) * 1000)
    pages = aws("logs").get_paginator("filter_log_events").paginate(
        logGroupName="/aws/ecs/hybrid-routing", filterPattern="ERROR", startTime=start)
    return [e["message"] for page in pages for e in page["events"]]


def test_ecs_services_task_roles_and_tasks(scenario, aws) -> None:
    scenario("healthy")
    for cluster, service, desired in (("hybrid-routing-cluster", "hybrid-routing-service", 3),
                                      ("mcp-cluster", "mcp-router-service", 2)):
        svc = routing_service(aws, cluster, service)
        assert svc["status"] == "ACTIVE" and svc["runningCount"] == desired == svc["desiredCount"]
        td = aws("ecs").describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w-]+-task-role", td["taskRoleArn"])
        tasks = aws("ecs").list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
        assert len(tasks) == desired
    assert aws("ecs").list_clusters()["clusterArns"] == [
        a for a in aws("ecs").list_clusters()["clusterArns"] if a.endswith(("/hybrid-routing-cluster", "/mcp-cluster"))]


def test_target_group_from_the_service_has_healthy_targets(scenario, aws) -> None:
    scenario("healthy")
    tg = routing_service(aws)["loadBalancers"][0]["targetGroupArn"]
    states = [t["TargetHealth"]["State"] for t in aws("elbv2").describe_target_health(TargetGroupArn=tg)[
        "TargetHealthDescriptions"]]
    assert states == ["healthy"] * 3


def test_outage_shows_in_ecs_alb_metrics_and_recovers_by_deployment_and_reset(scenario, aws, admin, wait_for):
    sb = scenario("outage")
    svc = routing_service(aws)
    assert svc["runningCount"] == 1 and svc["pendingCount"] == 2
    tg = svc["loadBalancers"][0]["targetGroupArn"]
    health = aws("elbv2").describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    assert {t["TargetHealth"]["State"] for t in health} == {"unhealthy"}
    now = datetime.now(UTC)
    points = aws("cloudwatch").get_metric_statistics(
        Namespace="HybridRouting/Health", MetricName="SystemHealth", StartTime=now - timedelta(minutes=5),
        EndTime=now, Period=60, Statistics=["Average"])["Datapoints"]
    assert points and max(p["Average"] for p in points) <= 10
    assert admin.get("/health").status_code == 503

    out = aws("ecs").update_service(cluster="hybrid-routing-cluster", service="hybrid-routing-service",
                                    forceNewDeployment=True)["service"]
    assert out["deployments"][0]["rolloutState"] == "IN_PROGRESS"  # not done the moment it is asked
    assert admin.post("/admin/circuit-breaker/reset").status_code == 200
    wait_for(lambda: sb.status()["recovered"])
    svc = routing_service(aws)
    assert svc["runningCount"] == 3 and [d["rolloutState"] for d in svc["deployments"]] == ["COMPLETED"]
    assert svc["deployments"][0]["id"] == out["deployments"][0]["id"]
    health = aws("elbv2").describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    assert [t["TargetHealth"]["State"] for t in health] == ["healthy"] * 3
    assert admin.get("/health").status_code == 200


def test_error_lines_in_the_last_15_minutes(scenario, aws) -> None:
    scenario("healthy")
    healthy = errors_last_15_min(aws)
    assert healthy and all(ERROR_LINE.match(m) for m in healthy)
    types = collections.Counter(m.split("ERROR ", 1)[1].split(":", 1)[0] for m in healthy)
    assert max(types.values()) <= len(healthy) / 2  # no type dominates

    scenario("error-spike")
    spike = errors_last_15_min(aws)
    types = collections.Counter(m.split("ERROR ", 1)[1].split(":", 1)[0] for m in spike)
    assert len(spike) >= 90
    assert types.most_common(1)[0][0] == "TimeoutError" and types["TimeoutError"] / len(spike) >= 0.55
    assert set(types) == {"TimeoutError", "ThrottlingException", "ValidationException", "AuthenticationError"}
    assert all("timed out after 10000ms" in m for m in spike if "TimeoutError" in m)


def test_routing_decisions_are_json_within_the_hour(scenario, aws) -> None:
    scenario("efficiency-drop")
    events = aws("logs").filter_log_events(
        logGroupName="/aws/ecs/hybrid-routing", filterPattern='{ $.type = "routing-decision" }',
        startTime=int((time.time() - 3600) * 1000))["events"]
    decisions = [json.loads(e["message"]) for e in events]
    assert len(decisions) >= 50
    assert all({"operation", "route", "reason"} <= set(d) for d in decisions)
    assert {d["route"] for d in decisions} <= {"direct-bedrock", "mcp-router"}
    fallbacks = sum(d["reason"] == "health-fallback" for d in decisions)
    assert fallbacks / len(decisions) > 0.35
    plain = aws("logs").filter_log_events(logGroupName="/aws/ecs/hybrid-routing", filterPattern="routing-decision",
                                          startTime=int((time.time() - 3600) * 1000))["events"]
    assert len(plain) == len(events)


def test_mcp_down_queue_grows_router_logs_errors_and_deployment_recovers(scenario, aws, admin, wait_for):
    sb = scenario("mcp-down")
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName="mcp-router-queue")["QueueUrl"]

    def depth() -> int:
        return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"]["ApproximateNumberOfMessages"])

    first = depth()
    assert first >= 800
    wait_for(lambda: depth() > first)  # 120 a simulated minute: one every 4 ms at time scale 120
    router_errors = aws("logs").filter_log_events(logGroupName="/aws/ecs/mcp-router", filterPattern="ERROR",
                                                  startTime=int((time.time() - 600) * 1000))["events"]
    assert len(router_errors) >= 20
    assert admin.get("/health/component/mcp-router").json()["status"] == "critical"
    aws("ecs").update_service(cluster="mcp-cluster", service="mcp-router-service", forceNewDeployment=True)
    wait_for(lambda: sb.status()["recovered"])
    assert admin.get("/health/component/mcp-router").json()["status"] == "healthy"
    peak = depth()
    wait_for(lambda: depth() < peak)  # the router drains its backlog


def test_bedrock_down_health_event_and_invoke_model(scenario, aws, admin) -> None:
    scenario("bedrock-down")
    events = aws("health", "us-east-1").describe_events(filter={"services": ["BEDROCK"]})["events"]
    assert [(e["service"], e["statusCode"], e["eventTypeCategory"]) for e in events] == [("BEDROCK", "open", "issue")]
    details = aws("health", "us-east-1").describe_event_details(eventArns=[events[0]["arn"], "arn:x"])
    assert "InvokeModel" in details["successfulSet"][0]["eventDescription"]["latestDescription"]
    assert [f["eventArn"] for f in details["failedSet"]] == ["arn:x"]
    with pytest.raises(ClientError) as err:
        aws("bedrock-runtime").invoke_model(modelId=MODEL, body=PROMPT)
    assert err.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert admin.post("/admin/bedrock/test").json()["ok"] is False
    assert aws("health", "us-east-1").describe_events(filter={"services": ["EC2"]})["events"] == []


def test_healthy_bedrock_answers_like_anthropic_on_bedrock(scenario, aws) -> None:
    scenario("healthy")
    assert aws("health", "us-east-1").describe_events(filter={"services": ["BEDROCK"]})["events"] == []
    out = aws("bedrock-runtime").invoke_model(modelId=MODEL, body=PROMPT)
    body = json.loads(out["body"].read())
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["content"][0]["type"] == "text" and body["content"][0]["text"]
    assert body["usage"]["output_tokens"] <= 10
    with pytest.raises(ClientError, match="ValidationException"):
        aws("bedrock-runtime").invoke_model(modelId="no.such-model", body=PROMPT)
    with pytest.raises(ClientError, match="ValidationException"):
        aws("bedrock-runtime").invoke_model(modelId=MODEL, body=json.dumps({"prompt": "x"}))


def test_iam_simulation_and_vpc_endpoint(scenario, aws) -> None:
    scenario("bedrock-down")
    td = aws("ecs").describe_task_definition(taskDefinition="hybrid-routing")["taskDefinition"]
    results = aws("iam").simulate_principal_policy(
        PolicySourceArn=td["taskRoleArn"], ActionNames=["bedrock:InvokeModel", "s3:DeleteBucket"],
        ResourceArns=["*"])["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in results] == [
        ("bedrock:InvokeModel", "allowed"), ("s3:DeleteBucket", "implicitDeny")]
    with pytest.raises(ClientError, match="NoSuchEntity"):
        aws("iam").simulate_principal_policy(PolicySourceArn="arn:aws:iam::111111111111:role/nobody",
                                             ActionNames=["bedrock:InvokeModel"])
    endpoints = aws("ec2").describe_vpc_endpoints(Filters=[
        {"Name": "service-name", "Values": ["com.amazonaws.eu-central-1.bedrock-runtime"]}])["VpcEndpoints"]
    assert len(endpoints) == 1 and endpoints[0]["VpcEndpointType"] == "Interface"


def test_calls_are_recorded_with_service_operation_and_params(scenario, aws) -> None:
    sb = scenario("healthy")
    aws("sts").get_caller_identity()
    aws("ecs").describe_services(cluster="mcp-cluster", services=["mcp-router-service"])
    aws("sqs").get_queue_url(QueueName="mcp-router-queue")
    aws("bedrock-runtime").invoke_model(modelId=MODEL, body=PROMPT)
    calls = [(c["api"], c["service"], c["operation"]) for c in sb.requests()]
    assert calls == [("aws", "sts", "GetCallerIdentity"), ("aws", "ecs", "DescribeServices"),
                     ("aws", "sqs", "GetQueueUrl"), ("aws", "bedrock-runtime", "InvokeModel")]
    params = [c["params"] for c in sb.requests()]
    assert params[1] == {"cluster": "mcp-cluster", "services": ["mcp-router-service"]}
    assert params[2] == {"QueueName": "mcp-router-queue"}
    assert params[3]["modelId"] == MODEL and params[3]["body"]["max_tokens"] == 10


def test_sts_answers_with_the_sandbox_account(sandbox, aws) -> None:
    assert aws("sts").get_caller_identity()["Account"] == sandbox.account_id


def test_moto_reset_is_not_reachable(sandbox) -> None:
    import httpx

    assert httpx.post(f"{sandbox.aws_url}/moto-api/reset").status_code == 404


def test_two_sandboxes_in_one_process_do_not_share_resources(scenario, aws) -> None:
    scenario("healthy")
    with Sandbox(scenario="mcp-down") as other:
        import boto3

        env = other.env
        sqs = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b",
                                    region_name="eu-central-1").client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"])
        url = sqs.get_queue_url(QueueName="mcp-router-queue")["QueueUrl"]
        assert int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"]) >= 800
    mine = aws("sqs").get_queue_url(QueueName="mcp-router-queue")["QueueUrl"]
    assert int(aws("sqs").get_queue_attributes(QueueUrl=mine, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessages"]) < 100
    assert routing_service(aws)["runningCount"] == 3


def test_bedrock_service_quotas(scenario, aws) -> None:
    scenario("error-spike")
    quotas = aws("service-quotas").list_service_quotas(ServiceCode="bedrock")["Quotas"]
    assert any("InvokeModel" in q["QuotaName"] and q["Value"] > 0 for q in quotas)
    assert aws("service-quotas").list_service_quotas(ServiceCode="ec2")["Quotas"] == []


def test_an_operation_moto_lacks_is_501_not_a_crash(scenario, aws, capfd) -> None:
    scenario("healthy")
    with pytest.raises(ClientError) as err:
        aws("service-quotas").list_requested_service_quota_change_history()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "Traceback" not in capfd.readouterr().err
    assert aws("sts").get_caller_identity()["Account"]  # still serving


# ---- a service in a region that has no endpoint for it ------------------------------------------------
def _offered(service: str) -> set[str]:
    """Where botocore's endpoint data has `service`: its own entry, or (bedrock-runtime) the
    `<service>-<region>` endpoints listed under another service's entry."""
    import botocore.session

    session = botocore.session.Session()
    regions = set(session.get_available_regions(service))
    endpoints = session.get_component("data_loader").load_data("endpoints")
    for partition in endpoints["partitions"]:
        for entry in partition["services"].values():
            regions |= {key[len(service) + 1:] for key in entry.get("endpoints", {})
                        if key.startswith(f"{service}-") and key[len(service) + 1:] in partition["regions"]}
    return regions


@pytest.mark.parametrize(("service", "region", "call"), [
    ("bedrock-runtime", "af-south-1", lambda c: c.invoke_model(modelId=MODEL, body=PROMPT)),  # REST-JSON
    ("bedrock-runtime", "me-central-1", lambda c: c.invoke_model(modelId=MODEL, body=PROMPT)),
    ("bedrock", "ap-east-1", lambda c: c.list_foundation_models()),
    ("ecs", "eu-centrall-1", lambda c: c.list_clusters()),  # JSON 1.1; a region botocore does not know
    ("sqs", "us-east-9", lambda c: c.list_queues()),
    ("ec2", "mars-north-1", lambda c: c.describe_vpcs()),  # EC2's own XML
    ("cloudwatch", "eu-central-3", lambda c: c.list_metrics()),  # the query protocol's XML
])
def test_a_service_where_botocore_offers_no_endpoint_fails_as_botocore_would(scenario, aws, sandbox, service,
                                                                             region, call) -> None:
    scenario("bedrock-down")
    assert _offered(service) and region not in _offered(service)
    with pytest.raises(ClientError) as refused:
        call(aws(service, region))
    error = refused.value.response["Error"]
    assert error["Code"] == "EndpointConnectionError"
    assert error["Message"].startswith("Could not connect to the endpoint URL: \"https://")
    assert f".{region}.amazonaws.com/" in error["Message"] and region in error["Message"].rsplit("(", 1)[1]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 421
    recorded = sandbox.requests()
    assert len(recorded) == 1 and recorded[0]["no_endpoint"] == region


def test_a_refused_region_is_refused_before_any_injected_fault(scenario, aws, sandbox) -> None:
    scenario("healthy")
    sandbox.faults.add({"kind": "aws-throttle", "count": 5})
    with pytest.raises(ClientError, match="EndpointConnectionError"):
        aws("bedrock-runtime", "af-south-1").invoke_model(modelId=MODEL, body=PROMPT)
    with pytest.raises(ClientError, match="Throttling"):  # the fault is still there for a real endpoint
        aws("ecs").list_clusters()


@pytest.mark.parametrize(("service", "region", "call"), [
    ("bedrock-runtime", "us-east-1", lambda c: c.invoke_model(modelId=MODEL, body=PROMPT)),
    ("ecs", "af-south-1", lambda c: c.list_clusters()),
    ("iam", "ap-south-2", lambda c: c.list_roles()),  # global: one endpoint for every region
    ("health", "us-east-1", lambda c: c.describe_events()),
    ("sts", "ca-west-1", lambda c: c.get_caller_identity()),
    ("logs", "eu-west-1", lambda c: c.describe_log_groups()),
])
def test_a_service_in_a_region_that_offers_it_is_served(scenario, aws, sandbox, service, region, call) -> None:
    scenario("healthy")
    assert region in _offered(service) or service in ("iam", "health")  # global: one endpoint
    call(aws(service, region))
    assert "no_endpoint" not in sandbox.requests()[-1]
