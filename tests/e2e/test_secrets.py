"""No secret leaks, including the ones no one planted yet (issue 12 §5), and server text is inert on the
terminal (§3).

Distinct secrets are planted in every channel a run has: the admin token, the Slack webhook URL, the
PagerDuty routing key, the AWS secret key and session token, a secret --var, the admin URL's password
and query token, and values derived from the secret variable through filters. Real runs (the sandbox,
and a hostile server that echoes every credential it receives into its errors, as AWS and the admin
API) are made end to end, with dry runs, JSON output, CloudWatch shipping, `config show` and every
`audit` reader; every output stream, audit log, timeline, report and the CloudWatch copy is searched
for each secret, as written and encoded (base64, URL-encoding, JSON-escaped, hex, other letter case).
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import boto3
import pexpect
import pytest
from e2e_support import PLANTED, CliResult, Receiver, one_phase_runbook, strip_ansi, wall_clock

from hybridops.sandbox import Sandbox

Run = Callable[..., CliResult]


def _planted(what: str) -> str:
    return f"e2e-{what}-" + secrets.token_hex(12)


SESSION_TOKEN = _planted("aws-session-token")
SECRET_VAR = "E2e-Secret-Var-" + secrets.token_hex(12)  # mixed case: |upper and |lower differ from it
URL_PASSWORD = _planted("url-password")
URL_QUERY_TOKEN = _planted("url-query-token")

# The filters a runbook might put a secret variable through: each rendered value is a secret too.
DERIVED_TEMPLATES = {
    "upper": ("{{ api_key|upper }}", lambda k: k.upper()),
    "lower": ("{{ api_key|lower }}", lambda k: k.lower()),
    "reverse": ("{{ api_key|reverse }}", lambda k: k[::-1]),
    "slice": ("{{ api_key[5:] }}", lambda k: k[5:]),
    "urlencode": ("{{ ('k=' ~ api_key ~ '&x')|urlencode }}", lambda k: quote("k=" + k + "&x")),
    "replace": ("{{ api_key|replace('-', '_') }}", lambda k: k.replace("-", "_")),
    "concat": ("Bearer {{ api_key }}!", lambda k: "Bearer " + k + "!"),
    "tojson": ("{{ {'key': api_key}|tojson }}", lambda k: json.dumps({"key": k})),
    "join": ("{{ api_key|list|join(':') }}", lambda k: ":".join(k)),
    "center": ("{{ api_key|center(50)|trim|title }}", None),  # jinja's own title(): compared as rendered
}


def planted() -> dict[str, str]:
    found = {**PLANTED.all(), "aws session token": SESSION_TOKEN, "secret --var": SECRET_VAR,
             "admin URL password": URL_PASSWORD, "admin URL query token": URL_QUERY_TOKEN}
    for name, (_, derive) in DERIVED_TEMPLATES.items():
        if derive is not None:
            found[f"secret --var through {name}"] = derive(SECRET_VAR)
    return found


def encoded(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "as written": secret, "upper-cased": secret.upper(), "lower-cased": secret.lower(),
        "base64": base64.b64encode(raw).decode(), "base64 url-safe": base64.urlsafe_b64encode(raw).decode(),
        "base64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "URL-encoded": quote(secret, safe=""), "form-encoded": quote_plus(secret),
        "JSON-escaped": json.dumps(secret)[1:-1], "hex": raw.hex(), "HEX": raw.hex().upper(),
    }


def assert_nothing_leaked(places: dict[str, str], extra: dict[str, str] | None = None) -> None:
    """No planted secret, in any of its encodings, in any of `places` (name -> text)."""
    leaks = []
    for what, secret in {**planted(), **(extra or {})}.items():
        for how, form in encoded(secret).items():
            if len(form) < 8:
                continue
            leaks += [f"the {what} ({how}) in {where}" for where, text in places.items() if form in text]
    assert not leaks, "\n".join(leaks)


# --- a hostile server: echoes every credential it receives, as AWS and as the admin API --------------

ESC_PAGE = ("\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[32mAll systems operational\x1b[0m \u202edesrever\u202c"
            "\r\nFAKE: incident resolved [/] [bold]by the server[/bold]")


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EchoServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        with self.server.lock:
            self.server.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                     "body": body})
        everything = (f"{self.command} {self.path} authorization={self.headers.get('Authorization')} "
                      f"token={self.headers.get('X-Amz-Security-Token')} body={body}")
        if self.headers.get("X-Amz-Security-Token") or "AWS4-HMAC-SHA256" in (self.headers.get("Authorization") or ""):
            # AWS's query protocol error, echoing the request (STS did put a token on screen this way);
            # XML may not hold control characters, so only a bidi override comes along
            token = self.headers.get("X-Amz-Security-Token")
            message = (f"\u202edesrever\u202c The security token {token} included in the request is invalid: "
                       f"{everything}").replace("&", "&amp;").replace("<", "&lt;")
            status, ctype = 403, "text/xml"
            data = (f"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>"
                    f"<Message>{message}</Message></Error><RequestId>e2e</RequestId></ErrorResponse>")
        elif self.server.mode == "ansi" and self.path.startswith("/health/component"):
            status, ctype, data = 200, "text/html", f"<html><body>{ESC_PAGE}</body></html>"
        elif self.server.mode == "ansi" and self.path.startswith("/health"):
            status, ctype, data = 200, "application/json", json.dumps({"status": ESC_PAGE, "components": {}})
        else:
            status, ctype = 400, "application/json"
            data = json.dumps({"error": f"rejected: {everything} {ESC_PAGE}"})
        payload = data.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


class _EchoServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.lock = threading.Lock()
        self.seen: list[dict[str, Any]] = []
        self.mode = "echo"
        self.port = self.server_address[1]


@pytest.fixture(scope="module")
def echo() -> Iterator[_EchoServer]:
    server = _EchoServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _derived_runbook(tmp_path: Path) -> Path:
    steps = "".join(f"""
      - id: send-{name}
        title: Send {name}
        budget: 1m
        on_failure: continue
        http: {{method: POST, path: /admin/routing/force-mcp, body: {{reason: {json.dumps(template)}, duration: 60}}}}
