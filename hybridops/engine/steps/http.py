"""HTTP for a run: one httpx client, used for the admin API (bearer token) and for notifiers
(no token: the admin credential must never travel to Slack or PagerDuty)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from hybridops.engine.retry import DEFAULT_CALL_TIMEOUT_S, CallFailure, one_line


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


class HttpRunner:
    def __init__(self, *, base_url: str, token: str | None, timeout: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
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
              ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        return self.send(method, self.url(path), body, headers=headers, timeout=timeout,
                         what=f"{method} {path}")

    def send(self, method: str, url: str, body: Any = None, *, headers: dict[str, str] | None = None,
             timeout: float | None = None, what: str | None = None) -> tuple[int, Any]:
        """Send one request; return (status, decoded JSON or text). Raise CallFailure on transport errors."""
        import httpx

        what = what or f"{method} {redact_url(url)}"
        try:
            response = self._get_client().request(
                method, url, json=body if body is not None else None, headers=headers or {},
                timeout=timeout or self._timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise CallFailure(f"{what}: cannot connect ({one_line(exc)})", retryable=True) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as exc:
            raise CallFailure(f"{what}: timed out ({type(exc).__name__}); the request may have been applied",
                              retryable=True, unknown_outcome=True) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise CallFailure(f"{what}: connection broken ({one_line(exc)}); the request may have been applied",
                              retryable=True, unknown_outcome=True) from None
        except httpx.HTTPError as exc:
            raise CallFailure(f"{what}: {type(exc).__name__}: {one_line(exc)}") from None
        try:
            payload: Any = response.json()
        except (ValueError, json.JSONDecodeError):
            payload = response.text[:2000]
        return response.status_code, payload

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
