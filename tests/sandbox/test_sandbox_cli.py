"""`hybridops sandbox` as an operator runs it: a subprocess, its export lines, SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from testsupport import port_free

from hybridops.cli.app import run

AWS_CLI = next((p for p in ("/root/.pyenv/versions/3.11.7/bin/aws", shutil.which("aws")) if p and Path(p).exists()),
               None)
EXPORTS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
           "HYBRIDOPS_ADMIN_URL", "HYBRIDOPS_ADMIN_TOKEN")


class Served:
    def __init__(self, proc: subprocess.Popen, env: dict[str, str], lines: list[str]) -> None:
        self.proc, self.env, self.lines = proc, env, lines

    def ports(self) -> list[int]:
        return [int(self.env[k].rsplit(":", 1)[1]) for k in ("AWS_ENDPOINT_URL", "HYBRIDOPS_ADMIN_URL")]


def serve(*args: str, env: dict[str, str] | None = None) -> Served:
    """Start the command; return once it printed every export line."""
    full_env = {k: v for k, v in os.environ.items() if k != "HYBRIDOPS_ADMIN_TOKEN"}
    full_env.update(env or {}, PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen([sys.executable, "-m", "hybridops", "sandbox", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env)
    lines = []
    while len(lines) < len(EXPORTS):
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"exited early: {proc.wait()} {proc.stderr.read()}")
        lines.append(line.rstrip("\n"))
    exported = dict(line[len("export "):].split("=", 1) for line in lines)
    return Served(proc, exported, lines)


def stop(served: Served) -> None:
    """SIGTERM; it exits 0. A process that hangs instead shows where: SIGABRT makes it print every
    thread's stack (PYTHONFAULTHANDLER, set by `serve`), and the test fails with them."""
    served.proc.send_signal(signal.SIGTERM)
    try:
        code = served.proc.wait(timeout=60)  # a hang detector: an idle machine takes about 1 s
    except subprocess.TimeoutExpired:
        served.proc.send_signal(signal.SIGABRT)
        served.proc.wait(timeout=30)
        stacks = served.proc.stderr.read()[-8000:]
        raise AssertionError(f"no exit within 60 s of SIGTERM; its stacks:\n{stacks}") from None
    assert code == 0


@pytest.fixture(scope="module")
def bedrock_down() -> Iterator[Served]:
    # simulated time: Bedrock's outage lasts until a test moves the clock, however slow the machine
    served = serve("--scenario", "bedrock-down", "--simulated-time")
    yield served
    if served.proc.poll() is None:
        served.proc.kill()
        served.proc.wait()


def test_prints_export_lines_only_when_ready(bedrock_down) -> None:
    assert [line.split("=", 1)[0] for line in bedrock_down.lines] == [f"export {k}" for k in EXPORTS]
    assert bedrock_down.env["AWS_DEFAULT_REGION"] == "eu-central-1"
    assert len(bedrock_down.env["HYBRIDOPS_ADMIN_TOKEN"]) >= 20  # generated
    # "ready" means answering: the very first call after the lines must work
    assert httpx.get(bedrock_down.env["HYBRIDOPS_ADMIN_URL"] + "/health").json()["status"] == "degraded"


def test_done_when_of_the_issue(bedrock_down) -> None:
    env = bedrock_down.env
    url, token = env["HYBRIDOPS_ADMIN_URL"], env["HYBRIDOPS_ADMIN_TOKEN"]
    component = httpx.get(f"{url}/health/component/direct-bedrock").json()
    assert component["status"] == "critical"
    assert httpx.post(f"{url}/admin/routing/force-mcp", json={"reason": "x", "duration": 60}).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    bad = httpx.post(f"{url}/admin/routing/force-mcp", json={"reason": "x"}, headers=auth)
    assert bad.status_code == 400 and "duration" in bad.json()["error"]
    ok = httpx.post(f"{url}/admin/routing/force-mcp", json={"reason": "Bedrock unavailable", "duration": 3600},
                    headers=auth)
    assert ok.status_code == 200
    assert httpx.get(f"{url}/health").json()["status"] == "healthy"
    assert httpx.get(f"{url}/_sandbox/state").json()["recovered"] is True


