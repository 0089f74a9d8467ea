"""JSON filter patterns, which the sandbox evaluates because moto matches everything for them."""

from __future__ import annotations

import json

import pytest

from hybridops.sandbox.logpattern import compile_pattern, is_json_pattern

DECISION = json.dumps({"type": "routing-decision", "operation": "text-generation", "route": "mcp-router",
                       "reason": "health-fallback", "latencyMs": 4200, "forced": False, "tags": ["a", "b"],
                       "extra": None})


@pytest.mark.parametrize(("pattern", "hit"), [
    ('{ $.type = "routing-decision" }', True),
    ("{ $.type = routing-decision }", True),
    ('{ $.type = "routing-*" }', True),
    ('{ $.type != "routing-decision" }', False),
    ('{ $.route = "direct-bedrock" }', False),
    ("{ $.latencyMs > 4000 }", True),
    ("{ $.latencyMs <= 4000 }", False),
    ("{ $.latencyMs = 4200 }", True),
    ('{ $.type = "routing-decision" && $.latencyMs >= 5000 }', False),
    ('{ $.route = "direct-bedrock" || $.reason = "health-fallback" }', True),
    ('{ ($.route = "x" || $.route = "mcp-router") && $.latencyMs < 5000 }', True),
    ("{ $.forced IS FALSE }", True),
    ("{ $.extra IS NULL }", True),
    ("{ $.missing NOT EXISTS }", True),
    ("{ $.type NOT EXISTS }", False),
    ('{ $.tags[1] = "b" }', True),
    ('{ $.missing = "x" }', False),
    ('{ $.missing != "x" }', False),  # a missing property matches no comparison
])
def test_json_patterns(pattern: str, hit: bool) -> None:
    assert is_json_pattern(pattern)
    assert compile_pattern(pattern)(DECISION) is hit


def test_plain_lines_never_match_a_json_pattern() -> None:
    line = '2026-11-25T17:40:01.123Z ERROR TimeoutError: x type="routing-decision"'
    assert compile_pattern('{ $.type = "routing-decision" }')(line) is False
    assert not is_json_pattern("ERROR") and not is_json_pattern(None)


@pytest.mark.parametrize("pattern", ["{ $.a = }", "{ a = 1 }", "{ $.a > \"x\" }", "{ ($.a = 1 }", "$.a = 1"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        compile_pattern(pattern)


def test_the_endpoint_filters_json_patterns_and_pages(scenario, aws) -> None:
    import time

    scenario("healthy")
    logs = aws("logs")
    start = int((time.time() - 3600) * 1000)
    kw = {"logGroupName": "/aws/ecs/hybrid-routing", "startTime": start}
    fallback = logs.filter_log_events(filterPattern='{ $.reason = "health-fallback" }', **kw)["events"]
    assert all(json.loads(e["message"])["reason"] == "health-fallback" for e in fallback)
    everything = logs.filter_log_events(filterPattern='{ $.type = "routing-decision" }', **kw)["events"]
    assert 0 < len(fallback) < len(everything)
    pages = logs.get_paginator("filter_log_events").paginate(
        filterPattern='{ $.type = "routing-decision" }', PaginationConfig={"PageSize": 7}, **kw)
    paged = [e["eventId"] for p in pages for e in p["events"]]
    assert paged == [e["eventId"] for e in everything]
    with pytest.raises(Exception, match="InvalidParameterException"):
        logs.filter_log_events(filterPattern="{ $.a = }", **kw)
