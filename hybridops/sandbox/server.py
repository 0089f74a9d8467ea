"""`Sandbox`: the AWS endpoint and the admin API of one simulated world, started and stopped together."""

from __future__ import annotations

import http.client
import random
import secrets
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hybridops.engine.clock import CLOCK_PATH, SIMULATED_CLOCK_ENV
from hybridops.errors import SandboxError
from hybridops.sandbox.record import Recorder
from hybridops.sandbox.scenarios import check_scenario

if TYPE_CHECKING:
    from hybridops.engine.clock import SimClock
    from hybridops.sandbox.admin import AdminServer
    from hybridops.sandbox.aws import AwsServer
    from hybridops.sandbox.faults import Faults
    from hybridops.sandbox.seed import Seeded
    from hybridops.sandbox.world import World

REGION = "eu-central-1"
_accounts_lock = threading.Lock()
_accounts_used: set[str] = set()


def _new_account_id() -> str:
    """A 12-digit account of its own: moto keys its backends by account, so Sandboxes stay apart."""
    with _accounts_lock:
        while True:
            account = str(random.SystemRandom().randrange(10**11, 10**12))
            if account not in _accounts_used:
                _accounts_used.add(account)
                return account


class Sandbox:
    """A local world of AWS (moto) and the routing admin API, in one of SCENARIOS.

    Several Sandboxes may run in one process: each has its own moto account, ports and world.
    Time is the wall clock times `time_scale`, or, given a `clock` (a SimClock), simulated: shared
    with a drill's engine in this process, or with a run in another one through `/_sandbox/clock`.
    `seed` varies the world's random details (log lines, ids); the same seed gives the same world.
    """

    def __init__(
        self,
        scenario: str = "healthy",
        aws_port: int = 0,
        admin_port: int = 0,
        token: str | None = None,
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        clock: SimClock | None = None,
        seed: int | None = None,
    ) -> None:
        self.scenario = check_scenario(scenario)
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        if clock is not None and time_scale != 1:
            raise ValueError("a simulated clock runs at time_scale 1: it skips waits instead of scaling them")
        self.clock = clock
        self.seed = seed
        self.token = token or secrets.token_urlsafe(24)
        self.time_scale = float(time_scale)
        self.host = host
        self._ports = (aws_port, admin_port)
        self.account_id = _new_account_id()
        self.recorder = Recorder()
        self._world: World | None = None
        self._seeded: Seeded | None = None
        self._faults: Faults | None = None
        self._aws: AwsServer | None = None
        self._admin: AdminServer | None = None
        self.aws_url = ""
        self.admin_url = ""

    # ---- life cycle --------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Seed every resource, start both servers, return once both answer. 0 ports = free ports."""
        if self._world is not None:
            raise SandboxError("this sandbox is already started")
        # moto, werkzeug and jsonschema load here, never when hybridops.sandbox is imported
        from hybridops.sandbox.motoload import import_moto

        import_moto()
        from hybridops.sandbox import seed
        from hybridops.sandbox.admin import AdminContext, AdminServer
        from hybridops.sandbox.aws import AwsApp, AwsServer
        from hybridops.sandbox.faults import Faults
        from hybridops.sandbox.world import World

        try:
            if self.clock is None:
                self._world = World(self.scenario, time_scale=self.time_scale, seed=self.seed)
            else:
                self._world = World(self.scenario, clock=self.clock.monotonic, wall=self.clock.now, seed=self.seed)
            self._seeded = seed.seed_network(self.account_id)
            with self._world.lock:
                seed.seed_scenario(self._seeded, self._world)
            self._faults = Faults(self._world, self.clock)
            ctx = AdminContext(world=self._world, recorder=self.recorder, token=self.token,
                               faults=self._faults, set_scenario=self.set_scenario, state=self.status,
                               clock=self.clock)
            self._aws = AwsServer(self.host, self._ports[0],
                                  AwsApp(self._world, self._seeded, self.recorder, self._faults))
            self._admin = AdminServer(self.host, self._ports[1], ctx)
        except OSError as exc:
            self.stop()
            raise SandboxError(f"cannot start the sandbox on {self.host}: {exc}") from exc
        except BaseException:
            self.stop()
            raise
        self.aws_url = f"http://{self.host}:{self._aws.server_address[1]}"
        self.admin_url = f"http://{self.host}:{self._admin.server_address[1]}"
        self._aws.start_thread()
        self._admin.start_thread()
        try:
            _wait_answers(self.host, self._aws.server_address[1], "/moto-api/ready")
            _wait_answers(self.host, self._admin.server_address[1], "/_sandbox/state")
        except SandboxError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close both servers and every connection, join their threads, forget the account's resources."""
        if self._faults is not None:
            self._faults.stopping.set()
        for server in (self._admin, self._aws):
            if server is not None:
                server.close()
        self._admin = self._aws = None
        if self._seeded is not None:
            from hybridops.sandbox import seed

            seed.forget_account(self.account_id)
            self._seeded = None
        self._world = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- what tests and drills use -----------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """The environment that points boto3, the aws CLI and hybridops at this sandbox (and, when its
        time is simulated, hybridops at its clock)."""
        self._started()
        env = {
            "AWS_ENDPOINT_URL": self.aws_url,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_DEFAULT_REGION": REGION,
            "HYBRIDOPS_ADMIN_URL": self.admin_url,
            "HYBRIDOPS_ADMIN_TOKEN": self.token,
        }
        if self.clock is not None:
            env[SIMULATED_CLOCK_ENV] = self.clock_url
        return env

    @property
    def clock_url(self) -> str:
        return self.admin_url + CLOCK_PATH

    @property
    def faults(self) -> Faults:
        """The sandbox's injected faults (what `POST /_sandbox/fault` adds to)."""
        self._started()
        assert self._faults is not None
        return self._faults

    @property
    def notify_env(self) -> dict[str, str]:
        """Notification targets served by this sandbox (Slack webhook, PagerDuty Events API v2)."""
        self._started()
        from hybridops.sandbox.admin import PAGERDUTY_PATH, pagerduty_routing_key, slack_webhook_path

        return {
            "HYBRIDOPS_SLACK_WEBHOOK_URL": self.admin_url + slack_webhook_path(self.token),
            "HYBRIDOPS_PAGERDUTY_ROUTING_KEY": pagerduty_routing_key(self.token),
            "HYBRIDOPS_PAGERDUTY_URL": self.admin_url + PAGERDUTY_PATH,
        }

    def requests(self) -> list[dict[str, Any]]:
        """Every AWS and admin call since start or the last scenario change, oldest first."""
        return self.recorder.all()

    def status(self) -> dict[str, Any]:
        """{scenario, health, healthy, recovered, mitigated_at, metrics, ...}: see World.status."""
        return self._started().status()

    def set_scenario(self, name: str) -> None:
        """Reset the world into scenario `name`: fresh resources, clock, faults and call log."""
        check_scenario(name)
        world = self._started()
        from hybridops.sandbox import seed

        assert self._seeded is not None and self._faults is not None
        with world.lock:
            seed.reset_account(self.account_id)
            world.reset(name)
            seed.seed_scenario(self._seeded, world)
            self._faults.clear()
            self.recorder.clear()
        self.scenario = name

    @property
    def world(self) -> World:
        """The simulated system itself (for tests that need to look inside)."""
        return self._started()

    def _started(self) -> World:
        if self._world is None:
            raise SandboxError("the sandbox is not started")
        return self._world


def _wait_answers(host: str, port: int, path: str, timeout: float = 10.0) -> None:
    """Block until an HTTP GET of `path` gets any answer."""
    deadline = time.monotonic() + timeout
    while True:
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise SandboxError(f"the sandbox on {host}:{port} does not answer: {exc}") from exc
            time.sleep(0.01)
        finally:
            conn.close()
