"""Importing moto for the sandbox: isolated from the operator's AWS set-up, and at a fraction of its
usual cost.

moto makes boto3 Sessions of its own (for region lists, at import time and when a backend first needs
one). A plain Session reads the operator's AWS_PROFILE and config files, and a profile that does not
exist there makes it fail (moto's own notes say so); each one also decodes botocore's endpoint data
again (about a second here). The sessions moto makes in the sandbox read no AWS set-up and share the
process's one botocore loader. moto also gives every new account thousands of default AMIs (0.3 s per
account); the sandbox uses none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _isolated_session_class() -> type:
    import boto3.session

    from hybridops.runbook.botocore_check import isolated_botocore_session

    class SandboxSession(boto3.session.Session):
        """A boto3 Session that reads no AWS profile, config or credentials file."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if not args and "botocore_session" not in kwargs:
                kwargs["botocore_session"] = isolated_botocore_session()
            super().__init__(*args, **kwargs)

    return SandboxSession


@contextmanager
def _moto_sessions_isolated() -> Iterator[None]:
    """While moto's modules import, `from boto3 import Session` binds the isolated class for good."""
    import boto3
    import boto3.session

    original = boto3.Session
    boto3.Session = _isolated_session_class()
    try:
        yield
    finally:
        boto3.Session = original


def import_moto() -> None:
    """Import the moto modules the sandbox uses (once; later calls cost nothing)."""
    import sys

    if "moto.ec2.models" not in sys.modules:
        with _moto_sessions_isolated():
            import moto.core.base_backend
            import moto.core.utils
            import moto.ec2.models  # noqa: F401
    from moto import settings

    settings.ec2_load_default_amis = lambda: False
