"""CloudWatch Logs filter patterns, which the sandbox evaluates as CloudWatch does: moto matches every
event for most of them (`?ERROR ?WARN`, `-DEBUG`, `%regex%`, `[...]`, `{...}`)."""

from __future__ import annotations

import json

import pytest

from hybridops.sandbox.logpattern import PatternError, compile_pattern

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
    assert compile_pattern(pattern)(DECISION) is hit


def test_plain_lines_never_match_a_json_pattern() -> None:
    line = '2026-11-25T17:40:01.123Z ERROR TimeoutError: x type="routing-decision"'
    assert compile_pattern('{ $.type = "routing-decision" }')(line) is False


@pytest.mark.parametrize("pattern", ["{ $.a = }", "{ a = 1 }", "{ $.a > \"x\" }", "{ ($.a = 1 }", "$.a = 1"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
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


# ---- every kind of pattern, on the messages of AWS's own examples ------------------------------------
LINES = {
    "both": "ERROR WARN message",
    "error": "ERROR message",
    "warn": "WARN message",
    "code": "Exiting with ERRORCODE: -1",
    "lower": "error: lower case is another word",
    "phrase": "[WARN] Failed to process the request",
    "decision": '{"type": "routing-decision", "latencyMs": 4200}',
}
APACHE = {
    "ok": '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534',
    "err": '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /index.html HTTP/1.0" 500 5324',
    "missing": '10.0.0.9 - - [10/Oct/2000:13:50:35 -0700] "POST /form.html HTTP/1.1" 404 355',
}


def _hits(pattern: str, lines: dict[str, str]) -> set[str]:
    matches = compile_pattern(pattern)
    return {name for name, line in lines.items() if matches(line)}


@pytest.mark.parametrize(("pattern", "hits"), [
    ("", set(LINES)),
    ("   ", set(LINES)),
    ("ERROR", {"both", "error", "code"}),  # anywhere in the message, case-sensitive
    ("error", {"lower"}),
    ("ERROR WARN", {"both"}),
    ("WARN ERROR", {"both"}),
    ("?ERROR ?WARN", {"both", "error", "warn", "code", "phrase"}),
    ("ERROR -WARN", {"error", "code"}),
    ('"ERROR" - "Exiting"', {"both", "error"}),  # AWS's example, with a space after the minus
    ("-ERROR", {"warn", "lower", "phrase", "decision"}),
    ("-ERROR -WARN", {"lower", "decision"}),
    ('"Failed to process"', {"phrase"}),
    ('"failed to process"', set()),
    ("Failed to process", {"phrase"}),  # three terms, in any order
    ('?"Failed to" ?"ERRORCODE:"', {"phrase", "code"}),
    ('"ERRORCODE: -1"', {"code"}),
    ("routing-decision", {"decision"}),
    ('"[WARN]"', {"phrase"}),
    ("%ERROR%", {"both", "error", "code"}),
    ("%^ERROR%", {"both", "error"}),
    ("%message$%", {"both", "error", "warn"}),
    ("%[Ee]rror|WARN%", {"both", "warn", "lower", "phrase"}),
    ("%ERRORCODE:%", {"code"}),
    ("%ERR.R%", {"both", "error", "code"}),
])
def test_unstructured_patterns(pattern: str, hits: set[str]) -> None:
    assert _hits(pattern, LINES) == hits


@pytest.mark.parametrize(("pattern", "hits"), [
    ("[w1=ERROR, w2]", {"error"}),  # the counts must agree: "ERROR WARN message" has three fields
    ("[w1=ERROR || w1=WARN, w2]", {"error", "warn"}),
    ("[w1, w2, w3]", {"both"}),
    ("[w1=ERROR, ...]", {"both", "error"}),
    ("[..., w=message]", {"both", "error", "warn"}),
    ("[w1, w2=WARN, ...]", {"both"}),
    ("[w1 != ERROR, w2]", {"warn"}),
    ("[w1 = ERR*, ...]", {"both", "error"}),
    ("[w1 = %^W%, w2]", {"warn"}),
])
def test_space_delimited_words(pattern: str, hits: set[str]) -> None:
    assert _hits(pattern, {k: LINES[k] for k in ("both", "error", "warn")}) == hits


@pytest.mark.parametrize(("pattern", "hits"), [
    ("[ip, user, username, timestamp, request, status_code, bytes]", {"ok", "err", "missing"}),
    ("[ip, user, username, timestamp, request, status_code, bytes > 1000]", {"ok", "err"}),
    ("[ip, user, username, timestamp, request, status_code = 200, bytes]", {"ok"}),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", {"missing"}),
    ("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", {"missing"}),
    ("[ip, user, username, timestamp, request = *html*, status_code >= 400, bytes]", {"err", "missing"}),
    ("[ip, user, username, timestamp, request, status_code = 4* || status_code = 5*, bytes]", {"err", "missing"}),
    ("[ip, user, username, timestamp, request, status_code = 5* && bytes > 5000, bytes]", {"err"}),
    ("[..., status_code, bytes]", {"ok", "err", "missing"}),
    ("[ip, user, ..., status_code = 200, bytes]", {"ok"}),
    ("[ip, user, ...]", {"ok", "err", "missing"}),
    ("[..., request=*.html*, status_code=4*,]", {"missing"}),  # AWS's example: the empty field is the bytes
    ("[ip, , , timestamp, request, status_code = 200, ]", {"ok"}),
    ('[ip = "10.0.0.9", ...]', {"missing"}),
    ("[ip = 127.0.0.*, ...]", {"ok", "err"}),
    ("[..., timestamp = *13:35*, request, status_code, bytes]", {"err"}),  # [...] is one field
    ("[ip, user, username, timestamp, request, status_code]", set()),  # one field too few
    ("[ip, user, username, timestamp, request, status_code, bytes, more]", set()),
    ("[ip, ..., bytes < 1000]", {"missing"}),
    ("[ip, user = -, ...]", {"ok", "err", "missing"}),
])
def test_space_delimited_fields(pattern: str, hits: set[str]) -> None:
    assert _hits(pattern, APACHE) == hits


@pytest.mark.parametrize(("pattern", "hit"), [
    ("{ $.latencyMs = * }", True),
    ("{ $.latencyMs > +4000 }", True),
    ("{ $.latencyMs < 5e3 }", True),
    ("{ $.latencyMs >= 4.2e3 && $.latencyMs <= 4200.0 }", True),
    ('{ $.reason = %^health-% }', True),
    ('{ $.reason != %fallback$% }', False),
    ('{ $.type = "routing?decision" }', False),  # only * is a wildcard
    ('{ $.tags = "a" }', False),  # an array matches no comparison
    ('{ $.operation = text* && ($.route = "direct-bedrock" || $.latencyMs > 4000) }', True),
    ('{ $.type = "routing-decision" || $.missing = 1 && $.route = "x" }', True),  # && binds tighter
    ('{ ($.type = "routing-decision" || $.missing = 1) && $.route = "x" }', False),
])
def test_json_pattern_values(pattern: str, hit: bool) -> None:
    assert compile_pattern(pattern)(DECISION) is hit


@pytest.mark.parametrize("pattern", [
    "ERROR:",  # terms with characters other than letters, digits and _ are quoted
    "request_id=abc",
    "ERROR (timeout)",
    "café",
    '"unterminated',
    "?",
    "ERROR -",
    "%something!%",  # AWS's own example of a refused regex
    "%(ERROR|WARN)%",  # no parentheses
    "%ERROR message%",  # nor spaces
    "%ERROR",
    "%%",
    "%[a-%",
    "%café%",
    "{ $.a = 1",
    "{ }",
    "{ $.a == 1 }",
    "{ $.a = 1 } ERROR",
    "{ $[0] = 1 }",
    "{ $.a = %x% && $.b = %y% && $.c = %z% }",  # at most two regular expressions
    "{ $.a = \"bad \\q escape\" }",
    "[a, b",
    "[a = 1, a]",
    "[a, b = 4* && c > 1]",  # c is not a field
    "[a > x, b]",
    "[a-, b]",
    "[a = , b]",
    "x" * 1025,
])
def test_patterns_cloudwatch_refuses_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)


def test_many_ellipses_on_a_long_message_stay_cheap() -> None:
    import time

    words = " ".join(f"w{i}" for i in range(400))
    t = time.perf_counter()
    compile_pattern("[..., a = w1, ..., b = nope, ..., c, ...]")(words)
    assert time.perf_counter() - t < 30  # a bound, not a timing: exponential enumeration would never end


# ---- over the sandbox's AWS endpoint ------------------------------------------------------------------
@pytest.fixture
def group(scenario, aws) -> str:
    import time
    import uuid

    scenario("healthy")
    logs = aws("logs")
    name = f"/test/patterns-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=name, logStreamName="s", logEvents=[
        {"timestamp": now + i, "message": m} for i, m in enumerate([*LINES.values(), *APACHE.values()])])
    return name


