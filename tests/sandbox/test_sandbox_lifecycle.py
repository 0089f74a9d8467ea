"""Start and stop: nothing answers before, everything answers after start, nothing is left after stop."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest
from testsupport import port_free

from hybridops.errors import SandboxError
from hybridops.sandbox import Sandbox


def test_stop_leaves_no_thread_or_port_even_with_open_connections() -> None:
    import boto3

    before = set(threading.enumerate())
    sb = Sandbox(scenario="mcp-down").start()
    ports = [int(u.rsplit(":", 1)[1]) for u in (sb.aws_url, sb.admin_url)]
    client = httpx.Client(base_url=sb.admin_url)  # keeps its connection open
    assert client.get("/health").status_code == 200
    ecs = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b",
                                region_name="eu-central-1").client("ecs", endpoint_url=sb.aws_url)
    assert ecs.list_clusters()["clusterArns"]
    assert len(set(threading.enumerate()) - before) >= 2
    sb.stop()
    assert set(threading.enumerate()) - before == set()
    assert all(port_free(p) for p in ports)
    with pytest.raises(httpx.TransportError):
        client.get("/health")
    client.close()
    sb.stop()  # stopping twice is harmless


def test_context_manager_and_fixed_ports() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with Sandbox(admin_port=free, token="t0ken") as sb:
        assert sb.admin_url == f"http://127.0.0.1:{free}"
        assert sb.env["HYBRIDOPS_ADMIN_TOKEN"] == "t0ken"
        assert httpx.get(f"{sb.admin_url}/health").status_code == 200
    assert port_free(free)


def test_misuse_is_reported() -> None:
    sb = Sandbox()
    with pytest.raises(SandboxError, match="not started"):
        sb.status()
    with pytest.raises(ValueError, match="unknown scenario"):
        Sandbox(scenario="nope")
    with pytest.raises(ValueError, match="time_scale"):
        Sandbox(time_scale=0)
    with sb:
        with pytest.raises(SandboxError, match="already started"):
            sb.start()
        with pytest.raises(ValueError, match="unknown scenario"):
            sb.set_scenario("nope")
        assert sb.status()["scenario"] == "healthy"


def test_a_taken_port_is_a_sandbox_error_and_cleans_up() -> None:
    before = set(threading.enumerate())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(SandboxError, match="cannot start"):
            Sandbox(aws_port=s.getsockname()[1]).start()
    assert set(threading.enumerate()) - before == set()
