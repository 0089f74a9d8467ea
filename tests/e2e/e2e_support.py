"""What the end-to-end tests share: the CLI as a real subprocess, a notification receiver, the planted
secrets, and checks of the audit log contract (issue 4 §7) written independently of hybridops.audit."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import secrets
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridops.audit.log import verify_log
from hybridops.engine.clock import SIMULATED_CLOCK_ENV

RUNBOOKS = Path(__file__).resolve().parents[2] / "hybridops" / "runbooks"
ZERO = "0" * 64
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass(frozen=True)
class Planted:
    """Distinctive secrets: any of them in an output or a log is a leak."""

    admin_token: str = field(default_factory=lambda: "e2e-admin-token-" + secrets.token_hex(12))
    slack_path: str = field(default_factory=lambda: "e2e-slack-secret-" + secrets.token_hex(12))
    routing_key: str = field(default_factory=lambda: "e2e-routing-key-" + secrets.token_hex(12))
    aws_secret_key: str = field(default_factory=lambda: "e2e-aws-secret-" + secrets.token_hex(12))

    def all(self) -> dict[str, str]:
        return {"admin token": self.admin_token, "slack webhook secret": self.slack_path,
                "pagerduty routing key": self.routing_key, "aws secret key": self.aws_secret_key}


PLANTED = Planted()


# --- the CLI ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str
    audit_dir: Path

    def logs(self) -> list[Path]:
        return sorted(self.audit_dir.glob("*.jsonl")) if self.audit_dir.is_dir() else []

    def log(self) -> Path:
        logs = self.logs()
        assert len(logs) == 1, f"expected one audit log in {self.audit_dir}, found {logs}"
        return logs[0]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log().read_text("utf-8").splitlines()]

    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def wall_clock(env: dict[str, str]) -> dict[str, str]:
    """`env` without the sandbox's simulated clock: the run waits on the wall clock (a test of a real
    wait, or of a run against an admin URL that is not the sandbox's)."""
    return {k: v for k, v in env.items() if k != SIMULATED_CLOCK_ENV}