@pytest.mark.parametrize(("pattern", "expected"), [
    ("?ERROR ?WARN", [LINES[k] for k in ("both", "error", "warn", "code", "phrase")]),
    ("ERROR -WARN", [LINES["error"], LINES["code"]]),
    ("-ERROR -WARN -GET -POST", [LINES["lower"], LINES["decision"]]),
    ('"Failed to process"', [LINES["phrase"]]),
    ("%^ERROR%", [LINES["both"], LINES["error"]]),
    ("[w1=ERROR || w1=WARN, w2]", [LINES["error"], LINES["warn"]]),
    ("[..., status_code = 4* || status_code = 5*, bytes]", [APACHE["err"], APACHE["missing"]]),
    ('{ $.type = "routing-decision" }', [LINES["decision"]]),
])
def test_filter_log_events_follows_cloudwatch(aws, group, pattern, expected) -> None:
    events = aws("logs").filter_log_events(logGroupName=group, filterPattern=pattern)["events"]
    assert [e["message"] for e in events] == expected


@pytest.mark.parametrize("pattern", ["%something!%", "ERROR:", "[a, b", "{ $.a = }", '"open'])
def test_an_unsupported_pattern_is_invalid_parameter_not_everything(aws, group, pattern) -> None:
    from botocore.exceptions import ClientError

    logs = aws("logs")
    for call in (lambda: logs.filter_log_events(logGroupName=group, filterPattern=pattern),
                 lambda: logs.put_metric_filter(logGroupName=group, filterName="f", filterPattern=pattern,
                                                metricTransformations=[{"metricName": "m", "metricNamespace": "n",
                                                                        "metricValue": "1"}]),
                 lambda: logs.test_metric_filter(filterPattern=pattern, logEventMessages=["x"])):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
        assert "filter pattern" in refused.value.response["Error"]["Message"]


