"""The admin API simulator over real HTTP, checked against admin-api.openapi.yaml itself."""

from __future__ import annotations

import json
import time

import pytest
from testsupport import wait_for

from hybridops.sandbox import spec

BODIES = {  # a valid body for every operation that takes one
    "/admin/routing/force-mcp": {"reason": "Bedrock unavailable", "duration": 3600},
    "/admin/routing/bedrock-percentage": {"percentage": 10},
    "/admin/config/update": {"timeout": 15000},
    "/admin/routing/config": {"directBedrockLatencyThreshold": 8000, "mcpLatencyThreshold": 25000,
                              "fallbackAggressiveness": 0.7},
}
SPEC_BREAKING = [  # (path, body, what the error names)
    ("/admin/routing/force-mcp", {"reason": "x"}, "duration"),
    ("/admin/routing/force-mcp", {"reason": "x", "duration": 0}, "duration"),
    ("/admin/routing/force-mcp", {"reason": "", "duration": 10}, "reason"),
    ("/admin/routing/force-mcp", {"reason": "x", "duration": 10, "extra": 1}, "extra"),
    ("/admin/routing/bedrock-percentage", {"percentage": 101}, "percentage"),
    ("/admin/routing/bedrock-percentage", {"percentage": "10"}, "percentage"),
    ("/admin/config/update", {}, ""),
    ("/admin/config/update", {"timeout": 50}, "timeout"),
    ("/admin/routing/config", {"fallbackAggressiveness": 1.5}, "fallbackAggressiveness"),
]


def test_every_spec_operation_answers_as_specified(conforms, scenario, admin) -> None:
    scenario("bedrock-down")
    seen = set()
    for method, template in spec.operations():
        path = template.replace("{component}", "mcp-router")
        r = admin.request(method, path, json=BODIES.get(template))
        conforms(method, template, r)
        assert r.status_code == 200, (template, r.text)
        seen.add(template)
    assert len(seen) == 10


def test_health_is_503_with_the_health_body_when_critical(conforms, scenario, anonymous) -> None:
    scenario("outage")
    r = anonymous.get("/health")
    assert r.status_code == 503
    conforms("GET", "/health", r)
    assert r.json()["status"] == "critical"


def test_component_outside_the_spec_enum_is_404(conforms, scenario, anonymous) -> None:
    scenario("healthy")
    r = anonymous.get("/health/component/database")
    assert r.status_code == 404
    conforms("GET", "/health/component/{component}", r)


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic abc", "Bearer"])
def test_admin_paths_need_the_bearer_token(conforms, scenario, anonymous, sandbox, header) -> None:
    scenario("bedrock-down")
    headers = {"Authorization": header} if header else {}
    for method, template in spec.operations():
        if not template.startswith("/admin/"):
            continue
        r = anonymous.request(method, template, json=BODIES.get(template), headers=headers)
        assert r.status_code == 401, template
        conforms(method, template, r)
        assert sandbox.token not in r.text
    assert sandbox.status()["metrics"]["forceMcpUntil"] is None  # nothing was applied


@pytest.mark.parametrize(("path", "body", "names"), SPEC_BREAKING)
def test_a_body_that_breaks_the_spec_is_400(conforms, scenario, admin, sandbox, path, body, names) -> None:
    scenario("error-spike")
    before = sandbox.status()["metrics"]
    r = admin.post(path, json=body)
    assert r.status_code == 400
    conforms("POST", path, r)
    assert names in r.json()["error"]
    assert sandbox.status()["metrics"] == before


def test_missing_and_non_json_bodies_are_400(scenario, admin) -> None:
    scenario("healthy")
    r = admin.post("/admin/routing/force-mcp")
    assert r.status_code == 400 and "required" in r.json()["error"]
    r = admin.post("/admin/config/update", content=b"{timeout: 15000}", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]


def test_unknown_path_and_wrong_method(scenario, admin) -> None:
    scenario("healthy")
    assert admin.get("/admin/nothing").status_code == 404
    r = admin.get("/admin/routing/force-mcp")
    assert r.status_code == 405 and r.headers["Allow"] == "OPTIONS, POST"