""" for name, (template, _) in DERIVED_TEMPLATES.items())
    path = tmp_path / "secret-derived.yaml"
    path.write_text(one_phase_runbook('secret-derived', 'Values derived from a secret variable', f"""\
      - id: read
        title: Read a component named after the key
        budget: 1m
        on_failure: continue
        http: {{method: GET, path: "/health/component/{{{{ api_key|lower }}}}", expect: [200]}}
{steps}""", variables="""\
variables:
  - {name: api_key, description: a credential, secret: true}
"""), encoding="utf-8")
    return path


def _collect(result: CliResult, run: Run, env: dict[str, str]) -> dict[str, str]:
    """Every output of a run and of every audit reader over its logs: name -> text."""
    places = {f"{result.audit_dir.name} stdout": result.stdout, f"{result.audit_dir.name} stderr": result.stderr}
    for log in result.logs():
        places[str(log)] = log.read_text("utf-8", errors="replace")
        audit_env = {**env, "HYBRIDOPS_AUDIT_DIR": str(result.audit_dir)}
        for args in (["audit", "show", log.stem], ["audit", "timeline", log.stem],
                     ["audit", "timeline", log.stem, "--format", "json"], ["audit", "verify", log.stem],
                     ["audit", "list"]):
            read = run(args, env=audit_env, keep_audit_dir=True)
            places[" ".join(args)] = read.stdout + read.stderr
            assert "Traceback" not in read.stderr, read.stderr
    return places


@pytest.fixture
def run_in(tmp_path: Path) -> Run:
    """Like the e2e `run`, but an audit reader may read the run's own audit dir (keep_audit_dir)."""
    from itertools import count

    from e2e_support import run_cli

    counter = count(1)

    def call(args: list[str], env: dict[str, str], timeout: float = 60, keep_audit_dir: bool = False) -> CliResult:
        env = dict(env)
        if not keep_audit_dir:
            env["HYBRIDOPS_AUDIT_DIR"] = str(tmp_path / f"audit-{next(counter)}")
        return run_cli(args, env, cwd=tmp_path, timeout=timeout)

    return call