def test_test_metric_filter_matches_as_filter_log_events_does(aws) -> None:
    messages = list(LINES.values())
    found = aws("logs").test_metric_filter(filterPattern="?ERROR ?WARN", logEventMessages=messages)["matches"]
    assert [m["eventMessage"] for m in found] == [LINES[k] for k in ("both", "error", "warn", "code", "phrase")]
    assert [m["eventNumber"] for m in found] == [1, 2, 3, 4, 6]


def test_filter_log_events_by_group_identifier_and_in_another_region(aws, group) -> None:
    import time

    logs = aws("logs")
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"]
    by_arn = logs.filter_log_events(logGroupIdentifier=arn.removesuffix(":*"), filterPattern="%^WARN%")["events"]
    assert [e["message"] for e in by_arn] == [LINES["warn"]]
    other = aws("logs", "eu-west-1")
    other.create_log_group(logGroupName=group)
    other.create_log_stream(logGroupName=group, logStreamName="s")
    other.put_log_events(logGroupName=group, logStreamName="s",
                         logEvents=[{"timestamp": int(time.time() * 1000), "message": "WARN only here"}])
    assert [e["message"] for e in other.filter_log_events(logGroupName=group, filterPattern="WARN")["events"]] == [
        "WARN only here"]


# ---- CloudWatch's regular expressions, without backtracking -------------------------------------------
def _regex_cases():
    from hypothesis import strategies as st

    atom = st.sampled_from(["a", "b", "1", ".", "[ab]", "[^a]", "[a-b1]", "\\d", "\\w", "\\s", "\\.", "-", ":"])
    quantifier = st.sampled_from(["", "", "?", "*", "+", "{2}", "{0,2}", "{1,}", "*?", "+?", "??"])
    piece = st.tuples(atom, quantifier).map("".join)
    alternative = st.tuples(st.sampled_from(["", "^"]), st.lists(piece, min_size=1, max_size=5).map("".join),
                            st.sampled_from(["", "$"])).map("".join)
    body = st.lists(alternative, min_size=1, max_size=3).map("|".join)
    text = st.text(alphabet="ab1. -:\n", max_size=12)
    return body, st.lists(text, min_size=1, max_size=6)


def test_cloudwatch_regexes_match_as_python_re_does() -> None:
    import re

    from hypothesis import given, settings

    from hybridops.sandbox.cwregex import compile_regex

    body, texts = _regex_cases()

    @settings(max_examples=400, deadline=None, database=None)
    @given(body, texts)
    def agree(pattern: str, samples: list[str]) -> None:
        ours = compile_regex(pattern)
        for text in samples:
            assert ours.search(text) == bool(re.search(pattern, text)), (pattern, text)

    agree()


@pytest.mark.parametrize("pattern", ["%.*.*.*.*.*.*.*.*x%", "%a*a*a*a*a*a*a*a*a*b%", "%[a-z]+[a-z]+[a-z]+[a-z]+1%"])
def test_a_regex_python_would_backtrack_on_is_answered(pattern: str) -> None:
    import time

    t = time.perf_counter()
    assert compile_pattern(pattern)("a" * 3000) is False
    assert time.perf_counter() - t < 30  # a bound, not a timing: backtracking would take years


def test_wildcards_with_many_stars_are_answered() -> None:
    matches = compile_pattern('{ $.m = "*a*a*a*a*a*a*a*a*a*a*b" }')
    assert matches(json.dumps({"m": "a" * 5000})) is False
    assert matches(json.dumps({"m": "a" * 20 + "b"})) is True
    assert compile_pattern('{ $.m = "x*y" }')(json.dumps({"m": "xy"})) is True
    assert compile_pattern('{ $.m = "x*x" }')(json.dumps({"m": "x"})) is False
