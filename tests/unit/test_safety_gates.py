"""Safety gates that cannot be talked around (issue 12 §1, and the response size cap of §3).

What a runbook declares never makes a change a read: `validate` refuses `mutating: false` on a call
that changes state by its API's own definition, and the engine's gate decides on the rendered call
whatever the step says. Rendered admin paths must name an operation of the spec and nothing else.
Answers must be what the spec says (JSON), within a size cap, and a mutation is sent again only when
the answer says it was not processed (or a person, or `idempotent: true`, says so).

The admin API here is a real HTTP server on loopback (a scripted one): it counts what it received.
"""

from __future__ import annotations

import email.utils
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_engine import FakeAws, FakeHttp, MemoryLog, defaults, runbook, runbook_text

from hybridops.engine.clock import FakeClock
from hybridops.engine.context import RunOptions
from hybridops.engine.incident import run_incident
from hybridops.engine.retry import RETRY_AFTER_CAP_S, CallFailure, parse_retry_after
from hybridops.engine.steps.http import MAX_RESPONSE_BYTES, HttpRunner
from hybridops.engine.steps.notify import NotifyTargets
from hybridops.errors import StepFailed
from hybridops.runbook.mutation import aws_changes_state, http_changes_state, operation_verb
from hybridops.runbook.validate import validate_file


def write_runbook(tmp_path: Path, steps: str, name: str = "gates") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(runbook_text(steps, id=name), encoding="utf-8")
    return path


def run(loaded: Any, *, http: Any = None, aws: Any = None, clock: FakeClock | None = None,
        variables: dict[str, Any] | None = None, **opts: Any) -> tuple[Any, MemoryLog, FakeClock]:
    log, clock = MemoryLog(), clock or FakeClock()
    http = http if http is not None else FakeHttp()
    aws = aws if aws is not None else FakeAws()
    try:
        result = run_incident(
            loaded, options=RunOptions(**opts), variables={**defaults(loaded), **(variables or {})}, secrets=set(),
            open_audit=lambda: log, make_aws=lambda: aws, make_http=lambda: http,
            notify_targets=NotifyTargets(None, None), aws_region="eu-central-1", clock=clock)
    except Exception as exc:  # the test looks at both
        return exc, log, clock
    return result, log, clock


def finished(log: MemoryLog, step: str) -> dict[str, Any]:
    return next(f for f in log.events("step_finished") if f["step_id"] == step)


# --- the API's own definition of a change ----------------------------------------------------------------

STATE_CHANGING = [
    ("ecs", "DeleteService", {"cluster": "c", "service": "s"}),
    ("ecs", "UpdateService", {"cluster": "c", "service": "s", "forceNewDeployment": True}),
    ("ecs", "StopTask", {"cluster": "c", "task": "t"}),
    ("ecs", "TagResource", {"resourceArn": "arn:aws:ecs:eu-central-1:1:service/c/s", "tags": []}),
    ("ec2", "TerminateInstances", {"InstanceIds": ["i-1"]}),
    ("ec2", "RebootInstances", {"InstanceIds": ["i-1"]}),
    ("ec2", "RunInstances", {"MinCount": 1, "MaxCount": 1}),
    ("ec2", "RevokeSecurityGroupIngress", {"GroupId": "sg-1"}),
    ("sqs", "PurgeQueue", {"QueueUrl": "https://q"}),
    ("sqs", "SendMessage", {"QueueUrl": "https://q", "MessageBody": "x"}),
    ("sns", "Publish", {"Message": "x"}),
    ("dynamodb", "BatchWriteItem", {"RequestItems": {}}),
    ("elbv2", "DeregisterTargets", {"TargetGroupArn": "arn", "Targets": [{"Id": "i-1"}]}),
    ("autoscaling", "SetDesiredCapacity", {"AutoScalingGroupName": "g", "DesiredCapacity": 0}),
    ("lambda", "Invoke", {"FunctionName": "f"}),
    ("ssm", "SendCommand", {"DocumentName": "AWS-RunShellScript"}),
    ("s3", "PutObject", {"Bucket": "b", "Key": "k"}),
    ("rds", "RebootDBInstance", {"DBInstanceIdentifier": "db"}),
]


