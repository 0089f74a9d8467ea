"""AWS calls through boto3: one session per run, one client per (service, region).

Endpoints come from botocore itself (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, profiles), which
is how the sandbox and the tests point runs at loopback. Botocore's own retries are off: the engine
retries, so that every attempt is in the audit log.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from hybridops.engine.retry import DEFAULT_CALL_TIMEOUT_S, CallFailure, one_line

_THROTTLING = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
}
# Errors that say the request was not processed (retrying is safe even for a change), and errors
# after which it may have been (a change is sent again only once confirmed).
_UNAVAILABLE = {"ServiceUnavailable", "ServiceUnavailableException", "ModelNotReadyException"}
_TRANSIENT = {"InternalError", "InternalFailure", "InternalServerError", "InternalServerException", "RequestTimeout",
              "RequestTimeoutException"}
_CREDENTIALS = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure", "RequestExpired"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
           "SubscriptionRequiredException"}


def jsonable(value: Any) -> Any:
    """Make a botocore response JSON-safe: datetimes to ISO strings, bytes decoded, streams read."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode("ascii")
        try:
            return json.loads(text)
        except ValueError:
            return text
    if hasattr(value, "read") and callable(value.read):  # StreamingBody (InvokeModel's body)
        from hybridops.engine.steps.http import MAX_RESPONSE_BYTES

        try:
            data = value.read(MAX_RESPONSE_BYTES + 1)  # never the whole of a huge body
        finally:
            if callable(getattr(value, "close", None)):
                value.close()
        if len(data) > MAX_RESPONSE_BYTES:
            raise CallFailure(f"the answer's body is larger than {MAX_RESPONSE_BYTES} bytes (the most hybridops "
                              "reads); not read further")
        return jsonable(data)
    return value


@contextlib.contextmanager
def _profile_found() -> Iterator[None]:
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.ProfileNotFound as exc:
        raise CallFailure(f"AWS profile not found: {exc.kwargs.get('profile')} "
                          "(check --aws-profile / AWS_PROFILE and ~/.aws/config)") from None


