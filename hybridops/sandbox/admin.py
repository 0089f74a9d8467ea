"""The routing admin API simulator: every path of admin-api.openapi.yaml, plus the /_sandbox control paths.

A plain http.server (HTTP/1.1 keep-alive, Nagle off): no framework to load, so start-up stays fast.
Requests are checked in the order a real deployment would: injected faults (a load balancer's 503s),
then the bearer token, then the body against the spec's schema, then the world answers.
"""

from __future__ import annotations

import hmac
import http.server
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jsonschema

from hybridops.engine.clock import CLOCK_PATH
from hybridops.sandbox import spec
from hybridops.sandbox.faults import Faults
from hybridops.sandbox.record import Recorder
from hybridops.sandbox.serving import TrackingThreadingMixIn
from hybridops.sandbox.world import COMPONENTS, CRITICAL, World

if TYPE_CHECKING:
    from hybridops.engine.clock import SimClock

@dataclass
class AdminContext:
    """What the handler threads share: the world, the call log, the token and the control hooks."""

    world: World
    recorder: Recorder
    token: str
    faults: Faults
    set_scenario: Callable[[str], None]
    state: Callable[[], dict[str, Any]]
    clock: SimClock | None = None  # a drill's simulated clock, shared with the engine


Answer = tuple[int, Any]


class AdminHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see STACK-NOTES.md: 40 ms per keep-alive request otherwise
    server: AdminServer
    server_version = "hybridops-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # never print request lines (they could carry the Authorization header in errors)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ---- plumbing ----------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        ctx = self.server.ctx
        self._allow: str | None = None  # one handler serves every request of a kept-alive connection
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path.startswith("/_sandbox/"):
            status, body = self._control(method, path, raw)
            self._send(status, body)
            return
        parsed, bad_json = _parse(raw)
        record = ctx.recorder.add({"api": "admin", "method": method, "path": path,
                                   "body": parsed if not bad_json else raw.decode("utf-8", "replace"),
                                   "status": None, "ts": ctx.world.wall_now()})
        delay, unavailable = ctx.faults.take_admin(f"{method} {path}")
        if delay:
            ctx.faults.wait(delay)
        if unavailable:
            status, body = 503, {"error": "service unavailable (injected fault)"}
        else:
            status, body = self._api(method, path, raw, parsed, bad_json)
        ctx.recorder.update(record, status=status)
        self._send(status, body, allow=self._allow)

    def _send(self, status: int, body: Any, allow: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return False
        return hmac.compare_digest(given.strip().encode(), self.server.ctx.token.encode())

    # ---- the spec's paths --------------------------------------------------------------------
    def _api(self, method: str, path: str, raw: bytes, parsed: Any, bad_json: bool) -> Answer:
        found = spec.match_path(path)
        if found is None:
            return 404, {"error": f"no such path: {path}"}
        template, path_params = found
        if spec.operation(method, template) is None:
            self._allow = ", ".join(m for m, t in spec.operations() if t == template)
            return 405, {"error": f"{method} is not allowed on {template}"}
        if spec.needs_auth(method, template) and not self._authorized():
            return 401, {"error": "missing or wrong bearer token"}
        schema = spec.request_schema(method, template)
        if schema is not None:
            if not raw.strip():
                if spec.body_required(method, template):
                    return 400, {"error": "a JSON request body is required"}
            elif bad_json:
                return 400, {"error": "the request body is not valid JSON"}
            else:
                problem = _schema_problem(schema, parsed)
                if problem:
                    return 400, {"error": problem}
        return self._answer(template, path_params, parsed)

    def _answer(self, template: str, params: dict[str, str], body: Any) -> Answer:
        world = self.server.ctx.world
        if template == "/health":
            health = world.health()
            return (503 if health["status"] == CRITICAL else 200), health
        if template == "/health/component/{component}":
            name = params["component"]
            if name not in (spec.path_parameter_enum("GET", template, "component") or COMPONENTS):
                return 404, {"error": f"no such component: {name}"}
            return 200, world.component_health(name)
        if template == "/health/metrics":
            return 200, {"data": world.metrics()}
        if template == "/admin/circuit-breaker/reset":
            world.circuit_breaker_reset()
            return 200, {"ok": True, "message": f"circuit breakers reset ({world.metrics()['circuitBreaker']})"}
        if template == "/admin/circuit-breaker/enable":
            world.circuit_breaker_enable()
            return 200, {"ok": True, "message": "circuit breakers armed"}
        if template == "/admin/routing/force-mcp":
            world.force_mcp(body["reason"], body["duration"])
            return 200, {"ok": True, "message": f"every operation goes through the MCP router for "
                                                f"{body['duration']}s"}
        if template == "/admin/routing/bedrock-percentage":
            world.set_bedrock_percentage(body["percentage"])
            return 200, {"ok": True, "message": f"{body['percentage']}% of eligible traffic goes to Bedrock"}
        if template == "/admin/bedrock/test":
            ok, latency, error = world.bedrock_test()
            return 200, {"ok": ok, "latencyMs": latency, "error": error}
        if template == "/admin/config/update":
            world.update_config(body["timeout"])
            return 200, {"ok": True, "message": f"timeout set to {body['timeout']}ms"}
        if template == "/admin/routing/config":
            world.update_routing(body)
            return 200, {"ok": True, "message": "routing thresholds updated"}
        return 404, {"error": f"not simulated: {template}"}  # a path added to the spec but not here

    # ---- /_sandbox control paths (no token: tests and drills on this machine) ------------------
    def _control(self, method: str, path: str, raw: bytes) -> Answer:
        ctx = self.server.ctx
        body, bad_json = _parse(raw)
        if bad_json:
            return 400, {"error": "the request body is not valid JSON"}
        if (method, path) == ("GET", "/_sandbox/requests"):
            return 200, ctx.recorder.all()
        if (method, path) == ("GET", "/_sandbox/state"):
            return 200, ctx.state()
        if (method, path) == ("POST", "/_sandbox/scenario"):
            name = body.get("scenario") if isinstance(body, dict) else None
            try:
                ctx.set_scenario(str(name))
            except ValueError as exc:
                return 400, {"error": str(exc)}
            return 200, ctx.state()
        if (method, path) == ("POST", "/_sandbox/reset"):
            ctx.set_scenario(ctx.world.scenario)
            return 200, ctx.state()
        if method == "POST" and path.startswith(NOTIFY_PREFIX):
            # Stand-ins for Slack's incoming webhooks and PagerDuty's Events API v2, so drills send
            # their notifications for real (and tests can see what was sent).
            via = path[len(NOTIFY_PREFIX):].split("/", 1)[0]
            if via not in ("slack", "pagerduty"):
                return 404, {"error": f"no such notifier: {via}"}
            ctx.recorder.add({"api": "notify", "via": via, "path": path, "body": body, "status": 200,
                              "ts": ctx.world.wall_now()})
            if via == "pagerduty":
                if not isinstance(body, dict) or body.get("event_action") not in ("trigger", "acknowledge", "resolve"):
                    return 400, {"status": "invalid event", "message": "event_action is required"}
                return 202, {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
            return 200, {"ok": True}
        if (method, path) == ("POST", "/_sandbox/fault"):
            try:
                message = ctx.faults.add(body)
            except ValueError as exc:
                return 400, {"error": str(exc)}
            return 200, {"ok": True, "message": message}
        if (method, path) == ("POST", "/_sandbox/release"):
            return 200, {"ok": True, "released": ctx.faults.release()}
        if path == CLOCK_PATH and method in ("GET", "POST"):
            return self._clock(method, body)
        return 404, {"error": f"no such control path: {method} {path}"}


    def _clock(self, method: str, body: Any) -> Answer:
        """The simulated clock of a sandbox started with one: read it, or jump it forward (a run in
        another process sleeping on it)."""
        clock = self.server.ctx.clock
        if clock is None:
            return 404, {"error": "this sandbox runs on the wall clock (start it with --simulated-time)"}
        if method == "POST":
            advance = body.get("advance") if isinstance(body, dict) else None
            if not isinstance(advance, int | float) or isinstance(advance, bool) or not 0 <= advance < 10**9:
                return 400, {"error": "advance must be a number of seconds, 0 or more"}
            clock.advance(float(advance))
        return 200, {"now": clock.now(), "monotonic": clock.monotonic()}


NOTIFY_PREFIX = "/_sandbox/notify/"


def _parse(raw: bytes) -> tuple[Any, bool]:
    """(parsed JSON or None, True if there was a body that is not JSON)."""
    if not raw.strip():
        return None, False
    try:
        return json.loads(raw), False
    except ValueError:
        return None, True


def _schema_problem(schema: dict[str, Any], body: Any) -> str | None:
    """The most relevant schema violation as one line (`field: message`), or None."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft4Validator(schema).iter_errors(body))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


class AdminServer(TrackingThreadingMixIn, http.server.HTTPServer):
    """The admin API on its own port."""

    thread_name = "sandbox-admin"

    def __init__(self, host: str, port: int, ctx: AdminContext) -> None:
        self._track_init()
        self.ctx = ctx
        super().__init__((host, port), AdminHandler)
