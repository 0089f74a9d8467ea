"""One run, its connections: one boto3 session, one client per service and region, one HTTP client
for the admin API, however many steps call them (each client costs its service model and a pool)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from hybridops.engine.clock import SimClock
from hybridops.sandbox import Sandbox


def test_one_run_makes_one_session_one_client_per_service_and_region_one_http_client(
        cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3.session
    import httpx

    sessions: list[Any] = []
    clients: Counter[tuple[str, str]] = Counter()
    http_clients: list[Any] = []
    real_session, real_client, real_http = boto3.session.Session.__init__, boto3.session.Session.client, \
        httpx.Client.__init__

    def session_init(self: Any, *args: Any, **kwargs: Any) -> None:
        sessions.append(self)
        real_session(self, *args, **kwargs)

    def client(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        clients[(service, kwargs.get("region_name") or self.region_name)] += 1
        return real_client(self, service, *args, **kwargs)

    def http_init(self: Any, *args: Any, **kwargs: Any) -> None:
        http_clients.append(self)
        real_http(self, *args, **kwargs)

    with Sandbox("bedrock-down", clock=SimClock()) as sb:
        for name, value in sb.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(boto3.session.Session, "__init__", session_init)
        monkeypatch.setattr(boto3.session.Session, "client", client)
        monkeypatch.setattr(httpx.Client, "__init__", http_init)
        code, out, err = cli("incident", "bedrock-failure", "--yes", "--no-notify")
        calls = sb.requests()
    assert code in (0, 3), out[-2000:] + err
    aws = Counter((c["service"], c.get("region", "")) for c in calls if c.get("api") == "aws")
    assert sum(aws.values()) > len(aws)  # some service was called more than once ...
    assert len(sessions) == 1
    assert all(n == 1 for n in clients.values()), clients  # ... through the one client of its region
    assert {s for s, _ in clients} >= {"bedrock-runtime", "health", "sts"}
    assert len(http_clients) == 1, http_clients  # the admin API's, for every request of the run