def _allowed(template: str) -> set[str]:
    methods = {m for m, t in spec.operations() if t == template}
    return methods | ({"HEAD"} if "GET" in methods else set()) | {"OPTIONS"}


def _applied_nothing(sandbox, before: dict) -> None:
    assert sandbox.status()["metrics"] == before


def test_head_is_answered_as_get_without_a_body(scenario, admin, sandbox) -> None:
    scenario("outage")
    for method, template in spec.operations():
        if method != "GET":
            continue
        path = template.replace("{component}", "mcp-router")
        got, head = admin.get(path), admin.head(path)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers["content-type"] == got.headers["content-type"] == "application/json"
        assert int(head.headers["content-length"]) > 0  # the length of the body GET would send
    assert admin.head("/health/component/database").status_code == 404  # the GET answer's status, too
    heads = [c for c in sandbox.requests() if c["method"] == "HEAD"]
    assert len(heads) == 4 and all(c["status"] is not None for c in heads)


def test_options_lists_the_methods_of_the_path(scenario, anonymous, sandbox) -> None:
    scenario("healthy")
    before = sandbox.status()["metrics"]
    for template in {t for _, t in spec.operations()}:
        r = anonymous.options(template.replace("{component}", "mcp-router"))
        assert r.status_code == 204 and r.content == b"", template
        assert set(r.headers["Allow"].split(", ")) == _allowed(template), template
    _applied_nothing(sandbox, before)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND", "FROB"])
def test_a_method_the_path_lacks_is_405_json_with_allow(scenario, admin, sandbox, method) -> None:
    scenario("bedrock-down")
    before = sandbox.status()["metrics"]
    refused = 0
    for template in {t for _, t in spec.operations()}:
        if method in _allowed(template):
            continue
        path = template.replace("{component}", "mcp-router")
        r = admin.request(method, path, json=BODIES.get(template))
        assert r.status_code == 405, (method, path, r.text)
        assert r.headers["content-type"] == "application/json" and method in r.json()["error"]
        assert set(r.headers["Allow"].split(", ")) == _allowed(template)
        refused += 1
    assert refused
    _applied_nothing(sandbox, before)


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE", "OPTIONS", "PROPFIND"])
def test_an_unknown_path_is_404_json_whatever_the_method(scenario, admin, method) -> None:
    scenario("healthy")
    for path in ("/admin/nothing", "/", "/health/", "/healthz", "/admin/routing/force-mcp/x"):
        r = admin.request(method, path)
        assert r.status_code == 404, (method, path)
        assert r.headers["content-type"] == "application/json"
        if method != "HEAD":
            assert path in r.json()["error"]