@pytest.mark.parametrize(("service", "operation", "params"), STATE_CHANGING, ids=[o for _, o, _ in STATE_CHANGING])
def test_validate_refuses_mutating_false_on_an_aws_change(tmp_path: Path, service: str, operation: str,
                                                          params: dict[str, Any]) -> None:
    path = write_runbook(tmp_path, f"""\
      - id: change
        title: A change declared a read
        budget: 1m
        mutating: false
        aws: {{service: {service}, operation: {operation}, params: {json.dumps(params)}}}
""")
    problems = [p for p in validate_file(path).problems if "mutating" in p.message]
    assert [(p.line, p.col) for p in problems] == [(15, 19)], [str(p) for p in validate_file(path).problems]
    assert problems[0].message.startswith(f"step change: `mutating: false` is not allowed: {service} {operation} "
                                          "changes state")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/admin/routing/force-mcp", {"reason": "x", "duration": 60}),
    ("POST", "/admin/circuit-breaker/reset", None),
    ("POST", "/admin/config/update", {"timeout": 15000}),
])
def test_validate_refuses_mutating_false_on_an_admin_change(tmp_path: Path, method: str, path: str,
                                                           body: Any) -> None:
    written = write_runbook(tmp_path, f"""\
      - id: change
        title: A change declared a read
        budget: 1m
        mutating: false
        http: {{method: {method}, path: {path}{', body: ' + json.dumps(body) if body else ''}}}
""")
    problems = validate_file(written).problems
    assert [(p.line, p.col, p.message) for p in problems] == [(15, 19, (
        f"step change: `mutating: false` is not allowed: {method} {path} changes state; only an operation the "
        "admin API spec marks `x-hybridops-probe: true` may be declared so"))]


def test_the_probes_may_be_declared_reads_and_the_poll_of_a_change_may_not(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """\
      - id: invoke
        title: Bedrock test prompt
        budget: 1m
        mutating: false
        aws: {service: bedrock-runtime, operation: InvokeModel, params: {modelId: m, body: "{}"}}
      - id: probe
        title: Bedrock test through the service
        budget: 1m
        mutating: false
        poll:
          http: {method: POST, path: /admin/bedrock/test, capture: {ok: ok}}
          every: 30s
          timeout: 5m
          until: ok
      - id: force-again
        title: Force MCP until it holds
        budget: 1m
        mutating: false
        poll:
          http: {method: POST, path: /admin/routing/force-mcp, body: {reason: x, duration: 60}, capture: {ok: ok}}
          every: 30s
          timeout: 5m
          until: ok
""")
    problems = validate_file(path).problems
    assert [(p.line, "POST /admin/routing/force-mcp changes state" in p.message) for p in problems] == [(29, True)]


def test_the_shipped_spec_copy_marks_the_bedrock_test_as_its_only_probe() -> None:
    from hybridops.runbook.openapi_check import SPEC_PATH, spec

    repo = Path(__file__).resolve().parents[2]
    assert (repo / "specs" / "admin-api.openapi.yaml").read_bytes() == SPEC_PATH.read_bytes()
    probes = [(m.upper(), p) for p, item in spec()["paths"].items() for m, op in item.items()
              if isinstance(op, dict) and op.get("x-hybridops-probe") is True]
    assert probes == [("POST", "/admin/bedrock/test")]


def test_what_changes_state_by_name() -> None:
    assert [operation_verb(o) for o in ("DeleteService", "delete_service", "BatchDeleteItem", "GetQueueUrl")] == [
        "delete", "delete", "delete", "get"]
    assert all(aws_changes_state(s, o) for s, o, _ in STATE_CHANGING)
    assert aws_changes_state("ecs", "deleteService") and aws_changes_state("ecs", "delete_service")
    assert not any(aws_changes_state("ecs", o) for o in ("DescribeServices", "ListTasks", "GetQueueUrl"))
    assert not aws_changes_state("bedrock-runtime", "InvokeModel")  # the listed probe
    assert aws_changes_state("bedrock-agent-runtime", "InvokeAgent") and aws_changes_state("lambda", "Invoke")
    assert not http_changes_state("GET", "/admin/routing/force-mcp")
    assert not http_changes_state("POST", "/admin/bedrock/test", rendered=True)
    assert http_changes_state("POST", "/admin/routing/force-mcp", rendered=True)
    assert http_changes_state("POST", "/admin/bedrock/test/", rendered=True) is False  # a trailing slash, the same
    assert http_changes_state("POST", "/admin/bedrock/{{ x }}", rendered=True)  # braces are text once rendered