def _logs_client(sb: Sandbox) -> Any:
    return boto3.client("logs", endpoint_url=sb.aws_url, region_name="eu-central-1",
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


def _shipped(sb: Sandbox, group: str) -> str:
    client, out = _logs_client(sb), []
    for stream in client.describe_log_streams(logGroupName=group)["logStreams"]:
        page = client.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
        out += [e["message"] for e in page["events"]]
    return "\n".join(out)


def test_planted_secrets_reach_no_output_log_report_timeline_or_cloudwatch(
        scenario: Callable[[str], Sandbox], cli_env: dict[str, str], run_in: Run, echo: _EchoServer,
        tmp_path: Path, receiver: Receiver) -> None:
    places: dict[str, str] = {}
    derived_file = _derived_runbook(tmp_path)
    sandbox_env = {**cli_env, "AWS_SESSION_TOKEN": SESSION_TOKEN, "HYBRIDOPS_AUDIT_LOG_GROUP": "/hybridops/e2e-secrets"}

    # 1. Real incidents on the sandbox: notifications to Slack and PagerDuty, shipping to CloudWatch.
    sb = scenario("outage")
    done = run_in(["incident", "outage", "--yes"], sandbox_env)
    assert done.code == 0, done.stdout[-2000:] + done.stderr
    assert [r["path"] for r in receiver.received()], "the run notified nobody: the webhook secret went untested"
    places |= _collect(done, run_in, sandbox_env)
    places["cloudwatch"] = _shipped(sb, "/hybridops/e2e-secrets")
    assert places["cloudwatch"].count('"event"') >= 10  # the copy was really shipped, and is searched
    for args in (["incident", "outage", "--dry-run"], ["incident", "outage", "--yes", "--output", "json"]):
        scenario("outage")
        r = run_in(args, sandbox_env)
        assert r.code == 0, r.stderr
        places |= _collect(r, run_in, sandbox_env)
    assert '"event":"run_started"' in places[f"{r.audit_dir.name} stdout"]  # the JSON output was searched

    # 2. A secret variable through filters, against a server that echoes everything it receives into its
    #    errors; the admin URL carries a password (wall clock: the simulated one is the sandbox's).
    hostile = {**wall_clock(cli_env), "AWS_SESSION_TOKEN": SESSION_TOKEN,
               "HYBRIDOPS_ADMIN_URL": f"http://e2e-user:{URL_PASSWORD}@127.0.0.1:{echo.port}"}
    args = ["incident", str(derived_file), "--yes", "--skip-preflight", "--var", f"api_key={SECRET_VAR}"]
    echoed = run_in(args, hostile)
    assert echoed.code == 3, echoed.stdout[-2000:] + echoed.stderr  # every send failed, and the run went on
    assert len(echo.seen) >= len(DERIVED_TEMPLATES)
    assert SECRET_VAR.upper() in json.dumps(echo.seen)  # the derived values really went out, and came back
    # The echoed error is shown, masked: the bearer token (the URL's credentials are not sent with one), the
    # derived value in the body.
    assert 'authorization=Bearer *** token=None body={"reason":"***","duration":60}' in echoed.stdout
    places |= _collect(echoed, run_in, hostile)
    for more in (["--output", "json"], ["--dry-run"]):
        r = run_in([*args, *more], hostile)
        assert r.code in (0, 3), r.stderr
        places |= _collect(r, run_in, hostile)
    # the admin URL with a token in its query string, too
    query = {**hostile, "HYBRIDOPS_ADMIN_URL": f"http://127.0.0.1:{echo.port}/?token={URL_QUERY_TOKEN}"}
    r = run_in(args, query)
    assert "Traceback" not in r.stderr
    places |= _collect(r, run_in, query)

    # 3. The AWS side echoes the session token in its error (the preflight's STS call): one error line.
    aws_echo = {**hostile, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{echo.port}"}
    refused = run_in(["incident", "outage", "--yes"], aws_echo)
    assert refused.code == 1 and "preflight: aws sts GetCallerIdentity: InvalidClientTokenId" in refused.stderr, \
        refused.stderr
    assert "\\u202edesrever" in refused.stderr and "\u202e" not in refused.stderr
    assert "The security token *** included in the request is invalid" in refused.stderr
    assert any(seen["headers"].get("X-Amz-Security-Token") == SESSION_TOKEN for seen in echo.seen)
    places |= _collect(refused, run_in, aws_echo)
    # ... and in a step's error, with the audit shipped to CloudWatch (only STS goes to the echo).
    sts_step = tmp_path / "sts-echo.yaml"
    sts_step.write_text(one_phase_runbook('sts-echo', 'Who am I', """\
      - id: whoami
        title: Who am I
        budget: 1m
        on_failure: continue
        aws: {service: sts, operation: GetCallerIdentity}
"""), encoding="utf-8")
    shipping = {**sandbox_env, "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{echo.port}",
                "HYBRIDOPS_AUDIT_LOG_GROUP": "/hybridops/e2e-secrets-sts"}
    scenario("healthy")
    stepped = run_in(["incident", str(sts_step), "--yes", "--skip-preflight"], shipping)
    assert stepped.code == 3 and "InvalidClientTokenId" in stepped.stdout, stepped.stdout[-2000:] + stepped.stderr
    places |= _collect(stepped, run_in, shipping)
    places["cloudwatch (sts echo)"] = _shipped(sb, "/hybridops/e2e-secrets-sts")
    assert "InvalidClientTokenId" in places["cloudwatch (sts echo)"]

    # 4. config show, with everything set, offline and asking STS.
    for args in (["config", "show", "--runbook", str(derived_file)], ["config", "show", "--offline"]):
        for name, env in {"sandbox": sandbox_env, "query token": {**query, "HYBRIDOPS_VAR_API_KEY": SECRET_VAR},
                          "AWS echo": aws_echo}.items():
            shown = run_in(args, env)
            places[f"{' '.join(args)} ({name})"] = shown.stdout + shown.stderr
    assert any("admin_url = http://e2e-user:***@127.0.0.1" in text for text in places.values())

    # The derived value jinja itself rendered, searched for too.
    center = SECRET_VAR.center(50).strip().title()
    assert_nothing_leaked(places, {"secret --var through center|trim|title": center})
    assert ESC_PAGE not in "".join(places.values())


def test_server_text_cannot_clear_the_screen_or_fake_a_line(cli_env: dict[str, str], run_in: Run,
                                                           echo: _EchoServer, tmp_path: Path) -> None:
    """A server answering an ANSI page (JSON and HTML): what reaches the terminal shows the escape
    sequences as text; none of the server's ESC bytes is ever written."""
    runbook = tmp_path / "ansi.yaml"
    runbook.write_text(one_phase_runbook('ansi', 'A server that answers escape sequences', """\
      - id: health
        title: Overall health
        budget: 1m
        on_failure: continue
        http: {method: GET, path: /health, expect: [200], capture: {status: status}}
      - id: component
        title: One component
        budget: 1m
        on_failure: continue
        http: {method: GET, path: /health/component/mcp-router, expect: [200]}
      - id: change
        title: A change the server refuses
        budget: 1m
        on_failure: continue
        http: {method: POST, path: /admin/circuit-breaker/reset}
"""), encoding="utf-8")
    echo.mode = "ansi"
    try:
        env = {**wall_clock(cli_env), "HYBRIDOPS_ADMIN_URL": f"http://127.0.0.1:{echo.port}"}
        args = ["incident", str(runbook), "--yes", "--skip-preflight"]
        for verbosity in ([], ["-v"]):
            piped = run_in([*args, *verbosity], env)
            assert piped.code in (0, 3), piped.stderr
            assert "\x1b" not in piped.stdout + piped.stderr and "\u202e" not in piped.stdout
            assert "\\x1b[2J\\x1b[H" in piped.stdout and "\\r\\nFAKE: " in piped.stdout  # shown, escaped
            log = piped.log().read_text("utf-8")
            assert "\\u001b[2J" in log  # the audit log keeps the server's text exactly (JSON-escaped)
            shown = {"run": piped.stdout + piped.stderr}
            audit_env = {**env, "HYBRIDOPS_AUDIT_DIR": str(piped.audit_dir)}
            for reader in (["audit", "show"], ["audit", "timeline"], ["audit", "timeline", "--format", "json"]):
                read = run_in([*reader, piped.log().stem], audit_env, keep_audit_dir=True)
                assert read.code == 0, read.stderr
                shown[" ".join(reader)] = read.stdout + read.stderr
            json.loads(shown["audit timeline --format json"])  # inert, and still valid JSON
            for where, text in shown.items():
                assert "\x1b" not in text and "\u202e" not in text and "\r" not in text, where
                # the server's line break never starts a line of its own: no fake line on the screen
                assert not re.search(r"(?m)^\W*(FAKE|All systems operational)", text), where

        # At a real terminal: rich's own styling only, never the server's sequences.
        audit = tmp_path / "audit-tty"
        child = pexpect.spawn(sys.executable, ["-m", "hybridops", *args, "-v"], cwd=str(tmp_path),
                              env={**env, "HYBRIDOPS_AUDIT_DIR": str(audit), "TERM": "xterm-256color"},
                              encoding="utf-8", timeout=60, dimensions=(50, 250))
        raw = child.read()
        child.close()
        assert child.exitstatus in (0, 3), raw[-2000:]
        assert "\\x1b[2J\\x1b[H" in raw
        for sequence in ("\x1b[2J", "\x1b[H", "\x1b]0;", "\x07", "\u202e", "\x1b[32mAll systems"):
            assert sequence not in raw, repr(sequence)
        assert not re.search(r"(?m)^\W*FAKE", strip_ansi(raw))
    finally:
        echo.mode = "echo"


def test_log_events_a_log_step_shows_are_inert(scenario: Callable[[str], Sandbox], cli_env: dict[str, str],
                                               run_in: Run, tmp_path: Path) -> None:
    """A log line is the outside world too: an application can log anything."""
    import time

    sb = scenario("healthy")
    group = f"/e2e/hostile-logs-{secrets.token_hex(4)}"
    logs = _logs_client(sb)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="app")
    now_ms = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="app", logEvents=[
        {"timestamp": now_ms - 60_000 + i, "message": f"ERROR {ESC_PAGE}"} for i in range(3)])
    runbook = tmp_path / "hostile-logs.yaml"
    runbook.write_text(one_phase_runbook('hostile-logs', 'Errors an application logged', f"""\
      - id: errors
        title: Count the errors
        budget: 1m
        log_errors:
          log_group: {group}
          region: eu-central-1
          filter_pattern: ERROR
          type_pattern: "ERROR (?P<type>.+)"
          since: 1h
          capture: errors
"""), encoding="utf-8")
    env = wall_clock(cli_env)  # the events are stamped on the wall clock
    result = run_in(["incident", str(runbook), "--yes", "--skip-preflight"], env)
    assert result.code == 0, result.stdout[-2000:] + result.stderr
    assert "3 in all" in result.stdout  # the table of error types was shown
    assert "\\x1b[2J\\x1b[H" in result.stdout and "\x1b" not in result.stdout + result.stderr
    assert not re.search(r"(?m)^\W*(FAKE|All systems operational)", result.stdout)
