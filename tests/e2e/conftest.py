"""Fixtures of the end-to-end tests: one real Sandbox and one notification receiver for the session,
the CLI run as a real subprocess against them.

Each test puts the shared sandbox into its scenario (`scenario("mcp-down")`: fresh resources, clock,
faults and call log) and runs `hybridops` with `run_cli([...])`; every run gets an audit directory of
its own under tmp_path.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import PLANTED, CliResult, Receiver, run_cli, sandbox_env

from hybridops.engine.clock import SimClock
from hybridops.sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """On simulated time: its environment points each `hybridops incident` at its clock, so a run's
    waits and polls pass at once and no outcome depends on how fast or loaded the machine is."""
    with Sandbox(scenario="healthy", clock=SimClock(), token=PLANTED.admin_token) as sb:
        yield sb


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def scenario(sandbox: Sandbox, receiver: Receiver) -> Callable[[str], Sandbox]:
    """Put the session's sandbox into a scenario (and forget earlier notifications)."""

    def use(name: str) -> Sandbox:
        sandbox.set_scenario(name)
        receiver.clear()
        return sandbox

    return use


@pytest.fixture
def cli_env(tmp_path: Path, sandbox: Sandbox, receiver: Receiver) -> dict[str, str]:
    return sandbox_env(tmp_path, sandbox, receiver)


@pytest.fixture
def run(tmp_path: Path, cli_env: dict[str, str]) -> Callable[..., CliResult]:
    """run(args, env=None, timeout=60): `hybridops ARGS` in a subprocess, with the sandbox's environment
    (or `env`) and a fresh audit directory per call."""
    counter = itertools.count(1)

    def call(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> CliResult:
        env = dict(cli_env if env is None else env)
        env["HYBRIDOPS_AUDIT_DIR"] = str(tmp_path / f"audit-{next(counter)}")
        return run_cli(args, env, cwd=tmp_path, timeout=timeout)

    return call