# --- the gate decides on the call, whatever the step says -----------------------------------------------


BYPASS = """\
      - id: delete
        title: Delete the service (declared a read)
        budget: 1m
        mutating: false
        aws: {service: ecs, operation: DeleteService, params: {cluster: c, service: s}}
      - id: force
        title: Force MCP (declared a read)
        budget: 1m
        mutating: false
        http: {method: POST, path: /admin/routing/force-mcp, body: {reason: x, duration: 60}}
      - id: poll-force
        title: Force MCP in a poll (declared a read)
        budget: 1m
        mutating: false
        poll:
          http: {method: POST, path: "/admin/{{ area }}/force-mcp", body: {reason: x, duration: 60}, capture: {ok: ok}}
          every: 1s
          timeout: 5s
          until: ok
"""


@pytest.mark.parametrize("mode", ["read_only", "dry_run"])
def test_read_only_and_dry_run_never_send_a_change_declared_a_read(mode: str) -> None:
    # parsed without `validate` (which refuses these): the engine holds on its own
    loaded = runbook(BYPASS, variables="variables:\n  - {name: area, default: routing}\n")
    http, aws = FakeHttp(), FakeAws()
    result, log, _ = run(loaded, http=http, aws=aws, **{mode: True})
    assert result.status == "completed", result
    assert http.sent == [] and [c for c in aws.calls if c[1] != "GetCallerIdentity"] == []
    expected = "skipped" if mode == "read_only" else "dry_run"
    assert {s: finished(log, s)["status"] for s in ("delete", "force", "poll-force")} == dict.fromkeys(
        ("delete", "force", "poll-force"), expected)
    assert all(r["mutating"] for r in log.events("request"))  # a dry run shows them as the changes they are


def test_the_gate_judges_the_rendered_path_not_the_template() -> None:
    # `/admin/{{ area }}/test` fits the probe's template; rendered, it is force-MCP's twin path
    loaded = runbook("""\
      - id: probe
        title: A probe, it says
        budget: 1m
        mutating: false
        on_failure: continue
        http: {method: POST, path: "/admin/{{ area }}/test"}
""", variables="variables:\n  - {name: area, default: bedrock}\n")
    http = FakeHttp()
    result, log, _ = run(loaded, http=http, read_only=True)
    assert http.sent == [("POST", "/admin/bedrock/test", None)]  # the real probe runs under --read-only
    http = FakeHttp()
    result, log, _ = run(loaded, http=http, read_only=True, variables={"area": "routing"})
    assert http.sent == []  # /admin/routing/test is no path of the API: refused before anything is sent
    assert "is no path of the admin API" in finished(log, "probe")["error"]


def test_a_change_declared_a_read_still_needs_yes() -> None:
    loaded = runbook(BYPASS.split("      - id: force")[0])
    aws = FakeAws()
    exc, log, _ = run(loaded, aws=aws)
    assert "needs confirmation" in str(exc)
    assert [c for c in aws.calls if c[1] == "DeleteService"] == []


# --- rendered paths may not leave the path they name --------------------------------------------------------


