"""A log's seal MAC'd by an AWS KMS HMAC key (GenerateMac / VerifyMac, HMAC_SHA_256).

The key material never leaves KMS, so no operator's laptop holds it, and every GenerateMac is in
CloudTrail: a forged seal needs a call that leaves a trace. The seal (run_finished) covers the whole
chain through its `prev`; the message MAC'd is the SHA-256 of the seal's line as it is without its
KMS fields, `sum` and `mac`.

boto3 is imported on first use; nothing here imports typer or rich.
"""

from __future__ import annotations

import base64
from typing import Any

from hybridops.errors import AuditError

ALGORITHM = "HMAC_SHA_256"


def _region_of(key_id: str, default: str) -> str:
    parts = key_id.split(":")  # arn:aws:kms:REGION:ACCOUNT:key/ID
    return parts[3] if key_id.startswith("arn:") and len(parts) > 4 and parts[3] else default


class KmsSealer:
    """MACs seals with KMS key `key_id` (an id, ARN or alias) and checks them."""

    def __init__(self, key_id: str, *, region: str, aws_profile: str | None = None, client: Any = None) -> None:
        self.key_id = key_id
        self._region = _region_of(key_id, region)
        self._profile = aws_profile
        self._client = client

    def _kms(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # A seal is written at the end of a run: a few quick tries, never a hang.
            config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=10)
            self._client = boto3.session.Session(profile_name=self._profile).client(
                "kms", region_name=self._region, config=config)
        return self._client

    def mac(self, message: bytes) -> str:
        """The base64 MAC of `message`; AuditError (one line) if KMS refuses or cannot be reached."""
        try:
            out = self._kms().generate_mac(KeyId=self.key_id, Message=message, MacAlgorithm=ALGORITHM)
        except Exception as exc:  # why: any botocore error becomes one line in the seal, never a traceback
            raise AuditError(f"KMS GenerateMac with {self.key_id}: {_text(exc)}") from None
        return base64.b64encode(out["Mac"]).decode("ascii")

    def verify(self, message: bytes, mac: str) -> bool:
        """Whether KMS says `mac` is this key's MAC of `message`; AuditError if KMS cannot answer."""
        try:
            raw = base64.b64decode(mac, validate=True)
        except ValueError:
            return False
        try:
            out = self._kms().verify_mac(KeyId=self.key_id, Message=message, Mac=raw, MacAlgorithm=ALGORITHM)
        except Exception as exc:  # why: as in mac()
            if _code(exc) == "KMSInvalidMacException":
                return False
            raise AuditError(f"KMS VerifyMac with {self.key_id}: {_text(exc)}") from None
        return bool(out.get("MacValid"))


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def _text(exc: BaseException) -> str:
    first = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    code = _code(exc)
    return f"{code}: {first}" if code and code not in first else first