def run_cli(args: list[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 60) -> CliResult:
    """`python -m hybridops ARGS` as a real subprocess (stdin not a terminal); every output and audit log
    it leaves is checked for the planted secrets before the result is returned."""
    proc = subprocess.run([sys.executable, "-m", "hybridops", *map(str, args)], env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8",
                          timeout=timeout)
    result = CliResult(proc.returncode, proc.stdout, proc.stderr, Path(env["HYBRIDOPS_AUDIT_DIR"]))
    assert_no_secrets(result.stdout, result.stderr, *result.logs())
    return result


def one_phase_runbook(id: str, title: str, steps: str, variables: str = "") -> str:
    """The text of a runbook of one phase holding `steps` (YAML, indented as a phase's steps)."""
    return (f"id: {id}\ntitle: {title}\nseverity: P3\nresponse_time: 1h\nimpact: none\nowner: e2e\n"
            f'version: "1"\n{variables}phases:\n  - id: p\n    title: P\n    steps:\n{steps}')


# A runbook of one mutating admin call with a short per-call timeout and one retry (for the unknown-outcome
# rule), and one with a secret variable.
UNKNOWN_OUTCOME_RUNBOOK = """\
id: unknown-outcome
title: Reset with a short timeout
severity: P3
response_time: 1h
impact: none
owner: e2e
version: "1"
phases:
  - id: p
    title: P
    steps:
      - id: reset
        title: Reset circuit breakers
        budget: 1m
        timeout: 1s
        on_failure: continue
        retries: {attempts: 1, backoff: 0.1s}
        http: {method: POST, path: /admin/circuit-breaker/reset}
"""
SECRET_VARIABLE_RUNBOOK = """\
id: secret-variable
title: A runbook with a secret variable
severity: P3
response_time: 1h
impact: none
owner: e2e
version: "1"
variables:
  - {name: api_key, description: a credential, secret: true}
phases:
  - id: p
    title: P
    steps:
      - id: read
        title: Read health
        budget: 1m
        http: {method: GET, path: "/health/component/{{ 'mcp-router' }}", expect: [200]}
      - id: rotate
        title: Rotate the key
        budget: 1m
        manual:
          instructions: "Paste {{ api_key }} into the console"
          checklist: ["Rotate {{ api_key }}", "Check {{ api_key[:4] }} is gone"]
"""


def assert_no_secrets(*places: str | Path) -> None:
    for place in places:
        text = place.read_text("utf-8", errors="replace") if isinstance(place, Path) else place
        for what, value in PLANTED.all().items():
            assert value not in text, f"the {what} leaked into {place if isinstance(place, Path) else 'output'}"


def base_env(tmp: Path) -> dict[str, str]:
    """A clean environment: nothing of the developer's (AWS profiles, config files, tokens) leaks in."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
        "XDG_STATE_HOME": str(tmp / "xdg-state"),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "AWS_EC2_METADATA_DISABLED": "true",  # no 1-second IMDS probes when credentials are absent
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "HYBRIDOPS_AUDIT_DIR": str(tmp / "audit"),
        "HYBRIDOPS_CACHE_DIR": os.environ.get("HYBRIDOPS_CACHE_DIR", "off"),  # the session's (conftest)
    }


def sandbox_env(tmp: Path, sandbox: Any, receiver: Receiver) -> dict[str, str]:
    """The environment of an operator pointed at the sandbox, with Slack and PagerDuty configured."""
    return {
        **base_env(tmp),
        **sandbox.env,
        "AWS_SECRET_ACCESS_KEY": PLANTED.aws_secret_key,
        "HYBRIDOPS_SLACK_WEBHOOK_URL": receiver.slack_url,
        "HYBRIDOPS_PAGERDUTY_ROUTING_KEY": PLANTED.routing_key,
        "HYBRIDOPS_PAGERDUTY_URL": receiver.pagerduty_url,
    }


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "")


# --- the notification receiver ------------------------------------------------------------------------


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ReceiverServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self.server.lock:
            self.server.received.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                         "body": body})
        if self.path.startswith("/v2/enqueue"):  # PagerDuty Events API v2
            status, data = 202, json.dumps({"status": "success", "message": "Event processed",
                                            "dedup_key": body.get("dedup_key") if isinstance(body, dict) else None})
        else:  # a Slack incoming webhook answers a plain "ok"
            status, data = 200, "ok"
        payload = data.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 202 else "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _ReceiverServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []


class Receiver:
    """Stands in for Slack and PagerDuty on loopback: records every body and header it receives."""

    def __init__(self) -> None:
        self._server = _ReceiverServer()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="e2e-receiver", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.slack_url = f"{self.url}/services/T0E2E/B0E2E/{PLANTED.slack_path}"
        self.pagerduty_url = f"{self.url}/v2/enqueue"

    def received(self) -> list[dict[str, Any]]:
        with self._server.lock:
            return json.loads(json.dumps(self._server.received))

    def clear(self) -> None:
        with self._server.lock:
            self._server.received.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def notifications(received: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """What the receiver got, in order: ("slack", channel) or ("pagerduty", event_action)."""
    out: list[tuple[str, ...]] = []
    for r in received:
        if r["path"].startswith("/v2/enqueue"):
            out.append(("pagerduty", r["body"]["event_action"]))
        else:
            out.append(("slack", r["body"].get("channel")))
    return out


# --- what reached the sandbox -----------------------------------------------------------------------

# Reads by their operation name; InvokeModel is the runbook's test call (declared not mutating).
_READ_PREFIXES = ("Describe", "Get", "List", "Filter", "Simulate")
_READ_AWS = {"InvokeModel"}
# POST /admin/bedrock/test is a probe (the runbook declares it not mutating); every other POST changes routing.
_ADMIN_PROBES = {("POST", "/admin/bedrock/test")}


def is_mutating(call: dict[str, Any]) -> bool:
    if call["api"] == "aws":
        return not (call["operation"].startswith(_READ_PREFIXES) or call["operation"] in _READ_AWS)
    return call["method"] != "GET" and (call["method"], call["path"]) not in _ADMIN_PROBES


def brief(call: dict[str, Any]) -> tuple[Any, ...]:
    """A sandbox record without its timing: ("aws", service, operation, params) or ("admin", method, path, body)."""
    if call["api"] == "aws":
        return ("aws", call["service"], call["operation"], call["params"])
    return ("admin", call["method"], call["path"], call["body"])


def mutations(calls: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [brief(c) for c in calls if is_mutating(c)]


def aws_calls(calls: list[dict[str, Any]], operation: str) -> list[dict[str, Any]]:
    return [c["params"] for c in calls if c["api"] == "aws" and c["operation"] == operation]


def admin_calls(calls: list[dict[str, Any]], method: str, path: str) -> list[dict[str, Any]]:
    return [c for c in calls if c["api"] == "admin" and c["method"] == method and c["path"] == path]


# --- the audit log contract ---------------------------------------------------------------------------


def chained_records(path: Path) -> list[dict[str, Any]]:
    """Every line of the log, checked against the contract by recomputing the chain here (no
    hybridops code involved): compact JSON, seq 0.., RFC 3339 UTC ts, one run_id, prev = SHA-256 of
    the previous line's exact bytes (64 zeros first)."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), f"{path} does not end with a newline"
    prev, out = ZERO, []
    for i, line in enumerate(data[:-1].split(b"\n")):
        record = json.loads(line.decode("utf-8"))
        assert isinstance(record, dict)
        compact = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        assert line == compact, f"line {i} is not compact JSON"
        assert record["seq"] == i, f"line {i} has seq {record['seq']}"
        assert record["prev"] == prev, f"line {i} does not chain"
        assert RFC3339_UTC.fullmatch(record["ts"]), record["ts"]
        assert record["run_id"] == path.stem
        assert isinstance(record["event"], str) and record["event"]
        prev = hashlib.sha256(line).hexdigest()
        out.append(record)
    return out


def check_run_log(path: Path, *, runbook: str, status: str, dry_run: bool = False, read_only: bool = False,
                  runbook_file: Path | None = None) -> list[dict[str, Any]]:
    """The whole contract for one run's log (of the shipped runbook `runbook`, or `runbook_file`); its records."""
    records = chained_records(path)
    result = verify_log(path, require_finished=True)
    assert result.ok, result.reason
    assert result.status == status and result.records == len(records)
    assert result.head == hashlib.sha256(path.read_bytes()[:-1].split(b"\n")[-1]).hexdigest()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # run id sortable by time and naming the incident
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}\.\d{{3}}Z-{re.escape(runbook)}-[0-9a-f]{{4}}", path.stem), path.stem

    first, last = records[0], records[-1]
    assert first["event"] == "run_started"
    rb = first["runbook"]
    file = (runbook_file or RUNBOOKS / f"{runbook}.yaml").resolve()
    assert rb["id"] == runbook and Path(rb["path"]).resolve() == file
    assert rb["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert first["dry_run"] is dry_run and first["read_only"] is read_only
    assert first["tool_version"] and first["host"] and first["operator"]
    assert isinstance(first["argv"], list) and "incident" in first["argv"]
    assert last["event"] == "run_finished" and last["status"] == status
    assert [r["event"] for r in records].count("run_started") == 1
    assert [r["event"] for r in records].count("run_finished") == 1
    check_pairs(records, dry_run=dry_run)
    return records


def check_pairs(records: list[dict[str, Any]], *, dry_run: bool = False) -> None:
    """Every request is announced before its response, one at a time per step; every step that
    starts finishes, and nothing of a step comes after its step_finished."""
    open_request: dict[str, dict[str, Any]] = {}
    running: str | None = None
    for r in records:
        event, step = r["event"], r.get("step_id")
        if event == "step_started":
            assert running is None, f"step {step} started inside {running}"
            running = step
        elif event == "step_finished":
            assert step == running, f"step {step} finished but {running} was running"
            assert step not in open_request, f"step {step} finished with a request unanswered"
            running = None
        elif event == "request":
            assert step == running, f"request of {step} outside its step"
            if dry_run:
                assert r["dry_run"] is True
                continue
            assert step not in open_request, f"second request of {step} before the first's response"
            open_request[step] = r
        elif event == "response":
            assert not dry_run, "a dry run recorded a response"
            req = open_request.pop(step, None)
            assert req is not None, f"response of {step} (seq {r['seq']}) without a request before it"
            assert req["seq"] < r["seq"]
        elif event == "prompt":
            assert step == running, f"prompt of {step} outside its step"
    assert running is None or records[-1]["status"] != "completed"


def events(records: list[dict[str, Any]], event: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == event and all(r.get(k) == v for k, v in match.items())]


def step_status(records: list[dict[str, Any]]) -> dict[str, str]:
    """step id -> status of its last step_finished."""
    return {r["step_id"]: r["status"] for r in records if r["event"] == "step_finished"}