class Scripted(http.server.ThreadingHTTPServer):
    """An admin API on loopback answering each path from a script: a list of (status, headers, body)
    answers, the last one repeated; a body may be a callable writing to the handler itself."""

    daemon_threads = True

    def __init__(self, script: dict[str, list[tuple[int, dict[str, str], Any]]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # a held answer waits for it
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.received if r["path"] == path)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Scripted
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.received.append({"method": self.command, "path": self.path, "body": body,
                                         "authorization": self.headers.get("Authorization")})
            answers = self.server.script.get(self.path.partition("?")[0]) or [(404, {}, {"error": "no such path"})]
            status, headers, payload = answers.pop(0) if len(answers) > 1 else answers[0]
        if payload == "hold":
            self.server.release.wait(30)
            return
        if callable(payload):
            payload(self, status, headers)
            return
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer


@pytest.fixture
def serve() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def start(script: dict[str, list[tuple[int, dict[str, str], Any]]]) -> Scripted:
        server = Scripted(script)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


ESCAPES = ["../_sandbox/reset", "health/../_sandbox/reset", "health/metrics/../../_sandbox/reset",
           "%2e%2e/_sandbox/reset", "health/%2E%2E/_sandbox/reset", "health%2fmetrics", "health%252fmetrics",
           "health\\..\\_sandbox", "health//metrics", "./health", "health/./metrics", "health?reset=1",
           "health#top", "health/metrics?x=1", "_sandbox/reset", "health/component/mcp-router/../../metrics",
           "health/component/{{x}}", "health/component/nosuch", "health metrics", "health/\nmetrics"]


@pytest.mark.parametrize("escape", ESCAPES)
def test_a_rendered_path_that_escapes_is_refused_before_the_token_leaves(serve: Callable[..., Scripted],
                                                                         escape: str) -> None:
    server = serve({})
    loaded = runbook("""\
      - id: read
        title: Read a path given at run time
        budget: 1m
        on_failure: continue
        http: {method: GET, path: "/{{ p }}"}
""", variables="variables:\n  - {name: p, default: health}\n")
    result, log, _ = run(loaded, http=HttpRunner(base_url=server.url, token="the-bearer-token"),
                         variables={"p": escape})
    assert server.received == []  # nothing sent at all, so the token went nowhere
    step = finished(log, "read")
    assert step["status"] == "failed" and step["error"].startswith("refused before sending: GET "), step["error"]
    assert log.events("request") == []


def test_a_good_rendered_path_goes_through_with_the_token(serve: Callable[..., Scripted]) -> None:
    server = serve({"/health/component/mcp-router": [(200, {}, {"component": "mcp-router", "status": "healthy"})]})
    loaded = runbook("""\
      - id: read
        title: Read a component
        budget: 1m
        http: {method: GET, path: "/health/component/{{ c }}", capture: {s: status}}
""", variables="variables:\n  - {name: c, default: mcp-router}\n")
    result, log, _ = run(loaded, http=HttpRunner(base_url=server.url, token="the-bearer-token"))
    assert result.status == "completed"
    assert [(r["path"], r["authorization"]) for r in server.received] == [
        ("/health/component/mcp-router", "Bearer the-bearer-token")]


def test_credentials_in_the_admin_url_do_not_replace_the_bearer_token(serve: Callable[..., Scripted]) -> None:
    server = serve({"/health": [(200, {}, {"status": "healthy"})]})
    with_userinfo = server.url.replace("http://", "http://ops:the-url-password@")
    runner = HttpRunner(base_url=with_userinfo, token="the-bearer-token")
    assert runner.admin("GET", "/health")[0] == 200
    assert [r["authorization"] for r in server.received] == ["Bearer the-bearer-token"]


def test_the_runner_itself_refuses_an_escaping_path(serve: Callable[..., Scripted]) -> None:
    server = serve({})
    runner = HttpRunner(base_url=server.url, token="the-bearer-token")
    for path in ("/../_sandbox/reset", "/health/%2e%2e/x", "/a\\b", "//evil.example/x", "/health?x=1#/../y"):
        with pytest.raises(CallFailure, match="refused before sending"):
            runner.admin("GET", path)
    assert server.received == []


@pytest.mark.parametrize(("path", "why"), [
    ("/health/../_sandbox/reset", "holds a . or .. segment"),
    ("/health/%2e%2e/_sandbox/reset", "holds an encoded character (%2e)"),
    ("/health//metrics", "holds an empty segment (//)"),
    ("/health#top", "holds a fragment (#)"),
    ("/health/./metrics", "holds a . or .. segment"),
])
def test_validate_refuses_an_escaping_literal_path(tmp_path: Path, path: str, why: str) -> None:
    written = write_runbook(tmp_path, f"""\
      - id: read
        title: Read
        budget: 1m
        http: {{method: GET, path: "{path}"}}
""", name="paths")
    problems = validate_file(written).problems
    assert [(p.line, p.message) for p in problems] == [(15, f"step read: path {path!r} {why}: it could reach "
                                                            "another path of the admin API")], problems


def test_validate_refuses_a_query_where_the_spec_has_none(tmp_path: Path) -> None:
    written = write_runbook(tmp_path, """\
      - id: read
        title: Read
        budget: 1m
        http: {method: GET, path: "/health/metrics?reset=1"}
""", name="query")
    assert [p.message for p in validate_file(written).problems] == [
        "step read: GET /health/metrics: unknown query parameter 'reset'"]


# --- answers must be what the spec says ----------------------------------------------------------------------

LOGIN_PAGE = b"<!doctype html><html><body><form action=/login>Sign in</form></body></html>"
FORCE = """\
      - id: force
        title: Force MCP
        budget: 1m
        http: {method: POST, path: /admin/routing/force-mcp, body: {reason: x, duration: 60}, capture: {ok: ok}}
      - id: after
        title: After
        budget: 1m
        check: {condition: "true"}
"""


@pytest.mark.parametrize(("headers", "body"), [
    ({"Content-Type": "text/html; charset=utf-8"}, LOGIN_PAGE),
    ({"Content-Type": "text/html"}, b'{"ok": true}'),  # JSON-looking, but the server says it is a page
    ({"Content-Type": "application/json"}, LOGIN_PAGE),  # says JSON, is not
    ({"Content-Type": "text/plain"}, b"OK"),
    ({"Content-Type": "application/json"}, b""),
], ids=["login-page", "json-as-html", "html-as-json", "plain-ok", "empty"])
def test_a_2xx_that_is_not_the_promised_json_fails_the_step(serve: Callable[..., Scripted],
                                                           headers: dict[str, str], body: bytes) -> None:
    server = serve({"/admin/routing/force-mcp": [(200, headers, body)]})
    exc, log, _ = run(runbook(FORCE), http=HttpRunner(base_url=server.url, token="t"), yes=True)
    assert isinstance(exc, StepFailed) and exc.result is not None and exc.result.status == "failed", exc
    error = finished(log, "force")["error"]
    shown_type = headers["Content-Type"] if headers["Content-Type"] != "application/json" or body else \
        "application/json"
    assert error.startswith(f"step force: POST {server.url}/admin/routing/force-mcp: HTTP 200 answered "
                            f"{shown_type}, not the JSON the admin API spec promises"), error
    assert finished(log, "force")["status"] == "failed"
    assert server.count("/admin/routing/force-mcp") == 1  # and it is not sent again


def test_the_promised_json_is_ok(serve: Callable[..., Scripted]) -> None:
    server = serve({"/admin/routing/force-mcp": [(200, {"Content-Type": "application/json; charset=utf-8"},
                                                  {"ok": True})]})
    result, log, _ = run(runbook(FORCE), http=HttpRunner(base_url=server.url, token="t"), yes=True)
    assert result.status == "completed"
    assert finished(log, "force")["captures"] == {"ok": True}


# --- the size cap ------------------------------------------------------------------------------------------


def _endless(handler: Any, status: int, headers: dict[str, str]) -> None:
    """A chunked JSON body that never ends (until the client goes away); counts what was written."""
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b'"' + b"x" * 65_536 + b'",'
    try:
        handler.wfile.write(b"5\r\n[1,2,\r\n")
        for _ in range(4_000):  # 256 MiB, if nobody stopped reading
            handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            handler.server.written = getattr(handler.server, "written", 0) + len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass


def test_a_huge_answer_is_never_read_whole_nor_recorded(serve: Callable[..., Scripted]) -> None:
    server = serve({"/health/metrics": [(200, {}, _endless)]})
    loaded = runbook("""\
      - id: metrics
        title: Metrics
        budget: 1m
        retries: {attempts: 0}
        on_failure: continue
        http: {method: GET, path: /health/metrics}
""")
    result, log, _ = run(loaded, http=HttpRunner(base_url=server.url, token="t"))
    error = finished(log, "metrics")["error"]
    assert f"the answer is larger than {MAX_RESPONSE_BYTES} bytes" in error
    assert max(len(json.dumps(fields)) for _, fields in log.records) < 10_000
    server.shutdown()  # the writer thread stops once the client has closed the connection
    assert getattr(server, "written", 0) < 64 * 1024 * 1024  # far from the 256 MiB it would have sent


def test_a_declared_huge_answer_fails_before_its_body_is_read(serve: Callable[..., Scripted]) -> None:
    def declared(handler: Any, status: int, headers: dict[str, str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(314 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.write(b"[")  # and nothing else: a client that waited for the rest would hang

    server = serve({"/health/metrics": [(200, {}, declared)]})
    runner = HttpRunner(base_url=server.url, token="t")
    with pytest.raises(CallFailure, match=f"larger than {MAX_RESPONSE_BYTES} bytes"):
        runner.admin("GET", "/health/metrics")


def test_the_cap_is_only_ever_lowered(serve: Callable[..., Scripted]) -> None:
    assert HttpRunner(base_url="http://127.0.0.1:1", token=None, max_response_bytes=10**12).max_response_bytes == \
        MAX_RESPONSE_BYTES
    server = serve({"/health/metrics": [(200, {}, {"data": "x" * 2000})]})
    small = HttpRunner(base_url=server.url, token="t", max_response_bytes=1000)
    with pytest.raises(CallFailure, match="larger than 1000 bytes"):
        small.admin("GET", "/health/metrics")
    assert HttpRunner(base_url=server.url, token="t").admin("GET", "/health/metrics")[0] == 200


def test_an_aws_streaming_body_is_read_up_to_the_cap() -> None:
    from hybridops.engine.steps.aws import jsonable

    class Stream:
        def __init__(self, size: int) -> None:
            self.size, self.asked, self.closed = size, None, False

        def read(self, n: int | None = None) -> bytes:
            self.asked = n
            return b"x" * min(self.size, n if n is not None else self.size)

        def close(self) -> None:
            self.closed = True

    huge = Stream(50 * MAX_RESPONSE_BYTES)
    with pytest.raises(CallFailure, match="larger than"):
        jsonable({"body": huge})
    assert huge.asked == MAX_RESPONSE_BYTES + 1 and huge.closed
    assert jsonable({"body": Stream(3)}) == {"body": "xxx"}


# --- retries of changes ------------------------------------------------------------------------------------

RESET = """\
      - id: reset
        title: Reset circuit breakers
        budget: 10m
        timeout: 1s
        on_failure: continue
        {extra}
        http: {{method: POST, path: /admin/circuit-breaker/reset}}
"""
ACK = (200, {}, {"ok": True})


@pytest.mark.parametrize("failures", [1, 2])
@pytest.mark.parametrize("status", [503, 429])
def test_a_refused_change_is_retried_and_sent_exactly_failures_plus_one_times(
        serve: Callable[..., Scripted], status: int, failures: int) -> None:
    server = serve({"/admin/circuit-breaker/reset": [(status, {"Retry-After": "7"}, {"error": "busy"})] * failures
                    + [ACK]})
    clock = FakeClock()
    result, log, _ = run(runbook(RESET.format(extra="")), http=HttpRunner(base_url=server.url, token="t"),
                         yes=True, clock=clock)
    assert result.status == "completed", finished(log, "reset")
    assert server.count("/admin/circuit-breaker/reset") == failures + 1
    assert len(clock.sleeps) == failures and all(s >= 7.0 for s in clock.sleeps)  # Retry-After honoured
    assert finished(log, "reset")["status"] == "ok"


def test_a_change_refused_more_often_than_its_retries_gives_up(serve: Callable[..., Scripted]) -> None:
    server = serve({"/admin/circuit-breaker/reset": [(503, {}, {"error": "busy"})]})
    result, log, _ = run(runbook(RESET.format(extra="retries: {attempts: 3, backoff: 1s}")),
                         http=HttpRunner(base_url=server.url, token="t"), yes=True)
    assert server.count("/admin/circuit-breaker/reset") == 4
    assert finished(log, "reset")["status"] == "failed"


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_change_answered_with_another_5xx_is_not_sent_again_unasked(serve: Callable[..., Scripted],
                                                                      status: int) -> None:
    server = serve({"/admin/circuit-breaker/reset": [(status, {}, {"error": "oops"}), ACK]})
    result, log, _ = run(runbook(RESET.format(extra="retries: {attempts: 3, backoff: 1s}")),
                         http=HttpRunner(base_url=server.url, token="t"), yes=True)
    assert server.count("/admin/circuit-breaker/reset") == 1
    step = finished(log, "reset")
    assert step["status"] == "failed" and "the request may have been applied" in step["error"]
    assert "not sent again without a confirmation" in step["error"]


def test_a_timed_out_change_needs_a_person_even_under_yes_unless_idempotent(serve: Callable[..., Scripted]) -> None:
    path = "/admin/circuit-breaker/reset"
    server = serve({path: [(200, {}, "hold"), ACK]})  # the first answer never comes: the 1 s timeout fires
    result, log, _ = run(runbook(RESET.format(extra="retries: {attempts: 3, backoff: 1s}")),
                         http=HttpRunner(base_url=server.url, token="t"), yes=True)
    assert server.count(path) == 1
    step = finished(log, "reset")
    assert step["status"] == "failed" and "timed out" in step["error"]
    assert [(p["answer"], p["source"]) for p in log.events("prompt") if "unknown" in p["question"]] == [
        ("no", "non-interactive")]
    assert [r["unknown_outcome"] for r in log.events("response")] == [True]

    server = serve({path: [(200, {}, "hold"), ACK]})
    result, log, _ = run(runbook(RESET.format(extra="idempotent: true\n        retries: {attempts: 3, backoff: 1s}")),
                         http=HttpRunner(base_url=server.url, token="t"), yes=True)
    assert server.count(path) == 2
    assert finished(log, "reset")["status"] == "ok"
    assert [(p["answer"], p["source"]) for p in log.events("prompt") if "unknown" in p["question"]] == [
        ("yes", "idempotent")]


def test_a_person_at_the_terminal_is_asked_even_under_yes() -> None:
    class Prompter:
        asked: list[str] = []

        def confirm(self, question: str, default: bool = False) -> bool:
            self.asked.append(question)
            return True

    timeout = CallFailure("timed out", retryable=True, unknown_outcome=True)
    http = FakeHttp({"/admin/circuit-breaker/reset": [timeout, (200, {"ok": True})]})
    loaded = runbook(RESET.format(extra="retries: {attempts: 1, backoff: 1s}"))
    log, prompter = MemoryLog(), Prompter()
    result = run_incident(loaded, options=RunOptions(yes=True, interactive=True), variables={}, secrets=set(),
                          open_audit=lambda: log, make_aws=FakeAws, make_http=lambda: http,
                          notify_targets=NotifyTargets(None, None), aws_region="eu-central-1", clock=FakeClock(),
                          prompter=prompter)
    assert result.status == "completed"
    assert len(prompter.asked) == 1 and "outcome of mutating step reset is unknown" in prompter.asked[0]
    assert len(http.sent) == 2


def test_retry_after_as_seconds_or_an_http_date_capped() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(email.utils.formatdate(now + 42, usegmt=True), now) == pytest.approx(42.0)
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now) == 0.0
    assert parse_retry_after("999999999", now) == RETRY_AFTER_CAP_S
    assert [parse_retry_after(v, now) for v in (None, "soon", "-5", "nan", "inf", "1e9")] == [None] * 6


# --- AWS: which failures say the call was not processed ---------------------------------------------------


@pytest.mark.parametrize(("code", "status", "refused", "unknown"), [
    ("ThrottlingException", 400, True, False),
    ("Throttling", 400, True, False),
    ("RequestLimitExceeded", 503, True, False),
    ("TooManyRequestsException", 429, True, False),
    ("ServiceUnavailable", 503, True, False),
    ("InternalFailure", 500, False, True),
    ("InternalServerError", 500, False, True),
    ("RequestTimeout", 408, False, True),
    ("SomethingNew", 502, False, True),
    ("ValidationException", 400, False, False),
])
def test_aws_errors_say_whether_a_change_may_be_sent_again(code: str, status: int, refused: bool,
                                                          unknown: bool) -> None:
    from botocore.exceptions import ClientError

    from hybridops.engine.steps.aws import _client_error

    exc = ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                      "UpdateService")
    failure = _client_error("aws ecs UpdateService", exc)
    assert (failure.refused, failure.unknown_outcome) == (refused, unknown)
    assert failure.retryable == (refused or unknown)


def test_an_answer_that_is_not_aws_s_is_a_failure_whose_outcome_is_unknown(serve: Callable[..., Scripted]) -> None:
    from hybridops.engine.steps.aws import AwsRunner

    # a query-protocol (XML) service: a body that is no XML cannot be parsed at all
    server = serve({"/": [(200, {"Content-Type": "text/xml"}, b"<ModifyTargetGroupResponse>\x1b[2J<Targ")]})
    runner = AwsRunner(profile=None, region="eu-central-1", endpoint_url=server.url,
                       credentials=("AKIDEXAMPLE", "a-secret-key-for-this-test-only"))
    with pytest.raises(CallFailure) as caught:
        runner.call("elbv2", "ModifyTargetGroup", {"TargetGroupArn": "arn:aws:elasticloadbalancing:eu-central-1:"
                                                   "123456789012:targetgroup/t/0123456789abcdef"})
    assert caught.value.unknown_outcome and "not one AWS sends" in str(caught.value)
    assert len(server.received) == 1  # sent once, never again behind the engine's back


def test_botocore_makes_one_attempt_whatever_the_call() -> None:
    from hybridops.engine.steps.aws import AwsRunner

    client = AwsRunner(profile=None, region="eu-central-1", endpoint_url="http://127.0.0.1:9",
                       credentials=("k", "s")).client("ecs")
    assert client.meta.config.retries["total_max_attempts"] == 1


# --- a dry run ships nothing ---------------------------------------------------------------------------------


def test_the_shipper_never_ships_a_dry_run() -> None:
    from hybridops.audit.ship import CloudWatchShipper

    calls: list[str] = []

    class Client:
        def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
            def call(**kwargs: Any) -> dict[str, Any]:
                calls.append(name)
                return {"logStreams": [], "rejectedLogEventsInfo": {}}

            return call

    shipper = CloudWatchShipper(lambda: Client(), "/hybridops/audit", "eu-central-1", "run-1", flush_interval=0.01)
    shipper({"event": "run_started", "dry_run": True, "ts": "2026-12-02T00:00:00.000Z", "seq": 0})
    shipper({"event": "step_started", "ts": "2026-12-02T00:00:01.000Z", "seq": 1})
    shipper.close(timeout=1.0)
    assert calls == []


def test_validate_refuses_a_templated_aws_service_or_operation(tmp_path: Path) -> None:
    # never rendered (sent as written), and the gate must know what it is before the run
    path = write_runbook(tmp_path, """\
      - id: call
        title: Call what a variable names
        budget: 1m
        mutating: false
        aws: {service: ecs, operation: "{{ op }}", params: {cluster: c}}
""", name="templated")
    assert [(p.line, p.message) for p in validate_file(path).problems if "template" in p.message] == [
        (16, "step call: the AWS operation must be written out, not a template (operation names are sent as "
             "written)")]


def test_a_notification_answer_is_capped_too(serve: Callable[..., Scripted]) -> None:
    from hybridops.engine.steps import notify as notifier

    server = serve({"/services/T/B/x": [(200, {}, _endless)], "/v2/enqueue": [(429, {"Retry-After": "3"}, {})]})
    runner = HttpRunner(base_url="http://127.0.0.1:1", token="admin-token")
    with pytest.raises(CallFailure, match=f"larger than {MAX_RESPONSE_BYTES} bytes"):
        notifier.send(runner, "slack", f"{server.url}/services/T/B/x", {"text": "hi"}, 5.0)
    with pytest.raises(CallFailure) as refused:
        notifier.send(runner, "pagerduty", f"{server.url}/v2/enqueue", {"event_action": "trigger"}, 5.0)
    assert (refused.value.refused, refused.value.retry_after) == (True, 3.0)
    assert all(r["authorization"] is None for r in server.received)  # the admin token never goes there


def test_a_declared_read_of_no_such_operation_is_one_problem(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """\
      - id: call
        title: A typo
        budget: 1m
        mutating: false
        http: {method: POST, path: /admin/routing/force-mpc}
""", name="typo")
    assert [p.message for p in validate_file(path).problems] == [
        "step call: the admin API has no path '/admin/routing/force-mpc' (did you mean '/admin/routing/force-mcp'?)"]


def _reset(handler: Any, status: int, headers: dict[str, str]) -> None:
    """The request arrived; the connection is reset before any answer (SO_LINGER 0: an RST)."""
    import socket
    import struct

    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


def test_a_change_whose_connection_is_reset_after_sending_is_not_sent_again_under_yes(
        serve: Callable[..., Scripted]) -> None:
    path = "/admin/circuit-breaker/reset"
    for idempotent, sent in ((False, 1), (True, 2)):
        server = serve({path: [(200, {}, _reset), ACK]})
        extra = ("idempotent: true\n        " if idempotent else "") + "retries: {attempts: 3, backoff: 1s}"
        result, log, _ = run(runbook(RESET.format(extra=extra)), http=HttpRunner(base_url=server.url, token="t"),
                             yes=True)
        assert server.count(path) == sent
        assert log.events("response")[0]["unknown_outcome"] is True
        assert "the request may have been applied" in log.events("response")[0]["error"]
        assert finished(log, "reset")["status"] == ("ok" if idempotent else "failed")