@pytest.mark.parametrize("deep", [b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_json_nested_past_the_stack_is_400_not_a_dropped_connection(scenario, admin, deep) -> None:
    scenario("healthy")
    r = admin.post("/admin/config/update", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    assert admin.get("/health").status_code == 200  # and the server goes on serving


@pytest.mark.parametrize("body", [
    b'{"reason": "x", "duration": NaN}', b'{"reason": "x", "duration": Infinity}',
    b'{"reason": "x", "duration": -Infinity}', b'{"reason": "x", "duration": 60, "n": [NaN]}',
    b'{"reason": "x", "duration": 1e999}', b'{"reason": "x", "duration": -1E+400}',
])
def test_nan_and_infinity_are_not_json(scenario, admin, sandbox, body) -> None:
    scenario("bedrock-down")
    before = sandbox.status()["metrics"]
    r = admin.post("/admin/routing/force-mcp", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    _applied_nothing(sandbox, before)


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml",
                                   "multipart/form-data; boundary=x", "application/jsonx", "text/json"])
def test_a_body_that_is_not_declared_json_is_415(scenario, admin, sandbox, ctype) -> None:
    scenario("error-spike")
    before = sandbox.status()["metrics"]
    headers = {"Content-Type": ctype} if ctype else {}
    for path in ("/admin/config/update", "/admin/circuit-breaker/reset"):
        r = admin.post(path, content=b'{"timeout": 15000}', headers=headers)
        assert r.status_code == 415, (ctype, path)
        assert "application/json" in r.json()["error"]
    _applied_nothing(sandbox, before)


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_content_types_are_accepted(scenario, admin, ctype) -> None:
    scenario("error-spike")
    r = admin.post("/admin/config/update", content=b'{"timeout": 15000}', headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text


def test_a_chunked_body_is_read_and_an_oversized_one_refused(scenario, admin, sandbox) -> None:
    scenario("error-spike")

    def chunks():
        yield b'{"timeout":'
        yield b" 15000}"

    r = admin.post("/admin/config/update", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and sandbox.world.timeout_ms == 15000
    big = b'{"timeout": 15000, "pad": "' + b"x" * (2 << 20) + b'"}'
    r = admin.post("/admin/config/update", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"POST /admin/config/update HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400),
    (b"POST /admin/config/update HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
    (b"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
    (b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
])
def test_protocol_errors_are_json_not_html(sandbox, request_bytes, status) -> None:
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(sandbox.admin_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(request_bytes)
        answer = b""
        while chunk := s.recv(65536):  # the server closes the connection after a protocol error
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()) or head.startswith(f"HTTP/1.0 {status} ".encode()), head
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"]


def test_admin_calls_are_recorded_without_the_token(scenario, admin, anonymous, sandbox) -> None:
    scenario("bedrock-down")
    anonymous.post("/admin/routing/force-mcp", json=BODIES["/admin/routing/force-mcp"])
    admin.post("/admin/routing/force-mcp", json=BODIES["/admin/routing/force-mcp"])
    admin.get("/_sandbox/state")  # control paths are not part of the record
    calls = [c for c in sandbox.requests() if c["api"] == "admin"]
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("POST", "/admin/routing/force-mcp", 401), ("POST", "/admin/routing/force-mcp", 200)]
    assert calls[1]["body"] == BODIES["/admin/routing/force-mcp"]
    assert isinstance(calls[1]["ts"], float)
    assert sandbox.token not in repr(sandbox.requests())


def test_control_paths_over_http(scenario, anonymous, sandbox) -> None:
    scenario("healthy")
    r = anonymous.post("/_sandbox/scenario", json={"scenario": "mcp-down"})
    assert r.status_code == 200 and r.json()["scenario"] == "mcp-down"
    assert sandbox.status()["scenario"] == "mcp-down"
    assert anonymous.post("/_sandbox/scenario", json={"scenario": "nope"}).status_code == 400
    state = anonymous.get("/_sandbox/state").json()
    assert set(state) >= {"scenario", "health", "healthy", "recovered", "mitigated_at", "metrics"}
    assert state["health"]["components"]["mcp-router"]["status"] == "critical"
    anonymous.get("/health")
    assert [c["path"] for c in anonymous.get("/_sandbox/requests").json()] == ["/health"]
    assert anonymous.post("/_sandbox/reset").json()["scenario"] == "mcp-down"
    assert anonymous.get("/_sandbox/requests").json() == []


def test_fault_503_burst(scenario, anonymous) -> None:
    scenario("healthy")
    assert anonymous.post("/_sandbox/fault", json={"kind": "http-503", "count": 2}).status_code == 200
    codes = [anonymous.get("/health/metrics").status_code for _ in range(3)]
    assert codes == [503, 503, 200]


def test_fault_503_answers_before_any_action(scenario, admin, sandbox) -> None:
    scenario("bedrock-down")
    admin.post("/_sandbox/fault", json={"kind": "http-503"})
    assert admin.post("/admin/routing/force-mcp", json=BODIES["/admin/routing/force-mcp"]).status_code == 503
    assert sandbox.status()["recovered"] is False


def test_fault_slow_answers(scenario, anonymous) -> None:
    scenario("healthy")
    anonymous.post("/_sandbox/fault", json={"kind": "slow", "seconds": 0.3, "count": 1})
    t = time.monotonic()
    assert anonymous.get("/health").status_code == 200
    assert time.monotonic() - t >= 0.3  # (the next answer's promptness: test_sandbox_simulated)


def test_fault_component_down_and_up(scenario, anonymous) -> None:
    scenario("healthy")
    anonymous.post("/_sandbox/fault", json={"kind": "component-down", "component": "direct-bedrock"})
    assert anonymous.get("/health/component/direct-bedrock").json()["status"] == "critical"
    anonymous.post("/_sandbox/fault", json={"kind": "component-up", "component": "direct-bedrock"})
    assert anonymous.get("/health/component/direct-bedrock").json()["status"] == "healthy"


@pytest.mark.parametrize("fault", [{"kind": "boom"}, {"kind": "http-503", "count": 0},
                                   {"kind": "component-down", "component": "db"},
                                   {"kind": "slow", "seconds": "x"}])
def test_bad_faults_are_400(anonymous, fault) -> None:
    assert anonymous.post("/_sandbox/fault", json=fault).status_code == 400


def test_keep_alive_on_one_connection_without_nagle(sandbox) -> None:
    # Nagle + delayed ACK would cost ~40 ms per kept-alive request (the figure: bench/sandbox_startup.py)
    import http.client
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(sandbox.admin_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("GET", "/health")
        conn.getresponse().read()
        first = conn.sock
        for _ in range(20):
            conn.request("GET", "/health")
            assert conn.getresponse().read()
        assert conn.sock is first  # one connection served them all
        local = first.getsockname()
        served = [s for s in sandbox._admin._conns.values() if s.getpeername() == local]
        assert [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in served] == [1]
    finally:
        conn.close()


def test_the_spec_check_itself_rejects_what_breaks_the_spec(conforms) -> None:
    class Answer:
        def __init__(self, status: int, body: object) -> None:
            self.status_code, self._body = status, body

        def json(self) -> object:
            return self._body

    with pytest.raises(AssertionError, match="required property"):
        conforms("GET", "/health/metrics", Answer(200, {"data": {"errorRate": 1, "routingEfficiency": 2}}))
    with pytest.raises(AssertionError, match="not of type"):
        conforms("POST", "/admin/routing/force-mcp", Answer(401, {"error": 401}))
    with pytest.raises(AssertionError, match="does not list"):
        conforms("GET", "/health/metrics", Answer(418, {}))
    conforms("GET", "/health/metrics", Answer(200, {"data": {"errorRate": 1, "routingEfficiency": 2,
                                                             "bedrockPercentage": 3, "forceMcpUntil": None}}))


def test_stop_cuts_a_slow_answer_short() -> None:
    import threading

    import httpx

    from hybridops.sandbox import Sandbox

    sb = Sandbox().start()
    httpx.post(f"{sb.admin_url}/_sandbox/fault", json={"kind": "slow", "seconds": 30})
    result: list[object] = []
    caller = threading.Thread(target=lambda: result.append(_try_get(f"{sb.admin_url}/health")))
    caller.start()
    wait_for(lambda: any(c["path"] == "/health" for c in sb.requests()), timeout=10, what="the slow request")
    t = time.monotonic()
    sb.stop()
    assert time.monotonic() - t < 25  # well before the slow answer's 30 s
    caller.join(5)
    assert result and not caller.is_alive()


def _try_get(url: str) -> object:
    import httpx

    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.TransportError as exc:
        return exc


def test_control_paths_answer_head_options_and_405_too(scenario, anonymous) -> None:
    scenario("healthy")
    assert anonymous.head("/_sandbox/state").status_code == 200
    r = anonymous.options("/_sandbox/fault")
    assert r.status_code == 204 and r.headers["Allow"] == "OPTIONS, POST"
    r = anonymous.delete("/_sandbox/state")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, OPTIONS" and r.json()["error"]
    r = anonymous.request("PROPFIND", "/_sandbox/nothing")
    assert r.status_code == 404 and r.json()["error"]
