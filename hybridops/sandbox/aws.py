"""The AWS endpoint: moto's WSGI app, wrapped to record calls, drive the simulation and add operations.

Every request is (1) decoded and recorded, (2) answered under the world's lock after the world and
moto's resources are brought up to now, either by `aws_extras` or by moto in this Sandbox's account.
ECS UpdateService with forceNewDeployment starts a simulated deployment before moto sees the call, so
moto's answer already shows it in progress.
"""

from __future__ import annotations

import io
import json
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer

from hybridops.sandbox import aws_extras, regions, seed
from hybridops.sandbox.faults import Faults, protocol_error
from hybridops.sandbox.record import Recorder
from hybridops.sandbox.serving import TrackingThreadingMixIn
from hybridops.sandbox.world import World

StartResponse = Callable[..., Any]
_REST_OPERATIONS = {  # bedrock-runtime's REST paths: /model/{modelId}/<suffix>
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
    "converse": "Converse",
    "converse-stream": "ConverseStream",
}


def signed_scope(environ: dict[str, Any]) -> tuple[str, str]:
    """(region, service) of a request's SigV4 credential scope; ("", "unknown") when it is not signed."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 5:
            return scope[2], scope[3]
    return "", "unknown"


def describe_call(environ: dict[str, Any], body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(service, operation, params) of a raw AWS request, as recorded by `Sandbox.requests()`."""
    _, service = signed_scope(environ)
    path = unquote(environ.get("PATH_INFO", ""))
    ctype = environ.get("CONTENT_TYPE", "")
    params: dict[str, Any] = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    operation = target.rsplit(".", 1)[-1] if target else ""
    if "x-www-form-urlencoded" in ctype or (not ctype and b"Action=" in body[:200]):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        operation = operation or params.pop("Action", "")
        params.pop("Version", None)
    elif path.startswith("/model/") and service.startswith("bedrock"):
        service = "bedrock-runtime"  # it signs as "bedrock", like the control plane; the path tells them apart
        model, _, suffix = path[len("/model/"):].rpartition("/")
        operation = _REST_OPERATIONS.get(suffix, suffix)
        params["modelId"] = model
        params["body"] = _json_or_text(body)
    elif body:
        decoded = _json_or_text(body)
        if isinstance(decoded, dict):
            params.update(decoded)
        else:
            params["body"] = decoded
    if not operation:
        operation = f"{environ.get('REQUEST_METHOD', 'GET')} {path}"
    return service, operation, params


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class AwsApp:
    """The WSGI app of the AWS port."""

    def __init__(self, world: World, seeded: seed.Seeded, recorder: Recorder, faults: Faults) -> None:
        self.world = world
        self.seeded = seeded
        self.recorder = recorder
        self.faults = faults
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            # moto's reset would wipe every Sandbox of this process; the admin port has /_sandbox/reset
            return _respond(start_response, 404, [("Content-Type", "application/json")],
                            b'{"error": "use the admin port\'s /_sandbox/ control paths"}')
        service, operation, params = describe_call(environ, body)
        signed_region = signed_scope(environ)[0]
        missing = regions.unavailable(regions.boto3_name(service), signed_region) if signed_region else None
        self.recorder.add({"api": "aws", "service": service, "operation": operation, "params": params,
                           "ts": self.world.wall_now(), **({"no_endpoint": signed_region} if missing else {})})
        if missing:
            # what botocore says when the host name of the endpoint does not resolve (see regions.py)
            url = regions.endpoint_url(regions.boto3_name(service), signed_region, environ.get("PATH_INFO", ""))
            refused = protocol_error(environ.get("CONTENT_TYPE", ""), service, 421, "EndpointConnectionError",
                                     f'Could not connect to the endpoint URL: "{url}" ({missing})')
            return _respond(start_response, refused.status, refused.headers, refused.body)
        throttled = self.faults.take_aws(f"aws {service} {operation}", environ.get("CONTENT_TYPE", ""), service)
        if throttled is not None:
            return _respond(start_response, throttled.status, throttled.headers, throttled.body)
        try:
            with self.world.lock:
                self.world.advance()
                seed.sync(self.seeded, self.world)
                region = signed_region or seed.REGION
                answer = aws_extras.handle(service, operation, params, self.world, self.seeded.account_id,
                                           region)
                if answer is not None:
                    return _respond(start_response, answer.status, answer.headers, answer.body)
                if service == "ecs" and operation == "UpdateService" and params.get("forceNewDeployment"):
                    self._force_deployment(environ, params)
                environ["HTTP_X_MOTO_ACCOUNT_ID"] = self.seeded.account_id
                chunks: list[bytes] = []
                status_headers: list[Any] = []

                def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                    status_headers[:] = [status, headers]
                    return chunks.append

                result = self.moto(environ, capture)
                try:
                    chunks.extend(result)  # moto's answer is built now, while the lock is held
                finally:
                    close = getattr(result, "close", None)
                    if close:
                        close()
            start_response(*status_headers)
            return chunks
        except NotImplementedError as exc:  # an operation moto does not simulate: say so, no traceback
            body = {"__type": "NotImplemented", "message": f"the sandbox does not simulate {service} "
                                                           f"{operation}: {exc}"}
            return _respond(start_response, 501, [("Content-Type", "application/json")], json.dumps(body).encode())
        except Exception as exc:  # a bug in the sandbox: answer 500 with the reason, keep serving
            traceback.print_exc(file=sys.stderr)
            return _respond(start_response, 500, [("Content-Type", "application/json")],
                            json.dumps({"__type": "InternalFailure", "message": f"sandbox: {exc!r}"}).encode())

    def _force_deployment(self, environ: dict[str, Any], params: dict[str, Any]) -> None:
        """Start the simulated deployment; moto then sees the call without forceNewDeployment."""
        cluster = str(params.get("cluster", "default")).rsplit("/", 1)[-1]
        service = str(params.get("service", "")).rsplit("/", 1)[-1]
        known = seed.SERVICES.get(service)
        if known is None or known[0] != cluster:
            return  # moto answers (and rejects an unknown service) as usual
        self.world.force_new_deployment(service)
        seed.sync(self.seeded, self.world)
        rest = {k: v for k, v in params.items() if k != "forceNewDeployment"}
        body = json.dumps(rest).encode()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))


def _respond(start_response: StartResponse, status: int, headers: list[tuple[str, str]],
             body: bytes) -> list[bytes]:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 421: "Misdirected Request", 429: "Too Many Requests",
              500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}.get(status, "Error")
    start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(body)))])
    return [body]


class _Handler(MotoRequestHandler):
    # HTTP/1.1 keep-alive without Nagle's 40 ms delayed-ACK stall (see STACK-NOTES.md)
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # the recorder keeps every call; a line per request would bury the CLI's output


class _BindFailed(Exception):
    """Carries a bind error past werkzeug, which would print it and call sys.exit(1)."""

    def __init__(self, error: OSError) -> None:
        self.error = error


class AwsServer(TrackingThreadingMixIn, BaseWSGIServer):
    """moto's WSGI app behind werkzeug's server, one thread per connection."""

    multithread = True
    thread_name = "sandbox-aws"

    def __init__(self, host: str, port: int, app: AwsApp) -> None:
        self._track_init()
        try:
            super().__init__(host, port, app, handler=_Handler)
        except _BindFailed as failed:
            self.server_close()
            raise failed.error from None

    def server_bind(self) -> None:
        try:
            super().server_bind()
        except OSError as exc:
            raise _BindFailed(exc) from exc
