"""Importing moto for the sandbox, at a fraction of its usual cost.

moto's EC2 models build their region list at import time from three new boto3 Sessions, each decoding
botocore's endpoint data again (about 1 s here), and give every new account thousands of default AMIs
(0.3 s per account). The sandbox needs neither: its regions come from the process's one botocore
loader, which the validator and the runs share, and it uses no AMI.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any


@contextmanager
def _regions_from_the_shared_loader() -> Any:
    import boto3.session

    from hybridops.runbook.botocore_check import shared_boto3_session

    original = boto3.session.Session.get_available_regions
    shared = shared_boto3_session()

    def get_available_regions(self: Any, service_name: str, partition_name: str = "aws",
                              allow_non_regional: bool = False) -> list[str]:
        return original(shared, service_name, partition_name, allow_non_regional)

    boto3.session.Session.get_available_regions = get_available_regions  # type: ignore[method-assign]
    try:
        yield
    finally:
        boto3.session.Session.get_available_regions = original  # type: ignore[method-assign]


def import_moto() -> None:
    """Import the moto modules the sandbox uses (once; later calls cost nothing)."""
    import sys

    if "moto.ec2.models" not in sys.modules:
        with _regions_from_the_shared_loader():
            import moto.ec2.models  # noqa: F401
    from moto import settings

    settings.ec2_load_default_amis = lambda: False