def test_boto3_uses_the_exported_environment(bedrock_down, monkeypatch) -> None:
    import boto3

    for k, v in bedrock_down.env.items():
        monkeypatch.setenv(k, v)
    session = boto3.session.Session()  # endpoint, credentials and region all from the environment
    ecs = session.client("ecs")
    assert len(ecs.describe_services(cluster="hybrid-routing-cluster",
                                     services=["hybrid-routing-service"])["services"]) == 1


@pytest.mark.skipif(AWS_CLI is None, reason="the aws CLI is not installed")
def test_the_aws_cli_finds_services_and_error_events(bedrock_down) -> None:
    env = {**os.environ, **bedrock_down.env}
    out = subprocess.run([AWS_CLI, "ecs", "describe-services", "--cluster", "hybrid-routing-cluster",
                          "--services", "hybrid-routing-service", "--query", "services[0].serviceName",
                          "--output", "text"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hybrid-routing-service"
    start = str(int((time.time() - 15 * 60) * 1000))
    out = subprocess.run([AWS_CLI, "logs", "filter-log-events", "--log-group-name", "/aws/ecs/hybrid-routing",
                          "--filter-pattern", "ERROR", "--start-time", start, "--query", "events[].message",
                          "--output", "json"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    messages = json.loads(out.stdout)
    assert len(messages) >= 10 and all(" ERROR " in m for m in messages)


def test_sigterm_stops_it_cleanly_and_frees_the_ports(bedrock_down) -> None:
    ports = bedrock_down.ports()
    assert not any(port_free(p) for p in ports)
    stop(bedrock_down)
    assert all(port_free(p) for p in ports)
    assert "Traceback" not in bedrock_down.proc.stderr.read()


def test_token_from_flag_then_environment() -> None:
    served = serve("--token", "flag-token", env={"HYBRIDOPS_ADMIN_TOKEN": "env-token"})
    try:
        assert served.env["HYBRIDOPS_ADMIN_TOKEN"] == "flag-token"
    finally:
        stop(served)
    served = serve(env={"HYBRIDOPS_ADMIN_TOKEN": "env-token"})
    try:
        assert served.env["HYBRIDOPS_ADMIN_TOKEN"] == "env-token"
        url = served.env["HYBRIDOPS_ADMIN_URL"]
        assert httpx.post(f"{url}/admin/circuit-breaker/reset",
                          headers={"Authorization": "Bearer env-token"}).status_code == 200
    finally:
        stop(served)


def test_unknown_scenario_is_a_usage_error(capsys) -> None:
    assert run(["sandbox", "--scenario", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown scenario 'nope'" in err and "bedrock-down" in err


def test_bad_time_scale_is_a_usage_error(capsys) -> None:
    assert run(["sandbox", "--time-scale", "0"]) == 2
    assert "--time-scale" in capsys.readouterr().err


def test_a_port_in_use_fails_with_one_line(capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert run(["sandbox", "--admin-port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot start the sandbox") and err.count("\n") == 1


def test_importing_the_command_loads_no_moto_boto3_or_httpx() -> None:
    code = ("import sys, hybridops.cli.sandbox, hybridops.sandbox; "
            "print([m for m in ('moto', 'boto3', 'botocore', 'httpx', 'werkzeug', 'jsonschema', 'flask') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "[]", out.stderr


def test_simulated_time_exports_its_clock_for_the_runs_of_this_shell() -> None:
    served = serve("--scenario", "mcp-down", "--simulated-time", "--seed", "4")
    try:
        extra = served.proc.stdout.readline().rstrip("\n")  # one export more than a wall-clock sandbox
        name, value = extra[len("export "):].split("=", 1)
        assert (name, value) == ("HYBRIDOPS_SIMULATED_CLOCK", served.env["HYBRIDOPS_ADMIN_URL"] + "/_sandbox/clock")
        before = httpx.get(value).json()["monotonic"]
        after = httpx.post(value, json={"advance": 3600}).json()["monotonic"]
        assert after - before >= 3600
        state = httpx.get(served.env["HYBRIDOPS_ADMIN_URL"] + "/_sandbox/state").json()
        assert state["simulated_seconds"] >= 3600 and state["queue_depth"] > 850  # an hour of backlog
    finally:
        stop(served)


def test_simulated_time_and_a_time_scale_do_not_go_together(capsys) -> None:
    assert run(["sandbox", "--simulated-time", "--time-scale", "60"]) == 2
    assert "--simulated-time and --time-scale do not go together" in capsys.readouterr().err