class AwsRunner:
    """Makes AWS calls for one run."""

    def __init__(self, *, profile: str | None, region: str, timeout: float = DEFAULT_CALL_TIMEOUT_S,
                 endpoint_url: str | None = None, credentials: tuple[str, str] | None = None) -> None:
        """`endpoint_url` and `credentials` (key id, secret): a sandbox's, used instead of the standard
        chain and every AWS setting of the environment (a drill never reaches a real account)."""
        self._profile = profile
        self._region = region
        self._timeout = timeout
        self._endpoint_url = endpoint_url
        self._credentials = credentials
        self._session = None
        self._clients: dict[tuple[str, str, float], Any] = {}

    def _get_session(self) -> Any:
        if self._session is None:
            from hybridops.runbook.botocore_check import shared_boto3_session

            with _profile_found():
                self._session = shared_boto3_session(self._profile, self._region, self._credentials)
        return self._session

    def client(self, service: str, region: str | None = None, timeout: float | None = None) -> Any:
        from botocore.config import Config

        key = (service, region or self._region, timeout or self._timeout)
        if key not in self._clients:
            t = key[2]
            config = Config(
                # One attempt, whatever the call: botocore must never send a mutation again behind the
                # engine's back (a retried timeout could apply it twice); the engine retries, audited.
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=min(t, 10.0),
                read_timeout=t,
                user_agent_extra="hybridops",
            )
            with _profile_found():  # botocore reads the profile when the first client is made
                self._clients[key] = self._get_session().client(service, region_name=key[1], config=config,
                                                                endpoint_url=self._endpoint_url)
        return self._clients[key]

    def target(self, *, identify: bool = True) -> list[tuple[str, str, str]]:
        """(name, value, source) of where this runner's calls go and as whom: the endpoint botocore
        resolves (AWS_ENDPOINT_URL and profiles included), the credentials' origin and, with `identify`,
        the account from STS. Nothing here raises: an unknown is shown as what went wrong."""
        import os

        rows: list[tuple[str, str, str]] = []
        try:
            sts = self.client("sts")
            endpoint = sts.meta.endpoint_url
            if self._endpoint_url:
                source = "the sandbox"
            elif os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL"):
                source = "env AWS_ENDPOINT_URL" + ("_STS" if os.environ.get("AWS_ENDPOINT_URL_STS") else "")
            else:
                source = "botocore (per service and region; STS shown)"
            rows.append(("aws_endpoint", endpoint, source))
            with _profile_found():
                creds = self._get_session().get_credentials()
            rows.append(("aws_credentials", creds.method if creds else "(none found)", "botocore's credential chain"))
        except CallFailure as exc:
            return [*rows, ("aws_endpoint", f"(unknown: {exc})", "botocore")]
        if identify:
            try:
                ident = self.call("sts", "GetCallerIdentity", {})
                rows.append(("aws_account", str(ident.get("Account")), f"STS GetCallerIdentity: {ident.get('Arn')}"))
            except CallFailure as exc:
                rows.append(("aws_account", "(unknown)", str(exc)))
        return rows

    def call(self, service: str, operation: str, params: dict[str, Any], *, region: str | None = None,
             timeout: float | None = None) -> dict[str, Any]:
        """Call `operation` and return its JSON-safe response; raise CallFailure with one clear line."""
        import botocore.exceptions as bex
        from botocore import xform_name
        from botocore.parsers import ResponseParserError

        what = f"aws {service} {operation}"
        try:
            client = self.client(service, region, timeout)
            method = getattr(client, xform_name(operation))
            return jsonable(method(**params))
        except bex.ClientError as exc:
            raise _client_error(what, exc) from None
        except bex.NoCredentialsError:
            raise CallFailure(f"{what}: no AWS credentials found; set AWS_PROFILE (or --aws-profile / a hybridops "
                              "profile's aws_profile) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then retry") from None
        except bex.NoRegionError:
            raise CallFailure(f"{what}: no AWS region; set AWS_REGION or the step's region") from None
        except bex.ParamValidationError as exc:
            detail = " ".join(str(exc).split())
            raise CallFailure(f"{what}: invalid parameters: {detail}") from None
        except (RuntimeError, OverflowError) as exc:
            # botocore's own timestamp parser on a rendered epoch beyond any date (nothing was sent)
            raise CallFailure(f"{what}: invalid parameters: {one_line(exc)}") from None
        except (bex.ConnectTimeoutError, bex.EndpointConnectionError) as exc:
            # Never connected: nothing was sent, a retry is safe even for a mutation.
            raise CallFailure(f"{what}: cannot reach the AWS endpoint ({one_line(exc)}); check the network, "
                              "VPN or AWS_ENDPOINT_URL", retryable=True) from None
        except (bex.ReadTimeoutError, bex.ConnectionClosedError) as exc:
            raise CallFailure(f"{what}: no answer from AWS ({one_line(exc)}); the request may have been applied",
                              retryable=True, unknown_outcome=True) from None
        except bex.UnknownServiceError:
            raise CallFailure(f"{what}: unknown AWS service {service!r}") from None
        except ResponseParserError as exc:
            # An answer came that is not AWS's (a proxy's error page, a broken body): the request was
            # sent, and whether it was applied cannot be read from it.
            raise CallFailure(f"{what}: the answer is not one AWS sends ({one_line(exc, 160)}); the request "
                              "may have been applied", retryable=True, unknown_outcome=True) from None
        except bex.BotoCoreError as exc:
            raise CallFailure(f"{what}: {one_line(exc)}") from None
        except CallFailure as exc:
            raise CallFailure(f"{what}: {exc}") from None


def _client_error(what: str, exc: Any) -> CallFailure:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", "Unknown"))
    message = " ".join(str(err.get("Message", "")).split())[:300]
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    base = f"{what}: {code}" + (f": {message}" if message else "")
    if code in _THROTTLING or status == 429:
        return CallFailure(f"{base} (throttled; retried with backoff, or raise the API quota)", retryable=True,
                           status=code, refused=True)
    if code in _CREDENTIALS:
        return CallFailure(f"{base} (credentials invalid or expired; refresh them, e.g. `aws sso login`)",
                           status=code)
    if code in _DENIED:
        return CallFailure(f"{base} (the caller lacks permission for {what.split(' ', 1)[1]}; "
                           "check the role's IAM policy)", status=code)
    if code.endswith(("NotFound", "NotFoundException")) or code in {"ResourceNotFoundException",
                                                                      "ClusterNotFoundException"}:
        return CallFailure(f"{base} (check the names and the region)", status=code)
    if code in _UNAVAILABLE or status == 503:
        # refused before it was processed: as safe to send again as a throttled call
        return CallFailure(base, retryable=True, status=code, refused=True)
    if code in _TRANSIENT or (isinstance(status, int) and status >= 500):
        # an internal error or a timeout on AWS's side: the change may have been made
        return CallFailure(f"{base}; the request may have been applied", retryable=True, unknown_outcome=True,
                           status=code)
    return CallFailure(base, status=code)
