"""Values the seeding and the extra operations give, as boto3 reads them over the sandbox's endpoint."""

from __future__ import annotations

import json
from typing import Any

MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
PROMPT = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                     "messages": [{"role": "user", "content": "how is the routing tier?"}]})
GROUP = "/aws/ecs/hybrid-routing"


def test_the_routing_vpc_has_dns_hostnames_and_the_log_groups_a_retention_in_days(scenario: Any, aws: Any) -> None:
    scenario("healthy")
    vpcs = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["hybrid-routing-vpc"]}])["Vpcs"]
    assert len(vpcs) == 1
    attr = aws("ec2").describe_vpc_attribute(VpcId=vpcs[0]["VpcId"], Attribute="enableDnsHostnames")
    assert attr["EnableDnsHostnames"]["Value"] is True
    groups = aws("logs").describe_log_groups(logGroupNamePrefix="/aws/ecs/")["logGroups"]
    assert groups and {g["retentionInDays"] for g in groups} == {30}


def test_bedrock_token_count_headers_match_the_usage_in_the_body(scenario: Any, aws: Any) -> None:
    scenario("healthy")
    out = aws("bedrock-runtime").invoke_model(modelId=MODEL, body=PROMPT)
    usage = json.loads(out["body"].read())["usage"]
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    assert usage["input_tokens"] >= 1
    assert headers["x-amzn-bedrock-input-token-count"] == str(usage["input_tokens"])
    assert headers["x-amzn-bedrock-output-token-count"] == str(usage["output_tokens"])


def test_filter_log_events_without_a_time_window_searches_every_event(scenario: Any, aws: Any) -> None:
    scenario("error-spike")
    logs = aws("logs")
    every = logs.filter_log_events(logGroupName=GROUP)["events"]
    errors = logs.filter_log_events(logGroupName=GROUP, filterPattern="ERROR")["events"]
    assert errors and len(errors) < len(every)
    assert all("ERROR" in e["message"] for e in errors)
    last = max(e["timestamp"] for e in every)
    after = logs.filter_log_events(logGroupName=GROUP, filterPattern="ERROR", startTime=last + 1)["events"]
    assert after == []
