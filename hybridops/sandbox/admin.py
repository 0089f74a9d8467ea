"""The routing admin API simulator: every path of admin-api.openapi.yaml, plus the /_sandbox control paths.

A plain http.server (HTTP/1.1 keep-alive, Nagle off): no framework to load, so start-up stays fast.
Requests are checked in the order a real deployment would: injected faults (a load balancer's 503s),
the path (404), the method (405 with Allow; OPTIONS lists them, HEAD is GET without the body), the
bearer token (401), the body's content type (415), its JSON (400: strict, no NaN or Infinity) and its
schema (400); then the world answers. Every answer is JSON, http.server's own refusals included.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jsonschema

from hybridops.engine.clock import CLOCK_PATH
from hybridops.sandbox import notify, spec
from hybridops.sandbox.faults import Faults
from hybridops.sandbox.record import Recorder
from hybridops.sandbox.serving import TrackingThreadingMixIn
from hybridops.sandbox.strictjson import strict_json
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


class Text(str):
    """An answer sent as text/plain rather than JSON (Slack's webhooks answer `ok` and their errors so)."""


class _BadRequest(Exception):
    """A request the server cannot read to its end: answered, then the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


MAX_BODY = 1 << 20  # the API's bodies are a few hundred bytes; a bigger one is refused unread
JSON_TYPES = ("application/json",)


class AdminHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see STACK-NOTES.md: 40 ms per keep-alive request otherwise
    server: AdminServer
    server_version = "hybridops-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # never print request lines (they could carry the Authorization header in errors)

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with an HTML 501; a real API server answers
        # every method itself: 405 with Allow on a path it serves, 404 elsewhere, in JSON.
        if name.startswith("do_"):
            method = name[3:]
            return lambda: self._handle(method)
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, too long a header) in JSON, like every
        other answer, instead of its HTML page."""
        self.close_connection = True
        # a request line it could not read leaves the version at HTTP/0.9, which would answer without a
        # status line or headers: no client of this API speaks 0.9
        self.request_version = "HTTP/1.1"
        data = json.dumps({"error": message or http.HTTPStatus(code).phrase}).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(data)

    # ---- plumbing ----------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        ctx = self.server.ctx
        self._allow: str | None = None  # one handler serves every request of a kept-alive connection
        head = method == "HEAD"  # answered as GET is, without the body
        if head:
            method = "GET"
        path = urlsplit(self.path).path
        try:
            raw = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True  # what is left of the body cannot be told from the next request
            self._send(exc.status, {"error": str(exc)}, head=head)
            return
        if path.startswith("/_sandbox/"):
            status, body = self._control(method, path, raw)
            self._send(status, body, allow=self._allow, head=head)
            return
        parsed, bad_json = _parse(raw)
        record = ctx.recorder.add({"api": "admin", "method": "HEAD" if head else method, "path": path,
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
        self._send(status, body, allow=self._allow, head=head)

    def _read_body(self) -> bytes:
        """The request body (Content-Length or chunked), refused past MAX_BODY."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        given = (self.headers.get("Content-Length") or "0").strip()
        if not given.isdigit():
            raise _BadRequest(400, f"invalid Content-Length: {given[:40]!r}")
        length = int(given)
        if length > MAX_BODY:
            raise _BadRequest(413, f"request body over {MAX_BODY} bytes")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(66).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BadRequest(400, "invalid chunked request body") from None
            if size == 0:
                while self.rfile.readline(8194).strip():  # trailer fields, then the empty line
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise _BadRequest(413, f"request body over {MAX_BODY} bytes")
            body += self.rfile.read(size)
            self.rfile.readline(3)  # the CRLF after each chunk

    def _send(self, status: int, body: Any, allow: str | None = None, head: bool = False) -> None:
        if isinstance(body, Text):
            data, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        if allow:
            self.send_header("Allow", allow)
        if self.close_connection:
            self.send_header("Connection", "close")
        if status == 204:  # no content: no body, no Content-Length
            self.end_headers()
            return
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return False
        return hmac.compare_digest(given.strip().encode(), self.server.ctx.token.encode())

    def _json_content_type(self) -> bool:
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        return ctype in JSON_TYPES or (ctype.startswith("application/") and ctype.endswith("+json"))

    def _not_allowed(self, method: str, path: str, methods: set[str]) -> Answer | None:
        """OPTIONS (204 and Allow) or a method the path lacks (405 and Allow); None for one it has."""
        if "GET" in methods:
            methods = methods | {"HEAD"}
        self._allow = ", ".join(sorted(methods | {"OPTIONS"}))
        if method == "OPTIONS":
            return 204, None
        if method not in methods:
            return 405, {"error": f"{method} is not allowed on {path} (allowed: {self._allow})"}
        self._allow = None
        return None

    # ---- the spec's paths --------------------------------------------------------------------
    def _api(self, method: str, path: str, raw: bytes, parsed: Any, bad_json: bool) -> Answer:
        found = spec.match_path(path)
        if found is None:
            return 404, {"error": f"no such path: {path}"}
        template, path_params = found
        refused = self._not_allowed(method, template, {m for m, t in spec.operations() if t == template})
        if refused is not None:
            return refused
        if spec.needs_auth(method, template) and not self._authorized():
            return 401, {"error": "missing or wrong bearer token"}
        if raw.strip() and not self._json_content_type():
            return 415, {"error": "the request body must be JSON (Content-Type: application/json)"}
        if bad_json:
            return 400, {"error": "the request body is not valid JSON"}
        schema = spec.request_schema(method, template)
        if schema is not None:
            if not raw.strip():
                if spec.body_required(method, template):
                    return 400, {"error": "a JSON request body is required"}
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
        if path.startswith(NOTIFY_PREFIX):
            via = path[len(NOTIFY_PREFIX):].split("/", 1)[0]
            methods = {"POST"} if via in ("slack", "pagerduty") else None
        else:
            methods = CONTROL_PATHS.get(path)
        if methods is None:
            return 404, {"error": f"no such control path: {method} {path}"}
        refused = self._not_allowed(method, path, methods)
        if refused is not None:
            return refused
        if path.startswith(NOTIFY_PREFIX):
            return self._notify(via, path, raw)
        body, bad_json = _parse(raw)
        if bad_json:
            return 400, {"error": "the request body is not valid JSON"}
        if path == "/_sandbox/requests":
            return 200, ctx.recorder.all()
        if path == "/_sandbox/state":
            return 200, ctx.state()
        if path == "/_sandbox/scenario":
            name = body.get("scenario") if isinstance(body, dict) else None
            try:
                ctx.set_scenario(str(name))
            except ValueError as exc:
                return 400, {"error": str(exc)}
            return 200, ctx.state()
        if path == "/_sandbox/reset":
            ctx.set_scenario(ctx.world.scenario)
            return 200, ctx.state()
        if path == "/_sandbox/fault":
            try:
                message = ctx.faults.add(body)
            except ValueError as exc:
                return 400, {"error": str(exc)}
            return 200, {"ok": True, "message": message}
        if path == "/_sandbox/release":
            return 200, {"ok": True, "released": ctx.faults.release()}
        return self._clock(method, body)

    def _notify(self, via: str, path: str, raw: bytes) -> Answer:
        """Slack's incoming webhooks and PagerDuty's Events API v2, as strict as the real ones (see
        sandbox/notify.py), so a drill sends its notifications for real and catches a bad payload."""
        ctx = self.server.ctx
        answer: Any
        if via == "slack":
            known = path == slack_webhook_path(ctx.token)
            status, text, message = notify.slack(raw, self.headers.get("Content-Type") or "", known)
            answer = Text(text)
        elif path == PAGERDUTY_PATH:
            status, answer, message = notify.pagerduty(raw)
        else:  # PagerDuty serves /v2/enqueue (and /v2/change/enqueue, which runbooks do not send)
            return 404, {"status": "not found", "message": f"no such path: {path}"}
        ctx.recorder.add({"api": "notify", "via": via, "path": path,
                          "body": message if message is not None else raw.decode("utf-8", "replace"),
                          "status": status, "ts": ctx.world.wall_now()})
        return status, answer

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
PAGERDUTY_PATH = NOTIFY_PREFIX + "pagerduty/v2/enqueue"
CONTROL_PATHS: dict[str, set[str]] = {
    "/_sandbox/requests": {"GET"},
    "/_sandbox/state": {"GET"},
    "/_sandbox/scenario": {"POST"},
    "/_sandbox/reset": {"POST"},
    "/_sandbox/fault": {"POST"},
    "/_sandbox/release": {"POST"},
    CLOCK_PATH: {"GET", "POST"},
}


def slack_webhook_path(token: str) -> str:
    """The path of the one Slack webhook a sandbox serves: team, bot and secret, as Slack's
    /services/T.../B.../... are (the secret is drawn from the admin token, so it is as private)."""
    secret = hashlib.sha256(b"slack:" + token.encode()).hexdigest()[:24]
    return f"{NOTIFY_PREFIX}slack/T0SANDBOX/B0SANDBOX/{secret}"


def pagerduty_routing_key(token: str) -> str:
    """A routing key of the 32 characters PagerDuty requires, drawn from the admin token."""
    return hashlib.sha256(b"pagerduty:" + token.encode()).hexdigest()[:32]


def _parse(raw: bytes) -> tuple[Any, bool]:
    """(parsed JSON or None, True if there was a body that is not JSON, NaN and Infinity included)."""
    if not raw.strip():
        return None, False
    try:
        return strict_json(raw), False
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
