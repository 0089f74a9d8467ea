"""Fixtures of the sandbox tests: one real Sandbox for the session, boto3 and httpx pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from testsupport import wait_for

from hybridops.sandbox import Sandbox

# 120: a forced deployment's tasks run 0.5 s after UpdateService; Bedrock's outage lasts 10 s
TIME_SCALE = 120.0


class FakeClock:
    """A monotonic clock that moves only when a test says so (real seconds)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(scenario="healthy", time_scale=TIME_SCALE) as sb:
        yield sb


@pytest.fixture
def scenario(sandbox: Sandbox) -> Callable[[str], Sandbox]:
    """Put the session's sandbox into a scenario (fresh world, resources and call log)."""

    def use(name: str) -> Sandbox:
        sandbox.set_scenario(name)
        return sandbox

    return use


@pytest.fixture(scope="session")
def boto_session(sandbox: Sandbox) -> Any:
    import boto3

    env = sandbox.env
    return boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                 aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                 region_name=env["AWS_DEFAULT_REGION"])


@pytest.fixture(scope="session")
def aws(boto_session: Any, sandbox: Sandbox) -> Callable[..., Any]:
    """aws("ecs") -> a boto3 client on the sandbox's one endpoint (cached: clients cost ~50 ms)."""
    from botocore.config import Config

    cache: dict[tuple[str, str], Any] = {}
    config = Config(retries={"max_attempts": 1, "mode": "standard"})  # a 503 answers at once

    def client(name: str, region: str = "eu-central-1") -> Any:
        if (name, region) not in cache:
            cache[(name, region)] = boto_session.client(name, region_name=region, endpoint_url=sandbox.aws_url,
                                                        config=config)
        return cache[(name, region)]

    return client


@pytest.fixture(scope="session")
def admin(sandbox: Sandbox) -> Iterator[Any]:
    """An httpx client with the bearer token."""
    import httpx

    with httpx.Client(base_url=sandbox.admin_url, headers={"Authorization": f"Bearer {sandbox.token}"},
                      timeout=10) as c:
        yield c


@pytest.fixture(scope="session")
def anonymous(sandbox: Sandbox) -> Iterator[Any]:
    """An httpx client without a token."""
    import httpx

    with httpx.Client(base_url=sandbox.admin_url, timeout=10) as c:
        yield c


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return wait_for


@pytest.fixture(scope="session")
def conforms() -> Callable[[str, str, Any], None]:
    """conforms(method, template, response): the status is in the spec and the body matches its schema.

    Validates against the YAML file with an OpenAPI 3.0 validator (nullable, $refs into the document)
    independent of the sandbox's own spec module, which the server uses for requests.
    """
    from pathlib import Path

    import openapi_schema_validator
    import yaml
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    path = Path(__file__).parents[2] / "hybridops" / "specs" / "admin-api.openapi.yaml"
    document = yaml.safe_load(path.read_text())
    registry = Registry().with_resource("urn:spec", Resource.from_contents(document, default_specification=DRAFT4))

    def check(method: str, template: str, response: Any) -> None:
        escaped = template.replace("~", "~0").replace("/", "~1")
        pointer = f"/paths/{escaped}/{method.lower()}/responses/{response.status_code}"
        node = document["paths"][template][method.lower()]["responses"].get(str(response.status_code))
        assert node is not None, f"{method} {template} answered {response.status_code}, which the spec does not list"
        if "$ref" in node:
            pointer = node["$ref"][1:]
        schema = {"$ref": f"urn:spec#{pointer}/content/application~1json/schema"}
        validator = openapi_schema_validator.OAS30Validator(schema, registry=registry)
        errors = [e.message for e in validator.iter_errors(response.json())]
        assert not errors, f"{method} {template} {response.status_code}: {errors}"

    return check
