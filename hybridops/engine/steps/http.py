"""HTTP for a run: one httpx client, used for the admin API (bearer token) and for notifiers
(no token: the admin credential must never travel to Slack or PagerDuty)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from hybridops.engine.retry import DEFAULT_CALL_TIMEOUT_S, CallFailure, one_line

# The most of an answer's body that is read (after content decoding): an error page of 300 MB must
# not reach memory, the screen or the audit log. A run may lower it, never raise it.
MAX_RESPONSE_BYTES = 1_048_576


class HttpAnswer(tuple[int, Any]):
    """An answer as `(status, payload)`, plus what the engine checks it against: its content type,
    whether the body is JSON (by its content type and by parsing), and the raw Retry-After header."""

    content_type: str | None
    is_json: bool
    retry_after: str | None

    def __new__(cls, status: int, payload: Any, *, content_type: str | None = None, is_json: bool = True,
                retry_after: str | None = None) -> HttpAnswer:
        answer = super().__new__(cls, (status, payload))
        answer.content_type = content_type
        answer.is_json = is_json
        answer.retry_after = retry_after
        return answer

    @property
    def status(self) -> int:
        return self[0]

    @property
    def payload(self) -> Any:
        return self[1]


def display_url(url: str) -> str:
    """`url` without credentials (user:password@) and query, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url_allowed(url: str, *, insecure: bool) -> str | None:
    """Why `url` may not be used, or None. Plain http is only for loopback unless --insecure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"not an http(s) URL: {redact_url(url)}"
    if parts.scheme == "http" and not insecure and not is_loopback(url):
        return (f"refusing plain http:// to {parts.hostname} (the token would travel unencrypted); "
                "use https:// or pass --insecure")
    return None


def redact_url(url: str) -> str:
    """Scheme and host only: webhook URLs carry their secret in the path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/..."


def _without_userinfo(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class HttpRunner:
    def __init__(self, *, base_url: str, token: str | None, timeout: float = DEFAULT_CALL_TIMEOUT_S,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        # With a token, credentials in the URL are dropped: httpx would turn them into a Basic
        # Authorization header in place of the bearer one, and the token would never arrive.
        self.base_url = (_without_userinfo(base_url) if token else base_url).rstrip("/")
        self._token = token
        self._timeout = timeout
        self.max_response_bytes = max(0, min(max_response_bytes, MAX_RESPONSE_BYTES))
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self._timeout, follow_redirects=False,
                                        headers={"User-Agent": "hybridops"})
        return self._client

    def url(self, path: str) -> str:
        return self.base_url + path

    def admin(self, method: str, path: str, body: Any = None, *, timeout: float | None = None
              ) -> HttpAnswer:
        from hybridops.runbook.openapi_check import path_escape

        # The last line of defence (the engine checks the path against the spec first): a path that
        # could lead out of the one it names never leaves with the bearer token.
        problem = path_escape(path.partition("?")[0]) or ("holds a fragment (#)" if "#" in path else None)
        if problem is not None:
            raise CallFailure(f"{method} {path!r}: refused before sending: the path {problem}")
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        return self.send(method, self.url(path), body, headers=headers, timeout=timeout,
                         what=f"{method} {path}")

    def send(self, method: str, url: str, body: Any = None, *, headers: dict[str, str] | None = None,
             timeout: float | None = None, what: str | None = None) -> HttpAnswer:
        """Send one request; return (status, decoded JSON or text) with its content type. Raise
        CallFailure on transport errors and on a body larger than `max_response_bytes`."""
        import httpx

        what = what or f"{method} {redact_url(url)}"
        try:
            client = self._get_client()
            request = client.build_request(method, url, json=body if body is not None else None,
                                           headers=headers or {}, timeout=timeout or self._timeout)
            response = client.send(request, stream=True)
            try:
                data = self._read_capped(response, what)
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # never sent
            raise CallFailure(f"{what}: cannot connect ({one_line(exc)})", retryable=True) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            raise CallFailure(f"{what}: timed out ({type(exc).__name__}); the request may have been applied",
                              retryable=True, unknown_outcome=True) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise CallFailure(f"{what}: connection broken ({one_line(exc)}); the request may have been applied",
                              retryable=True, unknown_outcome=True) from None
        except httpx.HTTPError as exc:
            raise CallFailure(f"{what}: {type(exc).__name__}: {one_line(exc)}") from None
        content_type = response.headers.get("content-type")
        media = (content_type or "").split(";")[0].strip().lower()
        text = data.decode(response.encoding or "utf-8", errors="replace")
        try:
            payload: Any = json.loads(text)
            parsed = True
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
            payload, parsed = text[:2000], False
        # JSON is what says so (or says nothing) and parses: a login page answering 200 is not.
        is_json = parsed and (not media or media == "application/json" or media.endswith("+json"))
        return HttpAnswer(response.status_code, payload, content_type=content_type, is_json=is_json,
                          retry_after=response.headers.get("retry-after"))

    def _read_capped(self, response: Any, what: str) -> bytes:
        """The body, read as it streams in, at most `max_response_bytes` of it: a larger one is a
        failure as soon as it is known to be larger, never read to its end."""
        cap = self.max_response_bytes
        declared = response.headers.get("content-length", "")
        too_large = CallFailure(f"{what}: HTTP {response.status_code}: the answer is larger than {cap} bytes "
                                "(the most hybridops reads); not read further", status=response.status_code)
        if declared.isdigit() and int(declared) > cap:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
