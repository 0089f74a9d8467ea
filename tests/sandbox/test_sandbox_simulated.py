"""A sandbox on a simulated clock: read and jumped over /_sandbox/clock (how a run in another process
shares it), timed events at their simulated instants, and the faults a drill injects: scheduled,
per request, AWS throttling in each protocol's wire format, held answers, and outages that neither
earn nor take the operator's credit for a recovery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import httpx
import pytest

from hybridops.engine.clock import SIMULATED_CLOCK_ENV, RemoteClock, SimClock
from hybridops.sandbox import Sandbox
from hybridops.sandbox.scenarios import BEDROCK_OUTAGE_S, TASK_START_S
from hybridops.sandbox.world import MCP_SERVICE

FORCE_MCP = {"reason": "Bedrock unavailable", "duration": 3600}
INVOKE = b'{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": []}'


@pytest.fixture(scope="module")
def sim() -> Iterator[Sandbox]:
    with Sandbox(scenario="healthy", clock=SimClock(), seed=3) as sb:
        yield sb


@pytest.fixture
def world(sim: Sandbox) -> Any:
    def use(name: str) -> Sandbox:
        sim.set_scenario(name)
        return sim

    return use


@pytest.fixture(scope="module")
def client(sim: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.admin_url, headers={"Authorization": f"Bearer {sim.token}"}, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def boto(sim: Sandbox) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox",
                                    region_name="eu-central-1")
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    return lambda name: session.client(name, endpoint_url=sim.aws_url, config=config)


def test_the_clock_is_exported_read_and_jumped_over_http(world: Any) -> None:
    sb = world("mcp-down")
    assert sb.env[SIMULATED_CLOCK_ENV] == sb.admin_url + "/_sandbox/clock"
    remote = RemoteClock(sb.clock_url)
    start = sb.world.sim_now()
    sb.world.force_new_deployment(MCP_SERVICE)
    assert sb.status()["health"]["status"] != "healthy"
    remote.sleep(TASK_START_S)  # a run in another process waiting a minute: the deployment finishes
    assert sb.status()["health"]["status"] == "healthy" and sb.status()["recovered"] is True
    assert sb.world.sim_now() - start >= TASK_START_S
    # the same clock, seen from both sides: the remote reading lags by at most the answer's way back
    before, seen, after = sb.clock.monotonic(), remote.monotonic(), sb.clock.monotonic()
    assert before - 5 <= seen <= after
    assert remote.now() - remote.monotonic() == pytest.approx(sb.clock.now() - sb.clock.monotonic())


def test_the_clock_path_refuses_nonsense_and_is_absent_on_the_wall_clock(sim: Sandbox) -> None:
    for body in ({"advance": -1}, {"advance": "x"}, {"advance": True}, []):
        assert httpx.post(sim.clock_url, json=body).status_code == 400
    with Sandbox(scenario="healthy") as wall:
        answer = httpx.get(wall.clock_url)
        assert answer.status_code == 404 and "wall clock" in answer.json()["error"]
        assert SIMULATED_CLOCK_ENV not in wall.env


def test_bedrock_comes_back_at_its_simulated_instant_however_long_the_jump(world: Any) -> None:
    sb = world("bedrock-down")
    sb.clock.advance(BEDROCK_OUTAGE_S + 3600)  # one jump far past it
    history = sb.status()["history"]
    assert [(h["cause"], h["what"]) for h in history] == [("self", "Bedrock answers again")]
    assert history[0]["t"] == BEDROCK_OUTAGE_S  # applied when it happened, not when looked at
    assert sb.status()["recovered"] is False  # it healed by itself


def test_a_slow_answer_takes_simulated_time_only(world: Any, client: httpx.Client) -> None:
    sb = world("healthy")
    client.post("/_sandbox/fault", json={"kind": "slow", "seconds": 45})
    jumped = sb.clock.jumped
    assert client.get("/health").status_code == 200
    assert sb.clock.jumped == jumped + 45  # the answer took 45 simulated seconds, no real ones
    client.get("/health")
    assert sb.clock.jumped == jumped + 45  # the next one is not slow
    assert [(f["kind"], f["hit"]) for f in sb.status()["faults"]] == [("slow", "GET /health")]


def test_request_faults_wait_for_their_request_or_their_moment(world: Any, client: httpx.Client) -> None:
    sb = world("healthy")
    client.post("/_sandbox/fault", json={"kind": "http-503", "count": 2, "on_request": 3})
    client.post("/_sandbox/fault", json={"kind": "http-503", "at_s": 600})
    codes = [client.get("/health/metrics").status_code for _ in range(5)]
    assert codes == [200, 200, 503, 503, 200]
    sb.clock.advance(600)
    assert [client.get("/health/metrics").status_code for _ in range(2)] == [503, 200]
    assert len(sb.status()["faults"]) == 3


def test_an_outage_scheduled_at_a_moment_happens_then_and_ends_by_itself(world: Any, client: httpx.Client) -> None:
    sb = world("bedrock-down")
    assert client.post("/admin/routing/force-mcp", json=FORCE_MCP).status_code == 200
    at = sb.world.sim_now()
    assert sb.status()["recovered"] is True  # force-MCP mitigated Bedrock's outage
    answer = client.post("/_sandbox/fault", json={"kind": "component-down", "component": "mcp-router",
                                                  "at_s": round(at) + 100, "for_s": 50})
    assert answer.json()["message"] == f"scheduled: mcp-router down for 50s at {round(at) + 100}s"
    sb.clock.advance(120)
    assert client.get("/health").json()["status"] == "critical"  # the only path left is down
    assert sb.status()["recovered"] is False  # not healthy now...
    sb.clock.advance(60)
    status = sb.status()
    assert status["health"]["status"] == "healthy"
    assert status["recovered"] is True  # ...and the injected outage took no credit away, nor gave any
    assert abs(status["mitigated_at"] - at) < 1
    faults = [(h["cause"], h["what"], round(h["t"] - at)) for h in status["history"] if h["cause"] == "fault"]
    assert faults == [("fault", "mcp-router down for 50s", 100), ("fault", "mcp-router back up (injected outage "
                                                                           "ended)", 150)]
    assert status["faults"][0]["kind"] == "component-down"


def test_an_outage_ended_by_a_fault_is_nobodys_mitigation(world: Any, client: httpx.Client) -> None:
    sb = world("healthy")
    client.post("/_sandbox/fault", json={"kind": "component-down", "component": "direct-bedrock", "for_s": 30})
    assert sb.status()["healthy"] is False
    sb.clock.advance(31)
    assert sb.status()["healthy"] is True and sb.status()["mitigated_at"] is None


@pytest.mark.parametrize(("service", "call", "code"), [
    ("ecs", lambda c: c.describe_clusters(clusters=["mcp-cluster"]), "ThrottlingException"),  # JSON
    ("sqs", lambda c: c.get_queue_url(QueueName="mcp-router-queue"), "ThrottlingException"),  # JSON
    ("elbv2", lambda c: c.describe_load_balancers(), "Throttling"),  # query (XML)
    ("iam", lambda c: c.list_roles(), "Throttling"),  # query, global
    ("ec2", lambda c: c.describe_vpc_endpoints(), "RequestLimitExceeded"),  # EC2's own XML
    ("bedrock-runtime", lambda c: c.invoke_model(modelId="anthropic.claude-3-sonnet-20240229-v1:0", body=INVOKE),
     "ThrottlingException"),  # REST-JSON
])
def test_aws_throttling_reaches_botocore_as_the_service_says_it(world: Any, client: httpx.Client, boto: Any,
                                                                  service: str, call: Any, code: str) -> None:
    sb = world("healthy")
    aws = boto(service)
    client.post("/_sandbox/fault", json={"kind": "aws-throttle", "count": 1})
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(aws)
    assert caught.value.response["Error"]["Code"] == code
    call(aws)  # one throttled call, then answers again
    assert [f["kind"] for f in sb.status()["faults"]] == ["aws-throttle"]


def test_a_held_answer_waits_for_its_release(world: Any, client: httpx.Client, sim: Sandbox) -> None:
    import threading

    sb = world("bedrock-down")
    client.post("/_sandbox/fault", json={"kind": "hold", "on_request": 1})
    answered: list[int] = []
    worker = threading.Thread(target=lambda: answered.append(
        client.post("/admin/routing/force-mcp", json=FORCE_MCP).status_code))
    worker.start()
    # the request arrived and is held: an event to wait on, not a time
    from testsupport import wait_for

    wait_for(lambda: any(c.get("path") == "/admin/routing/force-mcp" for c in sb.requests()), timeout=10,
             what="the held request")
    assert answered == [] and sb.status()["recovered"] is False  # not applied while held
    assert httpx.post(f"{sim.admin_url}/_sandbox/release").json() == {"ok": True, "released": 1}
    worker.join(10)
    assert answered == [200] and sb.status()["recovered"] is True
